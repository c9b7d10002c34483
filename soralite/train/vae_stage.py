"""Training the video VAE on the toy world (notebook 03; `soralite train-vae`).

The loss is the reconstruction error, MSE (plus `l1_weight` times L1) on pixels in [-1, 1], plus
`kl_weight` times the KL divergence of the posterior from N(0, I), per latent element. A fresh
VAE's linear code is first set to the PCA of the world's patches (`VideoVAE.init_from_data`), so
training starts from the best linear autoencoder and the nonlinear part learns the rest. Clips
are rendered on the fly: step `s` sees clips `s * B .. (s + 1) * B - 1` of the world's
`vae_train` stream (`soralite.seeds`), so the data of a step depends on the step alone (with
`train.data`, a folder's clips instead, cycled: `soralite.train.folder`). The learning rate warms up over 5% of the run, then follows a cosine to zero (`soralite.train.loop`).

A run writes its checkpoint every `train.checkpoint_every` steps, where it stops and when it is
stopped (Ctrl-C, SIGTERM): the weights and `config.json` (with the measured `scaling_factor`)
that `VideoVAE.from_pretrained(out_dir)` loads, plus the optimizer state, the noise generator and
the step, so that calling `train_vae` again on the same directory continues the same run.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from soralite.checkpoint import (CheckpointError, CheckpointNotFoundError, ConfigMismatchError,
                                 CorruptCheckpointError, check_target, flatten_optimizer_state, has_checkpoint,
                                 load_pretrained, load_state_dict_strict, unflatten_optimizer_state)
from soralite.config import Config, runs_dir
from soralite.eval import psnr
from soralite.models import VideoVAE
from soralite.runs import (SHARED_TRAIN_FIELDS, VAE_DIR, VAE_TRAIN_FIELDS, RunLock, check_stage,
                           move_aside, stage_mismatch_help)
from soralite.seeds import stream_epoch, stream_seed
from soralite.runtime import Distributed, vae_autocast, vae_precision
from soralite.train.folder import clips_for
from soralite.train.loop import fit

SCALE_CLIPS = 64                 # clips encoded to measure the latent scaling factor
INIT_CLIPS = 64                  # clips whose patches set the linear code (PCA) of a fresh VAE
SCALE_BATCH = 16                 # clips per forward pass when measuring
WARMUP_FRACTION = 0.05           # share of the steps spent warming the learning rate up
ADAM_BETAS = (0.9, 0.99)
PSNR_SMOOTHING = 0.9             # the progress bar's running PSNR: an exponential average
HISTORY_EVERY = 10               # steps between entries of the loss history kept in meta.json


# ----------------------------------------------------------------------------------------------
# Loss and data


def vae_loss(recon: torch.Tensor, x: torch.Tensor, posterior, kl_weight: float, l1_weight: float = 0.0
             ) -> tuple[torch.Tensor, dict[str, float]]:
    """MSE (+ l1_weight * L1) on pixels in [-1, 1] + kl_weight * KL per latent element.

    MSE alone is what PSNR measures, and it weighs the few large errors (at the edges of shapes)
    above the many tiny ones (on the black background); in trials on the tiny world it reached a
    given PSNR in fewer steps than L1 + MSE."""
    recon = recon.float()                          # fp32 also when the forward ran in bf16
    mse = F.mse_loss(recon, x)                     # recon, x: (B, 3, T, H, W)
    l1 = F.l1_loss(recon, x)
    kl = posterior.kl().mean()
    loss = mse + l1_weight * l1 + kl_weight * kl
    return loss, {"loss": loss.item(), "l1": l1.item(), "mse": mse.item(), "kl": kl.item()}


def training_clips(cfg: Config, step: int, shard: slice | None = None) -> torch.Tensor:
    """The batch of step `step`: `(B, 3, T, H, W)` in [-1, 1], rendered from the world (only the
    clips of `shard`, for one of several processes)."""
    b = cfg.train.vae_batch_size
    lo, hi = (0, b) if shard is None else (shard.start, shard.stop)
    return clips_for(cfg, hi - lo, seed=stream_seed(cfg.seed, "vae_train"), start=step * b + lo,
                     epoch=stream_epoch("vae_train"), captions=False).videos   # the world's, or train.data's


def warmup_steps(total: int) -> int:
    return max(1, round(WARMUP_FRACTION * total))


@torch.no_grad()
def measure_scaling_factor(vae: VideoVAE, cfg: Config, n: int = SCALE_CLIPS,
                           latents: torch.Tensor | None = None) -> dict[str, float]:
    """1 / std of the latents `posterior.mode()` of `n` held-out clips (as SD measured 0.18215),
    or of `latents` when given (a quick estimate from a training batch)."""
    if latents is None:
        was_training = vae.training
        vae.eval()
        device = next(vae.parameters()).device
        x = clips_for(cfg, n, seed=stream_seed(cfg.seed, "vae_scale"), captions=False).videos   # (n, 3, T, H, W)
        latents = torch.cat([vae.encode(x[i:i + SCALE_BATCH].to(device)).mode().cpu()
                             for i in range(0, n, SCALE_BATCH)])   # (n, C, t, h, w)
        vae.train(was_training)
    z = latents.detach().float()
    std = z.std().item()
    return {"scaling_factor": 1.0 / max(std, 1e-8), "latent_mean": z.mean().item(), "latent_std": std}


# ----------------------------------------------------------------------------------------------
# Checkpoints of a run


def _train_settings(cfg: Config) -> dict[str, Any]:
    return {k: getattr(cfg.train, k) for k in ("vae_steps",) + VAE_TRAIN_FIELDS + SHARED_TRAIN_FIELDS}


def saved_config(ckpt) -> dict[str, Any]:
    """The config dict a VAE checkpoint was trained with, as far as it records it (its VAE
    config, and the world, seed and training settings in its meta)."""
    return {"seed": ckpt.meta.get("seed"), "world": ckpt.meta.get("world", {}),
            "vae": ckpt.config, "train": ckpt.meta.get("train", {})}


def save_vae_checkpoint(directory: str | Path, vae: VideoVAE, cfg: Config, step: int,
                        optimizer: torch.optim.Optimizer | None = None,
                        generator: torch.Generator | None = None,
                        meta: dict[str, Any] | None = None,
                        latents: torch.Tensor | None = None) -> Path:
    """Measure the scaling factor (on held-out clips, or on `latents` of a training batch for a
    checkpoint along the way), then write weights, config and (optionally) the training state."""
    scale = measure_scaling_factor(vae, cfg, latents=latents)
    vae.config.scaling_factor = scale["scaling_factor"]
    extra: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    info: dict[str, Any] = {"kind": "vae", "step": step, "complete": step >= cfg.train.vae_steps,
                            "seed": cfg.seed, "preset": cfg.name,
                            "precision": vae_precision(cfg, next(vae.parameters()).device),
                            "world": dataclasses.asdict(cfg.world), "train": _train_settings(cfg),
                            **scale, **(meta or {})}
    if optimizer is not None:
        tensors, info["optimizer"] = flatten_optimizer_state(optimizer.state_dict())
        extra.update(tensors)
    if generator is not None:
        extra["rng.noise"] = generator.get_state()
    return vae.save_pretrained(directory, meta=info, extra_tensors=extra)


# ----------------------------------------------------------------------------------------------
# Training


class VAEStage:
    """The VAE's part of `fit`: a batch of world clips, reconstructed through a sampled latent."""

    def __init__(self, cfg: Config, vae: VideoVAE, optimizer, noise: torch.Generator,
                 out: Path | None, history: list, elapsed: float, device: torch.device, stop: int,
                 fwd=None, dist: Distributed | None = None):
        self.cfg, self.vae, self.optimizer, self.noise, self.stop = cfg, vae, optimizer, noise, stop
        self.out, self.history, self.elapsed, self.device = out, history, elapsed, device
        self.fwd, self.dist = fwd or vae, dist or Distributed()
        self.t0, self.running_psnr, self.posterior = time.perf_counter(), None, None
        self.autocast = vae_autocast(cfg, device)             # train.vae_precision

    def loss(self, step: int):
        cfg = self.cfg
        if not self.dist.active:
            x = training_clips(cfg, step).to(self.device)                # (B, 3, T, H, W)
            with self.autocast:
                recon, self.posterior = self.vae(x, sample=True, generator=self.noise)
        else:                                      # this process's share of the global batch
            shard = self.dist.shard(cfg.train.vae_batch_size)
            x = training_clips(cfg, step, shard).to(self.device)         # (B / n, 3, T, H, W)
            latent = self.vae.latent_shape(*x.shape[2:])
            eps = torch.randn((cfg.train.vae_batch_size, *latent), generator=self.noise,
                              device=self.noise.device)[shard]           # the global draw, shared out
            with self.autocast:
                recon, self.posterior = self.fwd(x, sample=True, noise=eps)
        loss, parts = vae_loss(recon, x, self.posterior, cfg.vae.kl_weight, cfg.vae.l1_weight)
        return loss, {"parts": parts, "psnr": psnr(recon.detach().float(), x)}

    def after_step(self, step: int, info: dict) -> dict:
        p, parts = self.dist.mean(info["psnr"]), {k: self.dist.mean(v) for k, v in info["parts"].items()}
        self.running_psnr = p if self.running_psnr is None else (
            PSNR_SMOOTHING * self.running_psnr + (1 - PSNR_SMOOTHING) * p)
        if step % HISTORY_EVERY == 0 or step == self.stop:
            self.history.append({"step": step, "psnr": round(p, 3),
                                 **{n: round(v, 6) for n, v in parts.items()}})
        return {"loss": f"{parts['loss']:.4f}", "psnr": f"{self.running_psnr:.1f}dB"}

    def save(self, step: int, stopping: bool) -> None:
        if self.out is None:
            return
        meta = {"history": self.history, "seconds": self.elapsed + time.perf_counter() - self.t0}
        latents = None if stopping else self.posterior.mean.float()     # along the way: a quick scale
        save_vae_checkpoint(self.out, self.vae, self.cfg, step, self.optimizer, self.noise, meta,
                            latents=latents)


def train_vae(cfg: Config, out_dir: str | Path | None, resume: bool = True, progress: bool = True,
              max_steps: int | None = None, log=print) -> VideoVAE:
    """Train `VideoVAE(cfg.vae)` on the world of `cfg` for `cfg.train.vae_steps` steps.

    With `out_dir`, checkpoints go there every `train.checkpoint_every` steps and at the end; with
    `resume` and a checkpoint already there, the run continues from it (weights, optimizer, step,
    random state; its settings must fit `cfg`, else `ConfigMismatchError` names what differs).
    `resume=False` starts afresh and moves a checkpoint found there aside (`runs.move_aside`),
    never deleting it. `max_steps` stops this call when the run reaches that step (writing a
    checkpoint there), as an interrupted run would. The folder is locked while it trains.
    Returns the VAE in eval mode, with its measured `config.scaling_factor`.
    """
    out = Path(out_dir) if out_dir is not None else None
    device = torch.device(cfg.resolved_device())
    dist = Distributed.from_env(device)
    if out is None:
        return _train_vae(cfg, None, resume, progress, max_steps, log, dist)
    if dist.main:
        check_target(out, "vae")                   # before any work: never into a stranger's folder
    with RunLock(out, log=log) if dist.main else contextlib.nullcontext():
        if not resume and has_checkpoint(out):
            dist.barrier()
            if dist.main:
                move_aside(out, log=log)
            dist.barrier()
        return _train_vae(cfg, out, resume, progress, max_steps, log, dist)


def _train_vae(cfg: Config, out: Path | None, resume: bool, progress: bool,
               max_steps: int | None, log=print, dist: Distributed | None = None) -> VideoVAE:
    torch.set_flush_denormal(True)                 # denormals make CPU conv backward ~90x slower
    dist = dist or Distributed()
    device = torch.device(cfg.resolved_device())
    total = cfg.train.vae_steps
    stop = total if max_steps is None else min(total, max_steps)

    torch.manual_seed(stream_seed(cfg.seed, "init"))
    vae = VideoVAE(cfg.vae).to(device)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=cfg.train.vae_lr, betas=ADAM_BETAS,
                                  weight_decay=cfg.train.weight_decay)
    noise = torch.Generator(device=device).manual_seed(stream_seed(cfg.seed, "vae_noise"))  # posterior samples
    step, history, elapsed = 0, [], 0.0
    if resume and out is not None and has_checkpoint(out):
        ckpt = load_pretrained(out)
        if ckpt.meta.get("kind") != "vae" or "optimizer" not in ckpt.meta:
            raise CheckpointError(f"{out} holds VAE weights but no training state to resume from; "
                                  f"{stage_mismatch_help(out)}")
        try:
            check_stage(saved_config(ckpt), cfg, "vae", out)
        except ConfigMismatchError as e:
            raise ConfigMismatchError(f"{e}; {stage_mismatch_help(out)}") from None
        load_state_dict_strict(vae, ckpt.state_dict, out)
        vae.config.scaling_factor = ckpt.config.get("scaling_factor", 1.0)
        optimizer.load_state_dict(unflatten_optimizer_state(ckpt.extra, ckpt.meta["optimizer"]))
        noise.set_state(ckpt.extra["rng.noise"])
        torch.set_rng_state(ckpt.extra["rng.torch"])
        step, history = ckpt.meta["step"], ckpt.meta.get("history", [])
        elapsed = ckpt.meta.get("seconds", 0.0)
    else:                                          # a fresh run starts from the best linear code
        init = clips_for(cfg, INIT_CLIPS, seed=stream_seed(cfg.seed, "vae_init"),
                         epoch=stream_epoch("vae_init"), captions=False)
        vae.init_from_data(init.videos.to(device))

    stage = VAEStage(cfg, vae, optimizer, noise, out, history, elapsed, device, stop,
                     fwd=dist.wrap(vae, device), dist=dist)
    fit(stage, vae, optimizer, start=step, stop=stop, total=total, base_lr=cfg.train.vae_lr,
        warmup=warmup_steps(total), grad_clip=cfg.train.grad_clip,
        checkpoint_every=cfg.train.checkpoint_every if out is not None else 0, device=device,
        threads=cfg.train.threads, progress=progress, desc=f"vae ({cfg.name})", log=log, dist=dist)
    if out is not None and dist.active and not dist.main:   # rank 0 measured the scaling factor
        vae.config.scaling_factor = load_pretrained(out, load_extra=False).config["scaling_factor"]
    if out is None:
        vae.config.scaling_factor = measure_scaling_factor(vae, cfg)["scaling_factor"]
    return vae.eval()


def load_or_train_vae(cfg: Config, dir: str | Path | None = None, progress: bool = True,
                      fresh: bool = False, log=print) -> VideoVAE:
    """The VAE of `cfg`: loaded from `dir` (default `runs_dir()/<preset>/vae`) when a finished
    checkpoint there fits `cfg`, resumed when an unfinished one does, trained there when there is
    none. A checkpoint of other settings is an error that names them (nothing is overwritten);
    with `fresh`, it is moved aside and a new VAE trained."""
    directory = Path(dir) if dir is not None else Path(runs_dir()) / cfg.name / VAE_DIR
    try:
        ckpt = load_pretrained(directory, load_extra=False)
    except CheckpointNotFoundError:
        return train_vae(cfg, directory, resume=False, progress=progress, log=log)
    except CorruptCheckpointError:
        if not fresh:
            raise
        return train_vae(cfg, directory, resume=False, progress=progress, log=log)
    if "world" not in ckpt.meta:
        problem = (f"the VAE at {directory} has no training record (it was saved with its weights "
                   f"only, e.g. by Pipeline.save_pretrained): it can be sampled with, not trained on")
        if not fresh:
            raise CheckpointError(f"{problem}; {stage_mismatch_help(directory)}")
        return train_vae(cfg, directory, resume=False, progress=progress, log=log)
    try:
        check_stage(saved_config(ckpt), cfg, "vae", directory)
    except ConfigMismatchError as e:
        if not fresh:
            raise ConfigMismatchError(f"{e}; {stage_mismatch_help(directory)}") from None
        return train_vae(cfg, directory, resume=False, progress=progress, log=log)
    if ckpt.meta.get("step", 0) >= cfg.train.vae_steps:
        return VideoVAE.from_pretrained(directory, device=cfg.resolved_device())
    return train_vae(cfg, directory, resume=not fresh, progress=progress, log=log)


__all__ = ["vae_loss", "training_clips", "measure_scaling_factor", "save_vae_checkpoint",
           "train_vae", "load_or_train_vae", "VAEStage"]
