"""Where and how a model runs: the device of a config, its numeric precision, and the processes
that train it together.

`autocast_context(cfg, device)` is bf16 autocast on a GPU (or where `train.precision='bf16'`)
and nothing on a CPU; training, sampling and the benchmarks all enter it the same way. The VAE's
training has its own setting, `train.vae_precision` (`vae_autocast`): its convolutions gain from
bf16 on a CPU with AMX, where the DiT's narrow matrix products lose.

Several processes (`torchrun`, docs/design.md "Training on several processes") train one model
with `torch.distributed`: `Distributed.from_env()` joins the process group that `torchrun`
describes in the environment (gloo on a CPU, NCCL on GPUs); each process takes its share of
every global batch (`shard`), `DistributedDataParallel` averages the gradients, and rank 0
alone writes checkpoints, logs and samples and shows the progress bar. One process is the same
with `world_size = 1`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from soralite.config import PRECISIONS, Config


def autocast_context(cfg: Config, device: torch.device):
    """bf16 autocast on a GPU (or where `train.precision='bf16'`), nothing on a CPU."""
    p = cfg.train.precision
    if p not in PRECISIONS:
        raise ValueError(f"train.precision must be one of {PRECISIONS} (got {p!r})")
    use_bf16 = p == "bf16" or (p == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` multiplies bf16 in hardware: a CUDA GPU that supports it, or a CPU with
    AMX tiles (where oneDNN's bf16 convolutions run about 2.4x faster than fp32; on other CPUs
    bf16 is emulated and slower)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)    # a private probe: absent, no AMX
    return device.type == "cpu" and amx is not None and bool(amx())


def vae_precision(cfg: Config, device: torch.device) -> str:
    """The precision the VAE trains in: `train.vae_precision`, with "auto" resolved on `device`."""
    p = cfg.train.vae_precision
    if p not in PRECISIONS:
        raise ValueError(f"train.vae_precision must be one of {PRECISIONS} (got {p!r})")
    return ("bf16" if native_bf16(device) else "fp32") if p == "auto" else p


def vae_autocast(cfg: Config, device: torch.device):
    """bf16 autocast for the VAE's training step where `vae_precision` resolves to bf16."""
    return torch.autocast(device.type, dtype=torch.bfloat16,
                          enabled=vae_precision(cfg, device) == "bf16")


@dataclass
class Distributed:
    """This process's place among the processes that train together."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls, device: torch.device | None = None) -> "Distributed":
        """Join the process group `torchrun` describes (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, ...),
        once per process; a plain run is rank 0 of 1. gloo on a CPU, NCCL on GPUs."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if not dist.is_available():
            raise RuntimeError("WORLD_SIZE > 1 but this PyTorch has no torch.distributed")
        if not dist.is_initialized():
            backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
            dist.init_process_group(backend)
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes and shows progress."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def shard(self, n: int) -> slice:
        """This process's share of a global batch of `n`: `n / world_size` consecutive items."""
        if n % self.world_size:
            raise ValueError(f"a global batch of {n} does not split evenly over {self.world_size} "
                             f"processes; make train.batch_size (and vae_batch_size) a multiple of it")
        k = n // self.world_size
        return slice(self.rank * k, (self.rank + 1) * k)

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def mean(self, value: float) -> float:
        """The mean of a number over the processes (what one process of the global batch logs)."""
        if not self.active:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def wrap(self, model: torch.nn.Module, device: torch.device,
             find_unused: bool = False) -> torch.nn.Module:
        """`model` in `DistributedDataParallel` where several processes train it, else itself;
        `find_unused` where some parameters may take no part in a step."""
        if not self.active:
            return model
        ids = [device.index or 0] if device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids,
                                                         find_unused_parameters=find_unused)


def is_main_process() -> bool:
    """Whether this is rank 0 (or the only process): the one that prints and writes."""
    return int(os.environ.get("RANK", "0")) == 0


__all__ = ["PRECISIONS", "autocast_context", "native_bf16", "vae_precision", "vae_autocast",
           "Distributed", "is_main_process"]
