"""The denoising objective: the loss of one batch, and its report per noise level (notebook 06).

Each sample draws a noise level `t` from the scheduler (rectified flow: logit-normal, shifted for
the number of tokens, Esser et al. 2024; DDPM: uniform integers) and the noise, and the model
regresses the scheduler's `training_target` (the velocity `noise - x0` for flow; epsilon, v or x0
for DDPM) with a mean squared error. The loss is also reported per bucket of `t` (minRF does
this: it shows which noise levels the model finds hard).
"""
from __future__ import annotations

import torch

from soralite.diffusion.schedulers import model_time
from soralite.diffusion.schedules import randn_like


def diffusion_loss(model, scheduler, x0: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
                   generator: torch.Generator, autocast=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The denoising loss of one batch: mean over the batch, per-sample losses `(B,)` and `t (B,)`.

    `model(x_t, t, ids, mask)` is a `Denoiser`; `x0 (B, C, t, h, w)` are clean latents; noise and
    noise levels come from `generator`."""
    B = x0.shape[0]
    t = scheduler.sample_timesteps(B, generator=generator).to(x0.device)    # (B,)
    noise = randn_like(x0, generator)                                       # (B, C, t, h, w)
    x_t = scheduler.add_noise(x0, noise, t).to(x0.dtype)                    # (B, C, t, h, w)
    target = scheduler.training_target(x0, noise, t).to(x0.dtype)           # (B, C, t, h, w)
    with autocast if autocast is not None else torch.autocast(x0.device.type, enabled=False):
        pred = model(x_t, model_time(scheduler, t).to(x0.device), ids, mask)   # (B, C, t, h, w)
    per_sample = (pred.float() - target).pow(2).mean(dim=(1, 2, 3, 4))     # (B,)
    return per_sample.mean(), per_sample.detach(), t.detach()


def bucket_index(level: torch.Tensor, buckets: int) -> torch.Tensor:
    """Noise levels in [0, 1] `(B,)` -> bucket indices `(B,)` in `0 .. buckets - 1`."""
    return (level * buckets).long().clamp(0, buckets - 1)


def bucket_names(buckets: int) -> list[str]:
    return [f"t{k / buckets:.1f}-{(k + 1) / buckets:.1f}" for k in range(buckets)]


__all__ = ["diffusion_loss", "bucket_index", "bucket_names"]
