"""How well the VAE reconstructs: PSNR and the tracker on reconstructions (notebook 03).

`evaluate_vae(vae, world)` reconstructs held-out world clips (the `vae_eval` seed stream, which
no training stage draws from) and reports PSNR on [0, 1] pixels and the tracker's adherence on
the reconstructions beside the originals'.
"""
from __future__ import annotations

import math

import torch

from soralite.seeds import stream_seed
from soralite.video import to_uint8
from soralite.world import generate, score_clips

EVAL_BATCH = 16                  # clips per forward pass when reconstructing


def psnr(recon: torch.Tensor, x: torch.Tensor) -> float:
    """PSNR in dB on [0, 1] pixels of clips given in [-1, 1]: 10 log10(1 / MSE) over all pixels."""
    mse = ((recon.clamp(-1, 1) - x) / 2).pow(2).mean().item()   # [-1, 1] -> [0, 1] halves errors
    return float("inf") if mse == 0 else -10.0 * math.log10(mse)


@torch.no_grad()
def reconstruct(vae, videos: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """`decode(encode(x).mode())` in batches, clamped to [-1, 1]: `(N, 3, T, H, W)` on the CPU."""
    device = next(vae.parameters()).device
    out = []
    for i in range(0, len(videos), batch_size):
        x = videos[i:i + batch_size].to(device)                     # (b, 3, T, H, W)
        z = vae.encode(x).mode()                                    # (b, C, t, h, w)
        out.append(vae.decode(z, num_frames=x.shape[2]).clamp(-1, 1).cpu())
    return torch.cat(out)


def evaluate_vae(vae, world_cfg, n: int = 256, seed: int | None = None) -> dict[str, float]:
    """Reconstruct `n` held-out world clips and score them.

    `seed` defaults to the `vae_eval` stream of a seed-0 run. Returns `psnr` (dB, [0, 1] pixels,
    over all pixels of all clips), `psnr_per_clip` (the mean of each clip's PSNR), and the
    tracker's `adherence` on the reconstructions beside `adherence_original` on the clips.
    """
    seed = stream_seed(0, "vae_eval") if seed is None else seed
    was_training = vae.training
    vae.eval()
    batch = generate(world_cfg, n, seed=seed)
    x = batch.videos                                                # (n, 3, T, H, W)
    recon = reconstruct(vae, x)                                     # (n, 3, T, H, W)
    vae.train(was_training)
    per_clip = ((recon - x) / 2).pow(2).flatten(1).mean(1)          # (n,)
    decoded = to_uint8(recon)                                       # (n, T, H, W, 3)
    return {
        "psnr": psnr(recon, x),
        "psnr_per_clip": float((-10 * torch.log10(per_clip.clamp_min(1e-10))).mean()),
        "adherence": score_clips(decoded, batch.captions, batch.scenes)["adherence"],
        "adherence_original": score_clips(batch.clips, batch.captions, batch.scenes)["adherence"],
        "n": n,
        "seed": seed,
    }


__all__ = ["psnr", "reconstruct", "evaluate_vae"]
