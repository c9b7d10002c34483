"""The loss at fixed noise levels on held-out latents (notebook 06; the scaling study).

The training log's buckets of `t` mix models of different ages and noise drawn anew each step.
`loss_at_levels` is the clean measurement: the same held-out latents, the same noise, and each
fixed `t` from almost clean to almost pure noise, for any model, so that two models (or one
model's EMA and raw weights) are compared on exactly the same inputs, as Open-Sora reports its
evaluation loss.
"""
from __future__ import annotations

import numpy as np
import torch

from soralite.diffusion import model_time

DEFAULT_LEVELS = tuple(np.linspace(0.02, 0.98, 9).round(2))


@torch.no_grad()
def loss_at_levels(model, scheduler, latents: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
                   levels=DEFAULT_LEVELS, seed: int = 0) -> np.ndarray:
    """The mean squared error of `model` (a `Denoiser`) against the scheduler's training target
    on `latents (n, C, t, h, w)` with prompts `ids, mask (n, L)`, at each noise level in `levels`
    (flow time in [0, 1]; DDPM: the share of its train timesteps), with noise from `seed`, the
    same for every level and every model. Returns `(len(levels),)`."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    n = len(latents)
    eps = torch.randn(latents.shape, generator=torch.Generator().manual_seed(seed))   # (n, C, t, h, w)
    out = []
    for level in levels:
        if hasattr(scheduler, "num_train_timesteps"):                               # DDPM: integer t
            t = torch.full((n,), round(float(level) * (scheduler.num_train_timesteps - 1)))
        else:                                                                       # flow: t = level
            t = torch.full((n,), float(level))                                      # (n,)
        x_t = scheduler.add_noise(latents, eps, t)                                  # (n, C, t, h, w)
        pred = model(x_t.to(device), model_time(scheduler, t).to(device), ids.to(device), mask.to(device))
        target = scheduler.training_target(latents, eps, t)                         # (n, C, t, h, w)
        out.append((pred.float().cpu() - target).pow(2).mean().item())
    model.train(was_training)
    return np.array(out)                                                            # (levels,)


__all__ = ["loss_at_levels", "DEFAULT_LEVELS"]
