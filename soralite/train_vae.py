"""Training the video VAE on the toy world (notebook 03; `soralite train-vae`).

The loss is the reconstruction error, MSE (plus `l1_weight` times L1) on pixels in [-1, 1], plus
`kl_weight` times the KL divergence of the posterior from N(0, I), per latent element. A fresh
VAE's linear code is first set to the PCA of the world's patches (`VideoVAE.init_from_data`), so
training starts from the best linear autoencoder and the nonlinear part learns the rest. Clips
are rendered on the fly: step `s` sees clips `s * B .. (s + 1) * B - 1` of the world for `cfg.seed` (`world.generate`),
so the data of a step depends on the step alone. The learning rate warms up, then follows a
cosine to zero.

Stopped by hand (Ctrl-C), a run saves where it is. A run writes its checkpoint to `out_dir` every `train.checkpoint_every` steps and at the end:
the weights and `config.json` (with the measured `scaling_factor`) that
`VideoVAE.from_pretrained(out_dir)` loads, plus the optimizer state, the noise generator and the
step, so that calling `train_vae` again on the same directory continues the same run.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from soralite.config import Config, runs_dir
from soralite.threads import thread_tuner
from soralite.vae import NON_ARCH_FIELDS, VideoVAE

EVAL_SEED = 1_000_003            # held-out clips: a seed that training (cfg.seed) does not use
SCALE_CLIPS = 64                 # clips encoded to measure the latent scaling factor
INIT_CLIPS = 64                  # clips whose patches set the linear code (PCA) of a fresh VAE
INIT_EPOCH = 1                   # ... drawn from another epoch of the world than the training clips
SCALE_BATCH = 16                 # clips per forward pass when measuring and evaluating
WARMUP_FRACTION = 0.05           # share of the steps spent warming the learning rate up
ADAM_BETAS = (0.9, 0.99)
PSNR_SMOOTHING = 0.9             # the progress bar's running PSNR: an exponential average
HISTORY_EVERY = 10               # steps between entries of the loss history kept in meta.json
# train settings that a resumed run must share with the run it continues
RESUME_TRAIN_FIELDS = ("vae_batch_size", "vae_lr", "weight_decay", "grad_clip")


# ----------------------------------------------------------------------------------------------
# Loss and metrics


def vae_loss(recon: torch.Tensor, x: torch.Tensor, posterior, kl_weight: float, l1_weight: float = 0.0
             ) -> tuple[torch.Tensor, dict[str, float]]:
    """MSE (+ l1_weight * L1) on pixels in [-1, 1] + kl_weight * KL per latent element.

    MSE alone is what PSNR measures, and it weighs the few large errors (at the edges of shapes)
    above the many tiny ones (on the black background); in trials on the tiny world it reached a
    given PSNR in fewer steps than L1 + MSE."""
    mse = F.mse_loss(recon, x)                     # recon, x: (B, 3, T, H, W)
    l1 = F.l1_loss(recon, x)
    kl = posterior.kl().mean()
    loss = mse + l1_weight * l1 + kl_weight * kl
    return loss, {"loss": loss.item(), "l1": l1.item(), "mse": mse.item(), "kl": kl.item()}


def psnr(recon: torch.Tensor, x: torch.Tensor) -> float:
    """PSNR in dB on [0, 1] pixels of clips given in [-1, 1]: 10 log10(1 / MSE) over all pixels."""
    mse = ((recon.clamp(-1, 1) - x) / 2).pow(2).mean().item()   # [-1, 1] -> [0, 1] halves errors
    return float("inf") if mse == 0 else -10.0 * math.log10(mse)


def lr_at(step: int, total: int, base_lr: float) -> float:
    """Linear warm-up over WARMUP_FRACTION of the run, then a cosine down to zero."""
    warmup = max(1, round(WARMUP_FRACTION * total))
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def training_clips(cfg: Config, step: int) -> torch.Tensor:
    """The batch of step `step`: `(B, 3, T, H, W)` in [-1, 1], rendered from the world."""
    from soralite.world import generate

    b = cfg.train.vae_batch_size
    return generate(cfg.world, b, seed=cfg.seed, start=step * b).videos


@torch.no_grad()
def measure_scaling_factor(vae: VideoVAE, cfg: Config, n: int = SCALE_CLIPS,
                           latents: torch.Tensor | None = None) -> dict[str, float]:
    """1 / std of the latents `posterior.mode()` of `n` held-out clips (as SD measured 0.18215),
    or of `latents` when given (a quick estimate from a training batch)."""
    from soralite.world import generate

    if latents is None:
        was_training = vae.training
        vae.eval()
        device = next(vae.parameters()).device
        x = generate(cfg.world, n, seed=EVAL_SEED + 1).videos      # (n, 3, T, H, W)
        latents = torch.cat([vae.encode(x[i:i + SCALE_BATCH].to(device)).mode().cpu()
                             for i in range(0, n, SCALE_BATCH)])   # (n, C, t, h, w)
        vae.train(was_training)
    z = latents.detach().float()
    std = z.std().item()
    return {"scaling_factor": 1.0 / max(std, 1e-8), "latent_mean": z.mean().item(), "latent_std": std}


@torch.no_grad()
def reconstruct(vae: VideoVAE, videos: torch.Tensor, batch_size: int = SCALE_BATCH) -> torch.Tensor:
    """`decode(encode(x).mode())` in batches, clamped to [-1, 1]: `(N, 3, T, H, W)` on the CPU."""
    device = next(vae.parameters()).device
    out = []
    for i in range(0, len(videos), batch_size):
        x = videos[i:i + batch_size].to(device)                     # (b, 3, T, H, W)
        z = vae.encode(x).mode()                                    # (b, C, t, h, w)
        out.append(vae.decode(z, num_frames=x.shape[2]).clamp(-1, 1).cpu())
    return torch.cat(out)


def evaluate_vae(vae: VideoVAE, world_cfg, n: int = 256, seed: int = EVAL_SEED) -> dict[str, float]:
    """Reconstruct `n` held-out world clips and score them.

    Returns `psnr` (dB, [0, 1] pixels, over all pixels of all clips), `psnr_per_clip` (the mean
    of each clip's PSNR), and the tracker's `adherence` on the reconstructions beside
    `adherence_original` on the clips themselves.
    """
    from soralite.tracker import score_clips
    from soralite.video import to_uint8
    from soralite.world import generate

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
    }


# ----------------------------------------------------------------------------------------------
# Checkpoints of a run


def _train_settings(cfg: Config) -> dict[str, Any]:
    return {k: getattr(cfg.train, k) for k in ("vae_steps",) + RESUME_TRAIN_FIELDS}


def save_vae_checkpoint(directory: str | Path, vae: VideoVAE, cfg: Config, step: int,
                        optimizer: torch.optim.Optimizer | None = None,
                        generator: torch.Generator | None = None,
                        meta: dict[str, Any] | None = None,
                        latents: torch.Tensor | None = None) -> Path:
    """Measure the scaling factor (on held-out clips, or on `latents` of a training batch for a
    checkpoint along the way), then write weights, config and (optionally) the training state."""
    from soralite.checkpoint import flatten_optimizer_state

    scale = measure_scaling_factor(vae, cfg, latents=latents)
    vae.config.scaling_factor = scale["scaling_factor"]
    extra: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    info: dict[str, Any] = {"kind": "vae", "step": step, "complete": step >= cfg.train.vae_steps,
                            "seed": cfg.seed, "preset": cfg.name,
                            "world": dataclasses.asdict(cfg.world), "train": _train_settings(cfg),
                            **scale, **(meta or {})}
    if optimizer is not None:
        tensors, info["optimizer"] = flatten_optimizer_state(optimizer.state_dict())
        extra.update(tensors)
    if generator is not None:
        extra["rng.noise"] = generator.get_state()
    return vae.save_pretrained(directory, meta=info, extra_tensors=extra)


def _check_resume(meta: dict[str, Any], saved_vae: dict[str, Any], cfg: Config, directory: Path) -> None:
    """Raise `ConfigMismatchError` naming what differs between the saved run and `cfg`."""
    from soralite.checkpoint import CheckpointError, check_config

    if meta.get("kind") != "vae" or "optimizer" not in meta:
        raise CheckpointError(f"{directory} holds no VAE training state to resume from "
                              f"(resume=False starts a new run there)")
    check_config(saved_vae, dataclasses.asdict(cfg.vae), directory, prefix="vae.", ignore=NON_ARCH_FIELDS)
    check_config(meta.get("world", {}), dataclasses.asdict(cfg.world), directory, prefix="world.")
    check_config({k: meta.get("train", {}).get(k) for k in RESUME_TRAIN_FIELDS},
                 {k: getattr(cfg.train, k) for k in RESUME_TRAIN_FIELDS}, directory, prefix="train.")
    check_config({"seed": meta.get("seed")}, {"seed": cfg.seed}, directory)


# ----------------------------------------------------------------------------------------------
# Training


def train_vae(cfg: Config, out_dir: str | Path | None, resume: bool = True, progress: bool = True,
              max_steps: int | None = None) -> VideoVAE:
    """Train `VideoVAE(cfg.vae)` on the world of `cfg` for `cfg.train.vae_steps` steps.

    With `out_dir`, checkpoints go there every `train.checkpoint_every` steps and at the end; with
    `resume` and a checkpoint already there, the run continues from it (weights, optimizer, step,
    random state), else it starts afresh and overwrites it. `max_steps` stops this call when the
    run reaches that step (writing a checkpoint there), as an interrupted run would.
    Returns the VAE in eval mode, with its measured `config.scaling_factor`.
    """
    from soralite.checkpoint import has_checkpoint, load_pretrained, load_state_dict_strict
    from soralite.checkpoint import unflatten_optimizer_state

    torch.set_flush_denormal(True)                 # denormals make CPU conv backward ~90x slower
    out = Path(out_dir) if out_dir is not None else None
    device = torch.device(cfg.resolved_device())
    total = cfg.train.vae_steps
    stop = total if max_steps is None else min(total, max_steps)

    torch.manual_seed(cfg.seed)
    vae = VideoVAE(cfg.vae).to(device)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=cfg.train.vae_lr, betas=ADAM_BETAS,
                                  weight_decay=cfg.train.weight_decay)
    noise = torch.Generator(device=device).manual_seed(cfg.seed)   # the posterior's samples
    step, history, elapsed, saved_at = 0, [], 0.0, None
    if resume and out is not None and has_checkpoint(out):
        ckpt = load_pretrained(out)
        _check_resume(ckpt.meta, ckpt.config, cfg, out)
        load_state_dict_strict(vae, ckpt.state_dict, out)
        vae.config.scaling_factor = ckpt.config.get("scaling_factor", 1.0)
        optimizer.load_state_dict(unflatten_optimizer_state(ckpt.extra, ckpt.meta["optimizer"]))
        noise.set_state(ckpt.extra["rng.noise"])
        torch.set_rng_state(ckpt.extra["rng.torch"])
        step, history = ckpt.meta["step"], ckpt.meta.get("history", [])
        elapsed, saved_at = ckpt.meta.get("seconds", 0.0), step
    else:                                          # a fresh run starts from the best linear code
        from soralite.world import generate

        vae.init_from_data(generate(cfg.world, INIT_CLIPS, seed=cfg.seed, epoch=INIT_EPOCH).videos.to(device))

    tuner = thread_tuner(device, cfg.train.threads)   # CPU threads: 1 or all, whichever is faster now

    bar = None
    if progress and step < stop:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=step, desc=f"vae ({cfg.name})", unit="step", dynamic_ncols=True)
    vae.train()
    t0, running_psnr = time.perf_counter(), None

    def checkpoint(at: int, latents: torch.Tensor | None = None) -> None:
        nonlocal saved_at
        saved_at = at
        meta = {"history": history, "seconds": elapsed + time.perf_counter() - t0}
        save_vae_checkpoint(out, vae, cfg, at, optimizer, noise, meta, latents=latents)

    k = 0
    try:
        while step < stop:
            if tuner is not None:
                threads = tuner.threads_for(k)
                torch.set_num_threads(threads)
            t_step = time.perf_counter()
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total, cfg.train.vae_lr)
            x = training_clips(cfg, step).to(device)          # (B, 3, T, H, W)
            recon, posterior = vae(x, sample=True, generator=noise)
            loss, parts = vae_loss(recon, x, posterior, cfg.vae.kl_weight, cfg.vae.l1_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.train.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(vae.parameters(), cfg.train.grad_clip)
            optimizer.step()
            step, k = step + 1, k + 1
            if tuner is not None:
                tuner.record(threads, time.perf_counter() - t_step)
            p = psnr(recon.detach(), x)
            running_psnr = p if running_psnr is None else PSNR_SMOOTHING * running_psnr + (1 - PSNR_SMOOTHING) * p
            if step % HISTORY_EVERY == 0 or step == stop:
                history.append({"step": step, "psnr": round(p, 3), **{n: round(v, 6) for n, v in parts.items()}})
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{parts['loss']:.4f}", psnr=f"{running_psnr:.1f}dB")
            if out is not None and cfg.train.checkpoint_every and step % cfg.train.checkpoint_every == 0 \
                    and step < stop:
                checkpoint(step, latents=posterior.mean)
    except KeyboardInterrupt:                      # stopped by hand: keep what was done, then stop
        if out is not None and saved_at != step:
            checkpoint(step)
        raise
    finally:
        if bar is not None:
            bar.close()
        if tuner is not None:
            tuner.close()
    if out is not None and saved_at != step:
        checkpoint(step)
    elif out is None:
        vae.config.scaling_factor = measure_scaling_factor(vae, cfg)["scaling_factor"]
    return vae.eval()


def load_or_train_vae(cfg: Config, dir: str | Path | None = None, progress: bool = True) -> VideoVAE:
    """The VAE of `cfg` for notebooks: loaded from `dir` (default `runs_dir()/<preset>/vae`) when
    a finished checkpoint there fits `cfg` (same VAE architecture and world), else trained at the
    preset and saved there (an unfinished run there is resumed)."""
    from soralite.checkpoint import CheckpointError, CheckpointNotFoundError, check_config, load_pretrained

    directory = Path(dir) if dir is not None else Path(runs_dir()) / cfg.name / "vae"
    try:
        ckpt = load_pretrained(directory, load_extra=False)
        check_config(ckpt.config, dataclasses.asdict(cfg.vae), directory, prefix="vae.",
                     ignore=NON_ARCH_FIELDS)
        check_config(ckpt.meta.get("world", {}), dataclasses.asdict(cfg.world), directory, prefix="world.")
        if ckpt.meta.get("step", 0) >= cfg.train.vae_steps:
            return VideoVAE.from_pretrained(directory, device=cfg.resolved_device())
        resume = True
    except CheckpointNotFoundError:
        resume = False
    except CheckpointError as e:
        warnings.warn(f"not using the VAE checkpoint at {directory} ({e}); training a new one there")
        resume = False
    try:
        return train_vae(cfg, directory, resume=resume, progress=progress)
    except CheckpointError as e:
        warnings.warn(f"cannot resume the VAE run at {directory} ({e}); starting it again")
        return train_vae(cfg, directory, resume=False, progress=progress)


# ----------------------------------------------------------------------------------------------
# Command line: `soralite train-vae --preset P --out DIR [--set key=value ...]`


def add_train_vae_args(parser: argparse.ArgumentParser) -> None:
    """The options of `soralite train-vae` (besides --preset and --set, which the CLI adds)."""
    parser.add_argument("--out", type=Path, default=None,
                        help="checkpoint directory (default runs/<preset>/vae); resumed if it holds one")
    parser.add_argument("--fresh", action="store_true", help="start a new run even if OUT holds one")
    parser.add_argument("--eval", type=int, default=256, metavar="N",
                        help="held-out clips to score at the end (PSNR, tracker adherence); 0 skips")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_train_vae(args: argparse.Namespace) -> int:
    """Train (or resume), evaluate, print a JSON report."""
    from soralite.config import get_config

    cfg = get_config(getattr(args, "preset", None), getattr(args, "overrides", None) or [])
    out = args.out or Path(runs_dir()) / cfg.name / "vae"
    t0 = time.perf_counter()
    vae = train_vae(cfg, out, resume=not args.fresh, progress=not args.quiet)
    report: dict[str, Any] = {"out": str(out), "preset": cfg.name, "seconds": round(time.perf_counter() - t0, 1),
                              "scaling_factor": vae.config.scaling_factor,
                              "parameters": sum(p.numel() for p in vae.parameters())}
    if args.eval:
        report.update(evaluate_vae(vae, cfg.world, n=args.eval))
    print(json.dumps(report, indent=2))
    return 0


def register_cli(sub, add_config_args) -> None:
    """Add `train-vae` to the `soralite` command line."""
    p = sub.add_parser("train-vae", help="train the video VAE on the toy world",
                       description="Train the causal video VAE of a preset on world clips rendered "
                                   "on the fly, with checkpoints in OUT (resumed when OUT holds "
                                   "one), then report held-out PSNR and the tracker's adherence on "
                                   "the reconstructions as JSON.")
    add_train_vae_args(p)
    add_config_args(p)
    p.set_defaults(func=run_train_vae)
