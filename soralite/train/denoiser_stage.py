"""Training the denoiser in latent space: rectified flow or DDPM, guidance dropout, EMA (notebook 06).

The denoiser (`soralite.models.Denoiser`: text encoder + DiT) learns on the latent pool
(`soralite.train.pool`), never on pixels. Each step

1. draws a batch of latents `x0` and their captions; a share `cfg_dropout` of the captions is
   replaced by the empty prompt, so that the same model also learns the unconditional prediction
   that classifier-free guidance needs (Ho & Salimans 2022);
2. computes the denoising loss (`soralite.diffusion.diffusion_loss`): noise levels from the
   scheduler, the noise, the MSE against the scheduler's target; reported per bucket of t;
3. lets the fit loop (`soralite.train.loop`) clip, step AdamW with a warmup-then-cosine learning
   rate, and updates an exponential moving average (EMA) of the weights, which is what the
   pipeline samples with.

The DiT always sees the noise level as a time in [0, 1] (DDPM's integer t is divided by the
number of train timesteps), scaled by `dit.timestep_scale` inside it.

The run folder (`soralite.runs`) gets `config.json`, `latents.safetensors`, `log.jsonl` (one
line per `log_every` steps) and `denoiser/`: a checkpoint (atomic, no pickles) whose weights are
the EMA model and whose extra tensors are the raw model, the optimizer state and the random
generators' states, so that a stopped run resumes as the same run.
"""
from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from soralite.checkpoint import (ConfigMismatchError, CorruptCheckpointError, flatten_optimizer_state, has_checkpoint,
                                 load_pretrained, load_state_dict_strict, save_pretrained,
                                 unflatten_optimizer_state, weights_sha256)
from soralite.config import Config, runs_dir
from soralite.diffusion import (TASKS, bucket_index, bucket_names, diffusion_loss, draw_tasks,
                                make_scheduler, noise_level, packed_diffusion_loss, parse_tasks)
from soralite.models import Denoiser
from soralite.runs import (CONFIG_FILE, DENOISER_DIR, LOG_FILE, VAE_DIR, RunLock, check_run_folder,
                           check_stage, move_aside, read_log, stage_mismatch_help)
from soralite.runtime import Distributed, autocast_context
from soralite.seeds import stream_seed
from soralite.train.ema import EMA
from soralite.train.loop import fit
from soralite.train.threads import resolved_threads
from soralite.train.buckets import SizeMix
from soralite.train.pool import LatentPool
from soralite.train.vae_stage import load_or_train_vae


def drop_prompts(ids: torch.Tensor, mask: torch.Tensor, null_ids: torch.Tensor, null_mask: torch.Tensor,
                 p: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Replace a share `p` of the prompts `(B, L)` by the empty prompt (classifier-free guidance
    dropout); returns the new ids, mask and which rows were dropped `(B,)`."""
    drop = torch.rand(ids.shape[0], generator=generator, device=generator.device) < p   # (B,)
    drop = drop.to(ids.device)
    ids = torch.where(drop[:, None], null_ids.to(ids.device)[None], ids)                 # (B, L)
    mask = torch.where(drop[:, None], null_mask.to(mask.device)[None], mask)             # (B, L)
    return ids, mask, drop


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


def save_training_state(directory: Path, cfg: Config, model: Denoiser, ema: EMA, optimizer,
                        step: int, generators: dict[str, torch.Generator], meta: dict | None = None) -> Path:
    """Atomically write `directory`: EMA weights as the model, raw weights, optimizer and RNG as
    extra; `meta` (JSON) should carry the `latent_scale` that the pipeline needs."""
    opt_tensors, opt_info = flatten_optimizer_state(optimizer.state_dict())
    extra = {f"raw.{k}": v for k, v in model.state_dict().items()}
    extra.update(opt_tensors)
    extra.update({f"rng.{name}": g.get_state().clone() for name, g in generators.items()})
    info = {"step": step, "optimizer": opt_info, "kind": "denoiser", **(meta or {})}
    return save_pretrained(directory, cfg.to_dict(), ema.shadow.state_dict(),
                           extra_tensors=extra, meta=info, kind="denoiser")


class DenoiserStage:
    """The denoiser's part of `fit`: a batch from the pool (or, with many sizes, a bucket or a
    packed batch from their pools), guidance dropout, the diffusion loss; then the EMA, the loss
    per noise level, task and size, the log and the checkpoints."""

    def __init__(self, cfg: Config, model: Denoiser, fwd, ema: EMA, optimizer, mix: SizeMix,
                 generators: dict[str, torch.Generator], device: torch.device,
                 history: list, log_path: Path | None, ckpt_dir: Path | None, meta: dict,
                 dist: Distributed | None = None):
        self.cfg, self.model, self.fwd, self.ema, self.optimizer = cfg, model, fwd, ema, optimizer
        self.dist = dist or Distributed()
        self.generators, self.device, self.history = generators, device, history
        self.log_path, self.ckpt_dir, self.meta = log_path, ckpt_dir, meta
        self.mix = mix
        self.scheduler = make_scheduler(cfg)
        self.schedulers = {s: make_scheduler(cfg, size=s) for s in mix.sizes}
        self.autocast = autocast_context(cfg, device)
        self.pools = {s: (p.latents.to(device), p.ids.to(device), p.mask.to(device))
                      for s, p in mix.pools.items()}                       # (N, C, t, h, w), (N, L) x 2
        self.latents, self.ids, self.mask = self.pools[mix.sizes[0]]
        self.null_ids, self.null_mask = model.tokenizer.encode([""], cfg.dit.text_max_length)  # (1, L)
        self.names = bucket_names(cfg.train.loss_buckets)
        self.sums, self.counts = torch.zeros(len(self.names)), torch.zeros(len(self.names))
        self.task_weights = parse_tasks(cfg.train.tasks)
        self.conditioned = set(self.task_weights) != {"text"}
        self.task_sums, self.task_counts = torch.zeros(len(TASKS)), torch.zeros(len(TASKS))
        self.size_sums, self.size_counts = torch.zeros(len(mix.sizes)), torch.zeros(len(mix.sizes))
        self.run_loss, self.run_n = 0.0, 0
        self.t_log = self.t0 = time.perf_counter()

    def _tasks(self, batch: int, frames: int):
        if not self.conditioned or frames < 2:
            return None
        return draw_tasks(batch, frames, self.task_weights, self.generators["data"])

    def loss(self, step: int):
        tc, g = self.cfg.train, self.generators
        if not self.mix.single and tc.batching == "pack":
            return self._packed_loss()
        size, B = self.mix.sizes[0], tc.batch_size
        if not self.mix.single:                                             # a bucket: one size
            size, idx = self.mix.bucket(g["data"])
            B = len(idx)
            latents, all_ids, all_mask = self.pools[size]
        else:
            latents, all_ids, all_mask = self.latents, self.ids, self.mask
            idx = torch.randint(0, len(latents), (B,), generator=g["data"])
        idx = idx.to(self.device)
        x0 = latents[idx]                                                   # (B, C, t, h, w)
        ids, mask, _ = drop_prompts(all_ids[idx], all_mask[idx], self.null_ids[0], self.null_mask[0],
                                    tc.cfg_dropout, g["data"])              # (B, L), (B, L)
        tasks = self._tasks(B, x0.shape[2])
        shard = self.dist.shard(B) if self.dist.active else None          # this process's share
        loss, per_sample, t = diffusion_loss(self.fwd, self.schedulers[size], x0, ids, mask,
                                             g["noise"], self.autocast, tasks=tasks, shard=shard)
        if tasks is not None and shard is not None:
            tasks = tasks.select(shard)
        sizes = torch.full((len(per_sample),), self.mix.sizes.index(size), dtype=torch.long)
        return loss, {"per_sample": per_sample, "t": t, "tasks": tasks and tasks.task, "sizes": sizes}

    def _packed_loss(self):
        tc, g = self.cfg.train, self.generators
        if self.dist.active:
            raise ValueError("train.batching=pack runs in one process; under torchrun use "
                             "train.batching=bucket")
        picked, plan = self.mix.pack(g["data"])
        x0s, ids, mask, tasks, sizes = [], [], [], [], []
        for size, i in picked:
            latents, all_ids, all_mask = self.pools[size]
            x0s.append(latents[i])                                          # (C, t, h, w)
            ids.append(all_ids[i])
            mask.append(all_mask[i])
            tasks.append(self._tasks(1, latents.shape[2]))
            sizes.append(self.mix.sizes.index(size))
        ids, mask, _ = drop_prompts(torch.stack(ids), torch.stack(mask), self.null_ids[0],
                                    self.null_mask[0], tc.cfg_dropout, g["data"])   # (K, L) x 2
        loss, per_sample, t = packed_diffusion_loss(
            self.model, [self.schedulers[s] for s, _ in picked], x0s, ids, mask, plan, g["noise"],
            self.autocast, tasks=tasks)
        task = torch.tensor([0 if tb is None else int(tb.task[0]) for tb in tasks])
        return loss, {"per_sample": per_sample, "t": t, "tasks": task,
                      "sizes": torch.tensor(sizes), "padding": plan.padding_share}

    def after_step(self, step: int, info: dict) -> dict:
        tc = self.cfg.train
        self.ema.update(self.model, step - 1)
        b = bucket_index(noise_level(self.scheduler, info["t"]).cpu(), len(self.names))   # (B,)
        per_sample = info["per_sample"].float().cpu()
        self.sums.index_add_(0, b, per_sample)
        self.counts.index_add_(0, b, torch.ones_like(per_sample))
        task = info["tasks"] if info["tasks"] is not None else torch.zeros(len(per_sample), dtype=torch.long)
        self.task_sums.index_add_(0, task, per_sample)
        self.task_counts.index_add_(0, task, torch.ones_like(per_sample))
        self.size_sums.index_add_(0, info["sizes"], per_sample)
        self.size_counts.index_add_(0, info["sizes"], torch.ones_like(per_sample))
        loss = self.dist.mean(info["loss"].item())                         # the global batch's
        self.run_loss, self.run_n = self.run_loss + loss, self.run_n + 1
        if step % tc.log_every == 0 or step == tc.steps:
            now = time.perf_counter()
            row = {"step": step, "loss": self.run_loss / self.run_n, "lr": info["lr"],
                   "grad_norm": float(info["grad_norm"]),
                   "loss_by_t": {n: (float(s / c) if c else None)
                                 for n, s, c in zip(self.names, self.sums, self.counts)},
                   "loss_by_task": {n: (float(s / c) if c else None)
                                    for n, s, c in zip(TASKS, self.task_sums, self.task_counts)
                                    if n in self.task_weights},
                   "loss_by_size": {"x".join(map(str, z)): (float(s / c) if c else None)
                                    for z, s, c in zip(self.mix.sizes, self.size_sums, self.size_counts)},
                   "clips_per_s": self.run_n * tc.batch_size / max(now - self.t_log, 1e-9),
                   "threads": torch.get_num_threads(),
                   "elapsed_s": now - self.t0}
            self.history.append(row)
            if self.log_path is not None and self.dist.main:
                with open(self.log_path, "a") as f:
                    f.write(json.dumps(row) + "\n")
            for acc in (self.sums, self.counts, self.task_sums, self.task_counts, self.size_sums,
                        self.size_counts):
                acc.zero_()
            self.run_loss, self.run_n, self.t_log = 0.0, 0, now
        return {"loss": f"{loss:.4f}", "lr": f"{info['lr']:.1e}"}

    def save(self, step: int, stopping: bool) -> None:
        if self.ckpt_dir is not None:
            save_training_state(self.ckpt_dir, self.cfg, self.model, self.ema, self.optimizer, step,
                                self.generators, self.meta)


def train(cfg: Config, out: str | Path | None = None, vae=None, pool: LatentPool | None = None,
          progress: bool = True, device: str | torch.device | None = None,
          until: int | None = None, fresh: bool = False, log=print,
          mix: SizeMix | None = None) -> TrainResult:
    """Train the denoiser of `cfg` on latents of `vae` for `cfg.train.steps` steps.

    With `out` (a run folder), checkpoints go to `out/denoiser/` every `train.checkpoint_every`
    steps, where it stops and when it is stopped, the log to `out/log.jsonl`, and a run found
    there is resumed: its settings must fit `cfg` (the number of steps may grow) and it must have
    been trained on the same VAE, else `ConfigMismatchError` says what differs and nothing is
    changed; with `fresh`, the old denoiser and log are moved aside and training starts anew.
    `vae` defaults to the one `load_or_train_vae` loads or trains into `out/vae` (or
    `runs/<preset>/vae`). `until` stops this call at that step (with a checkpoint), as an
    interrupted run would stop: calling `train` again goes on from there. The denoiser folder is
    locked while it trains. `pool` (one size) or `mix` (a built `SizeMix`, `train.sizes`) are
    the latents to train on, built from `vae` where not given. Returns a `TrainResult` whose
    `ema` is the model to sample with.
    """
    check_train_config(cfg)
    out = Path(out) if out is not None else None
    device = torch.device(device or cfg.resolved_device())
    dist = Distributed.from_env(device)
    if out is None:
        return _train(cfg, None, vae, pool, mix, progress, device, until, fresh, log, dist)
    if dist.main:
        check_run_folder(out)                      # before any work: never into a stranger's folder
    with RunLock(out / DENOISER_DIR, log=log) if dist.main else contextlib.nullcontext():
        return _train(cfg, out, vae, pool, mix, progress, device, until, fresh, log, dist)


def _train(cfg: Config, out: Path | None, vae, pool: LatentPool | None, mix: SizeMix | None,
           progress: bool, device, until: int | None, fresh: bool, log,
           dist: Distributed) -> TrainResult:
    tc = cfg.train
    if device.type == "cpu":
        torch.set_flush_denormal(True)            # denormals make CPU backward passes crawl
    if pool is None and mix is None and vae is None:
        vae = load_vae_for(cfg, out, progress=progress, device=device, fresh=fresh, log=log)
    vae_id = weights_sha256(vae.state_dict()) if vae is not None else None
    torch.manual_seed(stream_seed(cfg.seed, "init"))   # the model's initial weights
    model = Denoiser(cfg).to(device)
    ema = EMA(model, tc.ema_decay)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    gen_data = torch.Generator().manual_seed(stream_seed(cfg.seed, "data"))              # batches, dropout
    gen_noise = torch.Generator(device=device).manual_seed(stream_seed(cfg.seed, "noise"))  # t and noise
    generators = {"data": gen_data, "noise": gen_noise}
    step, resumed_from, scale = 0, 0, None

    ckpt_dir = out / DENOISER_DIR if out is not None else None
    log_path = out / LOG_FILE if out is not None else None
    ckpt = None
    if ckpt_dir is not None and has_checkpoint(ckpt_dir):
        try:
            ckpt = load_pretrained(ckpt_dir)
        except CorruptCheckpointError:
            if not fresh:
                raise
            dist.barrier()                        # every process has looked before it moves
            if dist.main:
                move_aside(ckpt_dir, log=log)
                move_aside(log_path, log=log)
    if ckpt is not None:
        problem = _misfit(ckpt, cfg, ckpt_dir, vae_id, out)
        if problem and not fresh:
            raise ConfigMismatchError(f"{problem}; {stage_mismatch_help(ckpt_dir)}")
        if problem:
            dist.barrier()
            if dist.main:
                move_aside(ckpt_dir, log=log)
                move_aside(log_path, log=log)
            ckpt = None
    if ckpt is not None:
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
    history = read_log(log_path, upto=step) if log_path is not None else []
    dist.barrier()                                # every process has read before rank 0 writes
    if out is not None and dist.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(cfg.to_json())
        log_path.write_text("".join(json.dumps(r) + "\n" for r in history))   # after the checkpoint: dropped
    stop = tc.steps if until is None else min(until, tc.steps)
    if step >= stop:
        return TrainResult(model, ema.shadow, history, step, 0.0, resumed_from, scale)

    if mix is None and pool is not None:
        mix = SizeMix.of(cfg)
        if not mix.single:
            raise ValueError("train(pool=...) takes the pool of one size; with train.sizes, give "
                             "the VAE (or a built SizeMix) so that each size has its pool")
        mix.pools[mix.sizes[0]] = pool
    elif mix is None:                             # rank 0 encodes and caches; the others read it
        if dist.main:
            mix = SizeMix.of(cfg).build(cfg, vae, model.tokenizer, out, progress=progress)
        dist.barrier()
        if not dist.main:
            mix = SizeMix.of(cfg).build(cfg, vae, model.tokenizer, out, progress=False)
    pool = mix.pools[mix.sizes[0]]
    if pool.scale is not None:
        if scale is not None and not torch.allclose(scale, pool.scale, rtol=1e-4):
            raise ValueError(f"the latent scale of the pool {pool.scale.tolist()} differs from the "
                             f"one the run at {ckpt_dir} was trained with {scale.tolist()}: was the "
                             f"VAE changed? Train into a new directory")
        scale = pool.scale
    meta = {"latent_scale": scale.tolist()} if scale is not None else {}
    if vae_id is not None:
        meta["vae_sha256"] = vae_id
    meta["threads"] = resolved_threads(device, tc.threads)
    uses_given = set(parse_tasks(tc.tasks)) != {"text"}   # else the given channel takes no part
    fwd = dist.wrap(model, device, find_unused=not uses_given)   # DistributedDataParallel under torchrun
    fwd = torch.compile(fwd) if tc.compile else fwd
    stage = DenoiserStage(cfg, model, fwd, ema, optimizer, mix, generators, device, history,
                          log_path, ckpt_dir, meta, dist)
    result = fit(stage, model, optimizer, start=step, stop=stop, total=tc.steps, base_lr=tc.lr,
                 warmup=tc.warmup_steps, min_lr_ratio=tc.lr_min_ratio, grad_clip=tc.grad_clip,
                 checkpoint_every=tc.checkpoint_every if ckpt_dir is not None else 0,
                 device=device, threads=tc.threads, progress=progress,
                 desc="training the denoiser", log=log, dist=dist)
    model.eval()
    return TrainResult(model, ema.shadow, history, result.step, result.seconds, resumed_from, scale)


def _misfit(ckpt, cfg: Config, ckpt_dir: Path, vae_id: str | None, out: Path) -> str | None:
    """Why the denoiser checkpoint `ckpt` cannot go on as a run of `cfg` on the VAE `vae_id`, or None."""
    if ckpt.meta.get("kind") != "denoiser" or "step" not in ckpt.meta:
        return f"{ckpt_dir} is not a denoiser training checkpoint"
    try:
        check_stage(ckpt.config, cfg, "denoiser", ckpt_dir)
    except ConfigMismatchError as e:
        return str(e)
    trained_on = ckpt.meta.get("vae_sha256")
    if vae_id and trained_on and trained_on != vae_id:
        return (f"the denoiser at {ckpt_dir} was trained on another VAE (weights sha256 "
                f"{trained_on[:12]}) than the one at {out / VAE_DIR} (sha256 {vae_id[:12]}): "
                f"the VAE was retrained or replaced since")
    return None


def check_denoiser(cfg: Config, out: str | Path, vae, fresh: bool = False) -> None:
    """Raise `ConfigMismatchError` (before any work) where `out` holds a denoiser that `cfg` on
    `vae` cannot go on from, unless `fresh` (which `train` then moves aside)."""
    ckpt_dir = Path(out) / DENOISER_DIR
    if fresh or not has_checkpoint(ckpt_dir):
        return
    ckpt = load_pretrained(ckpt_dir, load_extra=False)
    problem = _misfit(ckpt, cfg, ckpt_dir, weights_sha256(vae.state_dict()), Path(out))
    if problem:
        raise ConfigMismatchError(f"{problem}; {stage_mismatch_help(ckpt_dir)}")


def load_vae_for(cfg: Config, out: Path | None, progress: bool = True, device=None,
                 fresh: bool = False, log=print):
    """The VAE of `cfg`: loaded from `out/vae` (else `runs/<preset>/vae`) when it is there and
    fits the config, else trained there by `load_or_train_vae` (`fresh`: replacing one of other
    settings, which is moved aside)."""
    vae_dir = Path(out) / VAE_DIR if out is not None else Path(runs_dir()) / cfg.name / VAE_DIR
    vae = load_or_train_vae(cfg, vae_dir, progress=progress, fresh=fresh, log=log)
    return vae.to(device or cfg.resolved_device()).eval()


__all__ = ["drop_prompts", "TrainResult", "check_train_config", "check_denoiser", "save_training_state",
           "DenoiserStage", "train", "load_vae_for"]
