"""Training the denoiser in latent space: rectified flow or DDPM, guidance dropout, EMA (notebook 06).

The denoiser (`soralite.dit.Denoiser`: text encoder + DiT) learns on VAE latents, never on pixels:
a fixed *pool* of world clips is rendered and encoded once (`posterior.mode() * scaling_factor`)
and cached as `latents.safetensors`, so no VAE runs inside the training loop. Each step

1. draws a batch of latents `x0` and their captions; a share `cfg_dropout` of the captions is
   replaced by the empty prompt, so that the same model also learns the unconditional prediction
   that classifier-free guidance needs (Ho & Salimans 2022);
2. draws noise levels `t` from the scheduler (rectified flow: logit-normal, shifted for the
   number of tokens, Esser et al. 2024; DDPM: uniform integers) and the noise;
3. regresses the scheduler's `training_target` (the velocity `noise - x0` for flow; epsilon, v
   or x0 for DDPM) with a mean squared error, reported per bucket of t as well (minRF does this:
   it shows which noise levels the model finds hard);
4. clips the gradient norm, steps AdamW with a warmup-then-cosine learning rate, and updates an
   exponential moving average (EMA) of the weights, which is what the pipeline samples with.

The DiT always sees the noise level as a time in [0, 1] (DDPM's integer t is divided by the
number of train timesteps), scaled by `dit.timestep_scale` inside it.

A run directory holds `config.json`, `latents.safetensors`, `log.jsonl` (one line per `log_every`
steps) and `denoiser/`: a checkpoint (through `soralite.checkpoint`, atomic, no pickles) whose
weights are the EMA model and whose extra tensors are the raw model, the optimizer state and the
random generators' states, so that a stopped run resumes as the same run.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from soralite.config import Config
from soralite.dit import Denoiser
from soralite.schedules import (DDPMScheduler, FlowMatchEulerScheduler, get_scheduler, randn_like,
                                resolution_shift)
from soralite.threads import thread_tuner

OBJECTIVES = ("flow", "ddpm")
PRECISIONS = ("auto", "fp32", "bf16")
DENOISER_DIR = "denoiser"
LATENTS_FILE = "latents.safetensors"
LOG_FILE = "log.jsonl"
CONFIG_FILE = "config.json"
POOL_SEED_OFFSET = 1_000_003       # the pool's world seed is cfg.seed + this (evaluation uses others)
ENCODE_BATCH = 64                  # clips per VAE call when encoding the pool
LATENT_SCALINGS = ("decoder_gain", "global")
GAIN_CLIPS, GAIN_SEED_OFFSET = 32, 3_000_017   # clips the decoder gains are measured on, and their seed
GAIN_STEP = 0.1                    # finite-difference step, in units of the latents' std
GAIN_FLOOR = 1e-3                  # a channel the decoder ignores still gets a finite scale
EMA_WARMUP = 10                    # EMA decay ramps as (1 + step) / (EMA_WARMUP + step) up to ema_decay
# Train settings that may change between a run and its resumption (they do not change the run)
RESUMABLE_FIELDS = ("steps", "checkpoint_every", "log_every", "num_workers", "compile", "threads",
                    "sampler", "sample_steps", "guidance_scale", "eval_clips", "eval_held_out_clips",
                    "vae_steps", "vae_batch_size", "vae_lr")


# ----------------------------------------------------------------------------------------------
# The noise process and the model's time input


def latent_shape(cfg: Config) -> tuple[int, int, int, int]:
    """`(C, t, h, w)` of a clip's latent under `cfg.vae` (the VAE's time and space compression)."""
    w, v = cfg.world, cfg.vae
    t = 1 if w.frames == 1 else w.frames // v.temporal_compression
    return (v.latent_channels, t, w.height // v.spatial_compression, w.width // v.spatial_compression)


def num_tokens(cfg: Config) -> int:
    """Spacetime patches per clip: the latent's `(t, h, w)` divided by `dit.patch_size`."""
    _, t, h, w = latent_shape(cfg)
    pt, ph, pw = cfg.dit.patch_size
    if t % pt or h % ph or w % pw:
        raise ValueError(f"dit.patch_size {tuple(cfg.dit.patch_size)} does not divide the latent "
                         f"(t, h, w) = {(t, h, w)}; pick a patch size that divides it")
    return (t // pt) * (h // ph) * (w // pw)


def make_scheduler(cfg: Config, for_sampling: bool = False):
    """The training scheduler of `cfg.train.objective`, or (`for_sampling`) its sampler.

    Flow: `FlowMatchEulerScheduler` with the shift `train.flow_shift` (0 = `resolution_shift`
    of the token count). DDPM: `DDPMScheduler` for training; DDIM for sampling unless
    `train.sampler` names another scheduler.
    """
    tc = cfg.train
    if tc.objective not in OBJECTIVES:
        raise ValueError(f"train.objective must be one of {OBJECTIVES} (got {tc.objective!r})")
    if tc.objective == "flow":
        shift = tc.flow_shift if tc.flow_shift > 0 else resolution_shift(num_tokens(cfg))
        name = "flow_euler" if not for_sampling or tc.sampler == "auto" else tc.sampler
        if not name.startswith("flow"):
            raise ValueError(f"train.sampler={tc.sampler!r} does not fit objective 'flow'; "
                             f"allowed: auto, flow_euler, flow_heun")
        return get_scheduler(name, shift=shift, time_sampling=tc.time_sampling)
    name = "ddpm" if not for_sampling else ("ddim" if tc.sampler == "auto" else tc.sampler)
    if name.startswith("flow"):
        raise ValueError(f"train.sampler={tc.sampler!r} does not fit objective 'ddpm'; "
                         f"allowed: auto, ddpm, ddim")
    return get_scheduler(name, beta_schedule=tc.beta_schedule, prediction_type=tc.prediction_type)


def model_time(scheduler, t: torch.Tensor) -> torch.Tensor:
    """The scheduler's timestep `(B,)` as the DiT's time in [0, 1] (DDPM: `t / num_train_timesteps`)."""
    t = torch.as_tensor(t).float()
    if isinstance(scheduler, DDPMScheduler):
        return t / scheduler.num_train_timesteps
    return t


def noise_level(scheduler, t: torch.Tensor) -> torch.Tensor:
    """Where `t (B,)` sits between data (0) and noise (1): flow time itself, DDPM `t / N`."""
    return model_time(scheduler, t).clamp(0, 1)


def autocast_context(cfg: Config, device: torch.device):
    """bf16 autocast on a GPU (or where `train.precision='bf16'`), nothing on a CPU."""
    p = cfg.train.precision
    if p not in PRECISIONS:
        raise ValueError(f"train.precision must be one of {PRECISIONS} (got {p!r})")
    use_bf16 = p == "bf16" or (p == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)


# ----------------------------------------------------------------------------------------------
# The latent pool


@dataclass
class LatentPool:
    """World clips encoded once: `latents (N, C, t, h, w)` (scaled by `scale (C,)`), captions and
    their token ids."""

    latents: torch.Tensor
    captions: list[str]
    ids: torch.Tensor                     # (N, L) long
    mask: torch.Tensor                    # (N, L) bool
    scale: torch.Tensor | None = None     # (C,) the latent scale the latents were multiplied by

    def __len__(self) -> int:
        return len(self.captions)


@torch.no_grad()
def decoder_gains(vae, x: torch.Tensor, step: float = GAIN_STEP) -> torch.Tensor:
    """How far one unit of each latent channel moves the decoded pixels: `(C,)` RMS pixel change
    per unit, measured by finite differences around the latents of clips `x (B, 3, T, H, W)`."""
    z = vae.encode(x).mode()                                                # (B, C, t, h, w)
    base = vae.decode(z, num_frames=x.shape[2])                             # (B, 3, T, H, W)
    delta = step * z.std()
    gains = []
    for c in range(z.shape[1]):
        dz = torch.zeros_like(z)
        dz[:, c] = delta                                                    # (B, C, t, h, w)
        moved = vae.decode(z + dz, num_frames=x.shape[2])                   # (B, 3, T, H, W)
        gains.append(((moved - base) / delta).pow(2).mean().sqrt())
    return torch.stack(gains).float().cpu()                                 # (C,)


@torch.no_grad()
def latent_scale(cfg: Config, vae, device=None) -> torch.Tensor:
    """The per-channel factors `(C,)` that take the VAE's latents to the DiT's.

    `train.latent_scaling = "global"`: every channel times `vae.config.scaling_factor` (1 / std),
    as latent diffusion does. `"decoder_gain"`: each channel also weighted by its decoder gain,
    then all scaled to unit std, so that the noise added to each channel costs the same in pixels
    and channels that move pixels a lot (where the object is) outlast the noise longer than fine
    detail does; for a VAE whose channels are whitened principal components (equal variance, very
    unequal importance) this is the difference between shapes that hold together and fragments.
    """
    from soralite.world import generate

    C = cfg.vae.latent_channels
    if cfg.train.latent_scaling not in LATENT_SCALINGS:
        raise ValueError(f"train.latent_scaling must be one of {LATENT_SCALINGS} "
                         f"(got {cfg.train.latent_scaling!r})")
    if cfg.train.latent_scaling == "global":
        return torch.full((C,), float(vae.config.scaling_factor))
    device = torch.device(device or next(vae.parameters()).device)
    x = generate(cfg.world, GAIN_CLIPS, seed=cfg.seed + GAIN_SEED_OFFSET).videos.to(device)
    gains = decoder_gains(vae, x).clamp_min(GAIN_FLOOR)                     # (C,)
    z = vae.encode(x).mode().float().cpu() * gains.view(1, -1, 1, 1, 1)     # (B, C, t, h, w)
    return gains / z.std()                                                  # (C,)


def _per_channel(scale: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return scale.to(z.device, z.dtype).view(1, -1, *([1] * (z.ndim - 2)))  # (1, C, 1, 1, 1)


def vae_fingerprint(vae) -> str:
    """A short hash of the VAE's weights and scaling factor: a cached pool belongs to one VAE."""
    h = hashlib.sha256(repr(vae.config.scaling_factor).encode())
    for k, v in sorted(vae.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def encode_clips(vae, clips, device=None, batch_size: int = ENCODE_BATCH,
                 scale: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 clips `(N, T, H, W, 3)` -> scaled latents `(N, C, t, h, w)`: the posterior's mode
    times `scale (C,)` (a pipeline's `latent_scale`; default `vae.config.scaling_factor`)."""
    from soralite.video import to_tensor

    device = torch.device(device or next(vae.parameters()).device)
    out = []
    for i in range(0, len(clips), batch_size):
        x = to_tensor(clips[i:i + batch_size]).to(device)                  # (b, 3, T, H, W)
        z = vae.encode(x).mode()                                            # (b, C, t, h, w)
        z = z * (vae.config.scaling_factor if scale is None else _per_channel(scale, z))
        out.append(z.float().cpu())
    return torch.cat(out)                                                   # (N, C, t, h, w)


def build_pool(cfg: Config, vae, tokenizer, out: Path | None = None, progress: bool = False) -> LatentPool:
    """Render `train.pool_clips` world clips, encode them with `vae`, tokenize their captions.

    With `out`, the latents are cached in `out/latents.safetensors` (with the fingerprint of the
    VAE and the world), and read back from there when they still match. Latents are kept in
    float16, the same whether fresh or read back, so that a resumed run sees the same data."""
    from safetensors.torch import load_file, save_file

    from soralite.world import generate

    n, seed = cfg.train.pool_clips, cfg.seed + POOL_SEED_OFFSET
    if n < 1:
        raise ValueError(f"train.pool_clips must be >= 1 (got {n})")
    key = json.dumps({"world": dataclasses.asdict(cfg.world), "n": n, "seed": seed,
                      "vae": vae_fingerprint(vae), "scaling": cfg.train.latent_scaling},
                     sort_keys=True)
    path = Path(out) / LATENTS_FILE if out is not None else None
    latents = captions = None
    if path is not None and path.exists():
        try:
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
            if meta.get("key") == key:
                cached = load_file(str(path))
                latents, scale = cached["latents"], cached["scale"]
                captions = json.loads(meta["captions"])
        except Exception:  # noqa: BLE001 -- a bad cache is rebuilt, never trusted
            latents = captions = None
    if latents is None:
        scale = latent_scale(cfg, vae)                                      # (C,)
        chunks, captions = [], []
        todo = range(0, n, ENCODE_BATCH)
        if progress:
            from tqdm.auto import tqdm
            todo = tqdm(todo, desc="encoding the latent pool", unit="batch", leave=False)
        for start in todo:
            batch = generate(cfg.world, min(ENCODE_BATCH, n - start), seed=seed, start=start)
            chunks.append(encode_clips(vae, batch.clips, scale=scale))      # (b, C, t, h, w)
            captions += batch.captions
        latents = torch.cat(chunks).half()                                  # (N, C, t, h, w)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            save_file({"latents": latents.contiguous(), "scale": scale.float()}, str(tmp),
                      metadata={"key": key, "captions": json.dumps(captions)})
            tmp.replace(path)
    ids, mask = tokenizer.encode(captions, cfg.dit.text_max_length)         # (N, L), (N, L)
    return LatentPool(latents.float(), captions, ids, mask, scale.float())


# ----------------------------------------------------------------------------------------------
# EMA, learning rate, guidance dropout


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


def lr_at(cfg: Config, step: int) -> float:
    """Linear warmup over `warmup_steps`, then cosine decay to `lr * lr_min_ratio` at `steps`."""
    tc = cfg.train
    if step < tc.warmup_steps:
        return tc.lr * (step + 1) / tc.warmup_steps
    progress = min(1.0, (step - tc.warmup_steps) / max(1, tc.steps - tc.warmup_steps))
    return tc.lr * (tc.lr_min_ratio + (1 - tc.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def drop_prompts(ids: torch.Tensor, mask: torch.Tensor, null_ids: torch.Tensor, null_mask: torch.Tensor,
                 p: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Replace a share `p` of the prompts `(B, L)` by the empty prompt (classifier-free guidance
    dropout); returns the new ids, mask and which rows were dropped `(B,)`."""
    drop = torch.rand(ids.shape[0], generator=generator, device=generator.device) < p   # (B,)
    drop = drop.to(ids.device)
    ids = torch.where(drop[:, None], null_ids.to(ids.device)[None], ids)                 # (B, L)
    mask = torch.where(drop[:, None], null_mask.to(mask.device)[None], mask)             # (B, L)
    return ids, mask, drop


# ----------------------------------------------------------------------------------------------
# The loss


def diffusion_loss(model: Denoiser, scheduler, x0: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
                   generator: torch.Generator, autocast=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The denoising loss of one batch: mean over the batch, per-sample losses `(B,)` and `t (B,)`.

    `x0 (B, C, t, h, w)` are clean latents; noise and noise levels come from `generator`."""
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


# ----------------------------------------------------------------------------------------------
# The training loop


@dataclass
class TrainResult:
    """What `train` returns: the raw and the EMA model, the log, and where the run stopped."""

    model: Denoiser
    ema: Denoiser
    history: list[dict] = field(default_factory=list)
    step: int = 0
    seconds: float = 0.0
    resumed_from: int = 0
    latent_scale: torch.Tensor | None = None   # (C,) VAE latents -> the DiT's (see `latent_scale`)


def check_train_config(cfg: Config) -> None:
    """Raise `ValueError` naming a train setting that is out of range."""
    tc = cfg.train
    if tc.steps < 0 or tc.batch_size < 1:
        raise ValueError(f"train.steps must be >= 0 and train.batch_size >= 1 "
                         f"(got {tc.steps}, {tc.batch_size})")
    if not 0.0 <= tc.cfg_dropout <= 1.0:
        raise ValueError(f"train.cfg_dropout must be in [0, 1] (got {tc.cfg_dropout})")
    if tc.loss_buckets < 1 or tc.warmup_steps < 0 or tc.checkpoint_every < 0 or tc.log_every < 1:
        raise ValueError("train.loss_buckets and train.log_every must be >= 1, train.warmup_steps "
                         "and train.checkpoint_every >= 0")
    make_scheduler(cfg)
    make_scheduler(cfg, for_sampling=True)
    autocast_context(cfg, torch.device("cpu"))


def _check_resume(saved: dict[str, Any], cfg: Config, directory: Path) -> None:
    from soralite.checkpoint import check_config
    from soralite.vae import NON_ARCH_FIELDS

    now = cfg.to_dict()
    for part, ignore in (("world", ()), ("vae", NON_ARCH_FIELDS), ("dit", ()),
                         ("train", RESUMABLE_FIELDS)):
        check_config(saved.get(part, {}), now[part], directory, prefix=f"{part}.", ignore=ignore)
    if saved.get("seed") != cfg.seed:
        check_config({"seed": saved.get("seed")}, {"seed": cfg.seed}, directory)


def _rng_state(g: torch.Generator) -> torch.Tensor:
    return g.get_state().clone()


def save_training_state(directory: Path, cfg: Config, model: Denoiser, ema: EMA, optimizer,
                        step: int, generators: dict[str, torch.Generator], meta: dict | None = None) -> Path:
    """Atomically write `directory`: EMA weights as the model, raw weights, optimizer and RNG as
    extra; `meta` (JSON) should carry the `latent_scale` that the pipeline needs."""
    from soralite.checkpoint import flatten_optimizer_state, save_pretrained

    opt_tensors, opt_info = flatten_optimizer_state(optimizer.state_dict())
    extra = {f"raw.{k}": v for k, v in model.state_dict().items()}
    extra.update(opt_tensors)
    extra.update({f"rng.{name}": _rng_state(g) for name, g in generators.items()})
    info = {"step": step, "optimizer": opt_info, "kind": "denoiser", **(meta or {})}
    return save_pretrained(directory, cfg.to_dict(), ema.shadow.state_dict(),
                           extra_tensors=extra, meta=info)


def _read_log(path: Path, upto: int | None = None) -> list[dict]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if upto is None or r.get("step", 0) <= upto]


def train(cfg: Config, out: str | Path | None = None, vae=None, pool: LatentPool | None = None,
          progress: bool = True, device: str | torch.device | None = None,
          until: int | None = None) -> TrainResult:
    """Train the denoiser of `cfg` on latents of `vae` for `cfg.train.steps` steps.

    With `out`, checkpoints go to `out/denoiser/` every `train.checkpoint_every` steps and at the
    end, the log to `out/log.jsonl`, and a run found there is resumed (its config must match;
    the number of steps may grow). `vae` defaults to the one `soralite.train_vae` loads or trains
    into `out/vae` (or `runs/<preset>/vae`). `until` stops this call at that step (with a
    checkpoint), as an interrupted run would stop: calling `train` again goes on from there.
    Returns a `TrainResult` whose `ema` is the model to sample with.
    """
    from soralite.checkpoint import (CheckpointError, has_checkpoint, load_pretrained,
                                     load_state_dict_strict, unflatten_optimizer_state)

    check_train_config(cfg)
    tc = cfg.train
    device = torch.device(device or cfg.resolved_device())
    if device.type == "cpu":
        torch.set_flush_denormal(True)            # denormals make CPU backward passes crawl
    out = Path(out) if out is not None else None
    torch.manual_seed(cfg.seed)                   # the model's initial weights
    model = Denoiser(cfg).to(device)
    ema = EMA(model, tc.ema_decay)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    gen_data = torch.Generator().manual_seed(cfg.seed + 1)                  # batches, dropout
    gen_noise = torch.Generator(device=device).manual_seed(cfg.seed + 2)   # t and noise
    generators = {"data": gen_data, "noise": gen_noise}
    step, resumed_from, scale = 0, 0, None

    ckpt_dir = out / DENOISER_DIR if out is not None else None
    if ckpt_dir is not None and has_checkpoint(ckpt_dir):
        ckpt = load_pretrained(ckpt_dir)
        if ckpt.meta.get("kind") != "denoiser" or "step" not in ckpt.meta:
            raise CheckpointError(f"{ckpt_dir} is not a denoiser training checkpoint")
        _check_resume(ckpt.config, cfg, ckpt_dir)
        raw = {k[len("raw."):]: v for k, v in ckpt.extra.items() if k.startswith("raw.")}
        load_state_dict_strict(model, raw or ckpt.state_dict, ckpt_dir)
        load_state_dict_strict(ema.shadow, ckpt.state_dict, ckpt_dir)
        if "optimizer" in ckpt.meta:
            optimizer.load_state_dict(unflatten_optimizer_state(ckpt.extra, ckpt.meta["optimizer"]))
        for name, g in generators.items():
            if f"rng.{name}" in ckpt.extra:
                g.set_state(ckpt.extra[f"rng.{name}"])
        step = resumed_from = int(ckpt.meta["step"])
        if "latent_scale" in ckpt.meta:
            scale = torch.tensor(ckpt.meta["latent_scale"], dtype=torch.float32)   # (C,)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(cfg.to_json())
    log_path = out / LOG_FILE if out is not None else None
    history = _read_log(log_path, upto=step) if log_path is not None else []
    if log_path is not None:                      # drop lines logged after the checkpoint
        log_path.write_text("".join(json.dumps(r) + "\n" for r in history))
    stop = tc.steps if until is None else min(until, tc.steps)
    if step >= stop:
        return TrainResult(model, ema.shadow, history, step, 0.0, resumed_from, scale)

    scheduler = make_scheduler(cfg)
    if pool is None:
        if vae is None:
            vae = load_vae_for(cfg, out, progress=progress, device=device)
        pool = build_pool(cfg, vae, model.tokenizer, out, progress=progress)
    if pool.scale is not None:
        if scale is not None and not torch.allclose(scale, pool.scale, rtol=1e-4):
            raise ValueError(f"the latent scale of the pool {pool.scale.tolist()} differs from the "
                             f"one the run at {ckpt_dir} was trained with {scale.tolist()}: was the "
                             f"VAE changed? Train into a new directory")
        scale = pool.scale
    meta = {"latent_scale": scale.tolist()} if scale is not None else {}
    latents = pool.latents.to(device)                                      # (N, C, t, h, w)
    ids_all, mask_all = pool.ids.to(device), pool.mask.to(device)          # (N, L), (N, L)
    null_ids, null_mask = model.tokenizer.encode([""], cfg.dit.text_max_length)   # (1, L), (1, L)
    fwd = torch.compile(model) if tc.compile else model
    autocast = autocast_context(cfg, device)

    buckets = tc.loss_buckets
    names = bucket_names(buckets)
    sums, counts = torch.zeros(buckets), torch.zeros(buckets)
    run_loss, run_n, t_log, t0 = 0.0, 0, time.perf_counter(), time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=tc.steps, initial=step, desc="training the denoiser", unit="step")
    tuner = thread_tuner(device, tc.threads)
    model.train()
    k = 0
    try:
        while step < stop:
            if tuner is not None:
                threads = tuner.threads_for(k)
                torch.set_num_threads(threads)
            t_step = time.perf_counter()
            lr = lr_at(cfg, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            idx = torch.randint(0, len(pool), (tc.batch_size,), generator=gen_data).to(device)
            x0 = latents[idx]                                               # (B, C, t, h, w)
            ids, mask, _ = drop_prompts(ids_all[idx], mask_all[idx], null_ids[0], null_mask[0],
                                        tc.cfg_dropout, gen_data)           # (B, L), (B, L)
            loss, per_sample, t = diffusion_loss(fwd, scheduler, x0, ids, mask, gen_noise, autocast)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = (torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
                         if tc.grad_clip > 0 else torch.tensor(0.0))
            optimizer.step()
            ema.update(model, step)
            step, k = step + 1, k + 1
            if tuner is not None:
                tuner.record(threads, time.perf_counter() - t_step)
            b = bucket_index(noise_level(scheduler, t).cpu(), buckets)      # (B,)
            sums.index_add_(0, b, per_sample.float().cpu())
            counts.index_add_(0, b, torch.ones_like(per_sample.float().cpu()))
            run_loss, run_n = run_loss + loss.item(), run_n + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr:.1e}")
            if step % tc.log_every == 0 or step == tc.steps:
                now = time.perf_counter()
                row = {"step": step, "loss": run_loss / run_n, "lr": lr,
                       "grad_norm": float(grad_norm),
                       "loss_by_t": {n: (float(s / c) if c else None)
                                     for n, s, c in zip(names, sums, counts)},
                       "clips_per_s": run_n * tc.batch_size / max(now - t_log, 1e-9),
                       "threads": torch.get_num_threads(),
                       "elapsed_s": now - t0}
                history.append(row)
                if log_path is not None:
                    with open(log_path, "a") as f:
                        f.write(json.dumps(row) + "\n")
                sums.zero_()
                counts.zero_()
                run_loss, run_n, t_log = 0.0, 0, now
            if ckpt_dir is not None and ((tc.checkpoint_every and step % tc.checkpoint_every == 0)
                                         or step == stop):
                save_training_state(ckpt_dir, cfg, model, ema, optimizer, step, generators, meta)
    finally:
        if bar is not None:
            bar.close()
        if tuner is not None:
            tuner.close()
    model.eval()
    return TrainResult(model, ema.shadow, history, step, time.perf_counter() - t0, resumed_from, scale)


def load_vae_for(cfg: Config, out: Path | None, progress: bool = True, device=None):
    """The VAE of `cfg`: loaded from `out/vae` (else `runs/<preset>/vae`) when it is there and
    fits the config, else trained there by `soralite.train_vae.load_or_train_vae`."""
    from soralite.config import runs_dir
    from soralite.train_vae import load_or_train_vae

    vae_dir = Path(out) / "vae" if out is not None else Path(runs_dir()) / cfg.name / "vae"
    vae = load_or_train_vae(cfg, vae_dir, progress=progress)
    vae = vae[0] if isinstance(vae, tuple) else vae
    return vae.to(device or cfg.resolved_device()).eval()


# ----------------------------------------------------------------------------------------------
# Command line: `soralite train`


def register_cli(sub, add_config_args) -> None:
    p = sub.add_parser("train", help="train the denoiser (text encoder + DiT) on VAE latents",
                       description="Train the denoiser of a preset on latents of the toy world: "
                                   "rectified flow by default (--set train.objective=ddpm for "
                                   "DDPM), guidance dropout, EMA, checkpoints in OUT/denoiser and "
                                   "the loss per noise level in OUT/log.jsonl. Uses the VAE in "
                                   "OUT/vae (trained there first if missing). Run it again to "
                                   "resume where it stopped.")
    p.add_argument("--out", type=Path, default=None, help="run directory (default runs/<preset>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_args(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from soralite.config import get_config, runs_dir

    cfg = get_config(args.preset, args.overrides)
    out = args.out or Path(runs_dir()) / cfg.name
    result = train(cfg, out, progress=not args.quiet)
    last = result.history[-1] if result.history else {}
    print(json.dumps({"out": str(out), "step": result.step, "resumed_from": result.resumed_from,
                      "seconds": round(result.seconds, 1), "loss": last.get("loss"),
                      "loss_by_t": last.get("loss_by_t")}, indent=2))
    return 0
