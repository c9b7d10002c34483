"""Training (notebooks 03 and 06): one fit loop that every stage shares, the VAE stage, the
denoiser stage with its latent pool and EMA, and the CPU thread choice. Inference never imports
this package; `soralite.quickstart` puts the stages together.
"""
from soralite.train.buckets import SizeMix
from soralite.train.denoiser_stage import (DenoiserStage, TrainResult, check_denoiser, check_train_config,
                                           drop_prompts, load_vae_for, save_training_state, train)
from soralite.train.ema import EMA, EMA_WARMUP
from soralite.train.loop import FitResult, StopSignals, fit, lr_at
from soralite.train.pool import LatentPool, build_pool, latent_scale, vae_fingerprint
from soralite.train.threads import ThreadTuner, thread_tuner
from soralite.train.vae_stage import (VAEStage, load_or_train_vae, measure_scaling_factor,
                                      save_vae_checkpoint, train_vae, training_clips, vae_loss)

__all__ = ["SizeMix", "check_denoiser", "DenoiserStage", "TrainResult", "check_train_config", "drop_prompts", "load_vae_for",
           "save_training_state", "train", "EMA", "EMA_WARMUP", "FitResult", "StopSignals", "fit",
           "lr_at", "LatentPool", "build_pool", "latent_scale", "vae_fingerprint", "ThreadTuner",
           "thread_tuner", "VAEStage", "load_or_train_vae", "measure_scaling_factor",
           "save_vae_checkpoint", "train_vae", "training_clips", "vae_loss"]
