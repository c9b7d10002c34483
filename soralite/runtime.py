"""Where and how a model runs: the device of a config and its numeric precision.

`autocast_context(cfg, device)` is bf16 autocast on a GPU (or where `train.precision='bf16'`)
and nothing on a CPU; training, sampling and the benchmarks all enter it the same way.
"""
from __future__ import annotations

import torch

from soralite.config import PRECISIONS, Config



def autocast_context(cfg: Config, device: torch.device):
    """bf16 autocast on a GPU (or where `train.precision='bf16'`), nothing on a CPU."""
    p = cfg.train.precision
    if p not in PRECISIONS:
        raise ValueError(f"train.precision must be one of {PRECISIONS} (got {p!r})")
    use_bf16 = p == "bf16" or (p == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)


__all__ = ["PRECISIONS", "autocast_context"]
