"""Measurements of a trained model (notebooks 03, 06 and 07): adherence on fresh prompts and
seeds, the VAE's reconstruction quality, the loss at fixed noise levels. They use the pipeline
and the tracker, never the training loops.
"""
from soralite.eval.adherence import evaluate
from soralite.eval.loss import DEFAULT_LEVELS, loss_at_levels
from soralite.eval.vae_quality import evaluate_vae, psnr, reconstruct

__all__ = ["evaluate", "DEFAULT_LEVELS", "loss_at_levels", "evaluate_vae", "psnr", "reconstruct"]
