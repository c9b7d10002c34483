"""An exponential moving average of a model's weights, what the pipeline samples with (notebook 06).

DiT (Peebles & Xie 2023) and most diffusion models sample with EMA weights: the average of the
last few hundred steps' weights is smoother than any one of them. The decay ramps up from zero,
so the early, far-off weights are soon forgotten.
"""
from __future__ import annotations

import copy

import torch

EMA_WARMUP = 10                    # EMA decay ramps as (1 + step) / (EMA_WARMUP + step) up to ema_decay


class EMA:
    """An exponential moving average of a model's weights: `shadow <- d * shadow + (1 - d) * model`.

    The decay ramps up as `min(decay, (1 + step) / (EMA_WARMUP + step))`, so early weights, which
    are far from the final ones, are soon forgotten."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"train.ema_decay must be in [0, 1) (got {decay})")
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (EMA_WARMUP + step))

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = self.decay_at(step)
        ema_p = [p for p in self.shadow.parameters()]
        new_p = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_p, new_p, 1.0 - d)                         # e += (1 - d) (p - e)
        for e, b in zip(self.shadow.buffers(), model.buffers()):
            e.copy_(b)


__all__ = ["EMA", "EMA_WARMUP"]
