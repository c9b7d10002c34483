"""Training the video captioner on world clips and their scene truth (notebook 12; `soralite
train-captioner`).

The captioner (`soralite.models.Captioner`) learns to read what the world's scene truth holds:
for every slot (a colour) whether its object is there, its shape, size and motion, where it starts
and how fast it goes, and whether the clip has the wall. The targets come from the truth of each
rendered clip (`captioner_targets`); one more target, every pixel's label (background, wall or
its colour), is read off the rendered clip, whose pixels have their exact palette colours
(`pixel_targets`): it teaches the first layer its colours in a few dozen steps, where presence and
position alone would take hundreds. Step `k` sees clips `k B .. (k + 1) B - 1` of the
`captioner_train` stream (`soralite.seeds`) of the captioner's world
(`soralite.config.captioner_world`: the full world of docs/world.md by default), so the data of
a step depends on the step alone and a stopped run resumes as the same run; the shared fit loop
(`soralite.train.loop`) does the rest.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from soralite.checkpoint import (CheckpointError, CheckpointNotFoundError, ConfigMismatchError,
                                 CorruptCheckpointError, check_target, flatten_optimizer_state,
                                 has_checkpoint, load_pretrained, load_state_dict_strict,
                                 unflatten_optimizer_state)
from soralite.config import PALETTE, WALL_RGB, Config, WorldConfig, captioner_world, runs_dir
from soralite.models.captioner import KIND, SPEED_UNIT, Captioner
from soralite.runs import CAPTIONER_DIR, RunLock, move_aside, stage_mismatch_help
from soralite.seeds import stream_epoch, stream_seed
from soralite.train.loop import fit
from soralite.world import generate

RESUMABLE = ("steps", "checkpoint_every", "eval_clips")     # captioner settings that may change on resume
START_WEIGHT = 10.0              # the start is regressed in shares: x10 puts its loss beside the others
INIT_CLIPS = 32                  # clips whose pixels set a fresh captioner's colour classifier
HISTORY_EVERY = 10               # steps between entries of the loss history kept in meta.json
SMOOTHING = 0.9                  # the progress bar's running accuracies: an exponential average


# ----------------------------------------------------------------------------------------------
# Targets and loss


def captioner_targets(scenes, model: Captioner) -> dict[str, torch.Tensor]:
    """Per slot (a colour of `model.colours`) what the scene truth says: `present (B, K)`, class
    indices `shape`, `size`, `motion (B, K)` (-100 where absent, ignored by the loss), `start
    (B, K, 2)` (shares of W and H), `speed (B, K)`, and `wall (B,)`."""
    B, K = len(scenes), model.num_slots
    t = {"present": torch.zeros(B, K), "shape": torch.full((B, K), -100),
         "size": torch.full((B, K), -100), "motion": torch.full((B, K), -100),
         "start": torch.zeros(B, K, 2), "speed": torch.zeros(B, K), "wall": torch.zeros(B)}
    for b, scene in enumerate(scenes):
        t["wall"][b] = float(scene.wall is not None)
        for o in scene.objects:
            k = model.colours.index(o.colour)
            t["present"][b, k] = 1.0
            t["shape"][b, k] = model.shapes.index(o.shape)
            t["size"][b, k] = model.sizes.index(o.size)
            t["motion"][b, k] = model.motions.index(o.motion)
            t["start"][b, k] = torch.tensor([o.cx[0] / scene.width, o.cy[0] / scene.height])
            t["speed"][b, k] = float(o.speed)
    return t


def pixel_targets(clips: np.ndarray, colours: tuple[str, ...]) -> torch.Tensor:
    """Every pixel's class `(B, T, H, W)` of rendered clips `uint8 (B, T, H, W, 3)`: 0 background,
    1 wall, 2 + k colour k (a rendered pixel has its exact palette colour)."""
    rgb = np.array([WALL_RGB] + [PALETTE[c] for c in colours], np.int32)       # (K + 1, 3)
    code = lambda a: (a[..., 0] << 16) | (a[..., 1] << 8) | a[..., 2]           # one int per colour
    pixels = code(np.asarray(clips, np.int32))                                  # (B, T, H, W)
    label = np.zeros(pixels.shape, np.int64)
    for k, c in enumerate(code(rgb)):
        label[pixels == c] = k + 1
    return torch.from_numpy(label)


def captioner_loss(out, targets: dict[str, torch.Tensor], pixels: torch.Tensor
                   ) -> tuple[torch.Tensor, dict[str, float]]:
    """Presence and wall (binary cross-entropy), shape, size and motion of the present slots
    (cross-entropy), start (smooth L1, in tenths of the frame) and speed (MSE, in units of
    `SPEED_UNIT`), and every pixel's label (cross-entropy), summed."""
    present = targets["present"] > 0                                             # (B, K)
    parts = {
        "presence": F.binary_cross_entropy_with_logits(out.presence, targets["present"]),
        "wall": F.binary_cross_entropy_with_logits(out.wall, targets["wall"]),
        "pixels": F.cross_entropy(out.pixel_logits.flatten(0, -2), pixels.flatten()),
    }
    if present.any():
        for name in ("shape", "size", "motion"):
            parts[name] = F.cross_entropy(getattr(out, name)[present], targets[name][present])
        parts["start"] = F.smooth_l1_loss(START_WEIGHT * out.start[present],
                                          START_WEIGHT * targets["start"][present])
        parts["speed"] = F.mse_loss(out.speed[present] / SPEED_UNIT,
                                    targets["speed"][present] / SPEED_UNIT)
    loss = sum(parts.values())
    return loss, {k: round(float(v.detach()), 5) for k, v in parts.items()}


@torch.no_grad()
def batch_accuracy(out, targets: dict[str, torch.Tensor]) -> dict[str, float]:
    """Shares right on a batch: presence per slot; shape and motion of the present slots; start
    within 0.08 of the frame."""
    present = targets["present"] > 0
    acc = {"presence": float(((out.presence > 0) == present).float().mean())}
    if present.any():
        for name in ("shape", "motion"):
            acc[name] = float((getattr(out, name)[present].argmax(-1) == targets[name][present]).float().mean())
        err = (out.start[present] - targets["start"][present]).norm(dim=-1)
        acc["start"] = float((err <= 0.08).float().mean())
    return acc


def training_batch(cfg: Config, world: WorldConfig, step: int):
    """The `WorldBatch` of step `step` of the captioner's training."""
    b = cfg.captioner.batch_size
    return generate(world, b, seed=stream_seed(cfg.seed, "captioner_train"), start=step * b,
                    epoch=stream_epoch("captioner_train"))


def new_captioner(cfg: Config) -> Captioner:
    """A fresh captioner for `cfg` (its initial weights from the `init` seed stream)."""
    torch.manual_seed(stream_seed(cfg.seed, "init"))
    return Captioner(cfg.captioner, captioner_world(cfg).frames)


# ----------------------------------------------------------------------------------------------
# The stage


def _settings(cfg: Config) -> dict:
    """What shaped a captioner's weights, as its checkpoint records them."""
    return {"seed": cfg.seed, "world": dataclasses.asdict(captioner_world(cfg)),
            "captioner": {k: v for k, v in dataclasses.asdict(cfg.captioner).items()
                          if k not in RESUMABLE}}


def check_fits(meta: dict, cfg: Config, where) -> None:
    """Raise `ConfigMismatchError` naming every setting in which the captioner at `where` (its
    `meta`) was trained otherwise than `cfg` asks."""
    want, diffs = _settings(cfg), []
    for part in ("seed", "world", "captioner"):
        a, b = _plain(meta.get(part, "<absent>")), _plain(want[part])
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += [f"{part}.{k} (run: {a.get(k, '<absent>')!r}, config: {b.get(k, '<absent>')!r})"
                      for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]
        elif a != b:
            diffs.append(f"{part} (run: {a!r}, config: {b!r})")
    if diffs:
        raise ConfigMismatchError(f"the captioner at {where} was trained with another config; "
                                  f"differing settings: {'; '.join(diffs)}")


def _plain(v):
    """Tuples as lists, as JSON reads them back."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    return v


class CaptionerStage:
    """The captioner's part of `fit`: a batch of world clips, their truth, the summed loss."""

    def __init__(self, cfg: Config, model: Captioner, optimizer, world: WorldConfig,
                 out: Path | None, history: list, elapsed: float, device: torch.device, stop: int):
        self.cfg, self.model, self.optimizer, self.world = cfg, model, optimizer, world
        self.out, self.history, self.elapsed, self.device, self.stop = out, history, elapsed, device, stop
        self.t0, self.running = time.perf_counter(), {}

    def loss(self, step: int):
        batch = training_batch(self.cfg, self.world, step)
        x = batch.videos.to(self.device)                                 # (B, 3, T, H, W)
        targets = {k: v.to(self.device) for k, v in captioner_targets(batch.scenes, self.model).items()}
        pixels = pixel_targets(batch.clips, self.model.colours).to(self.device)   # (B, T, H, W)
        out = self.model(x)
        loss, parts = captioner_loss(out, targets, pixels)
        return loss, {"parts": parts, "accuracy": batch_accuracy(out, targets)}

    def after_step(self, step: int, info: dict) -> dict:
        for k, v in info["accuracy"].items():
            self.running[k] = v if k not in self.running else SMOOTHING * self.running[k] + (1 - SMOOTHING) * v
        if step % HISTORY_EVERY == 0 or step == self.stop:
            self.history.append({"step": step, "loss": round(info["loss"].item(), 5),
                                 **info["parts"], **{f"acc_{k}": round(v, 4) for k, v in info["accuracy"].items()}})
        return {"loss": f"{info['loss'].item():.3f}",
                **{k[:5]: f"{v:.2f}" for k, v in self.running.items() if k != "presence"}}

    def save(self, step: int, stopping: bool) -> None:
        if self.out is None:
            return
        save_captioner_checkpoint(self.out, self.model, self.cfg, step, self.optimizer,
                                  {"history": self.history,
                                   "seconds": self.elapsed + time.perf_counter() - self.t0})


def save_captioner_checkpoint(directory, model: Captioner, cfg: Config, step: int, optimizer=None,
                              meta: dict | None = None) -> Path:
    """Write the captioner's weights with its training record (and, given, the optimizer state)."""
    info = {"step": step, "complete": step >= cfg.captioner.steps, "preset": cfg.name,
            "steps": cfg.captioner.steps, **_settings(cfg), **(meta or {})}
    extra = {"rng.torch": torch.get_rng_state()}
    if optimizer is not None:
        tensors, info["optimizer"] = flatten_optimizer_state(optimizer.state_dict())
        extra.update(tensors)
    return model.save_pretrained(directory, meta=info, extra_tensors=extra)


def train_captioner(cfg: Config, out: str | Path | None, resume: bool = True, progress: bool = True,
                    max_steps: int | None = None, log=print) -> Captioner:
    """Train the captioner of `cfg` for `captioner.steps` steps on its world.

    With `out`, checkpoints go there every `captioner.checkpoint_every` steps and at the end, and
    a run found there is resumed (its settings must fit `cfg`, else `ConfigMismatchError` names
    what differs); `resume=False` moves a checkpoint found there aside and starts anew. `max_steps`
    stops this call at that step, as an interrupted run would. The folder is locked while it
    trains. Returns the captioner in eval mode."""
    out = Path(out) if out is not None else None
    if out is None:
        return _train(cfg, None, resume, progress, max_steps, log)
    check_target(out, KIND)
    with RunLock(out, log=log):
        if not resume and has_checkpoint(out):
            move_aside(out, log=log)
        return _train(cfg, out, resume, progress, max_steps, log)


def _train(cfg: Config, out: Path | None, resume: bool, progress: bool, max_steps: int | None,
           log) -> Captioner:
    device = torch.device(cfg.resolved_device())
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    cp = cfg.captioner
    stop = cp.steps if max_steps is None else min(cp.steps, max_steps)
    model = new_captioner(cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cp.lr, weight_decay=cfg.train.weight_decay)
    step, history, elapsed = 0, [], 0.0
    if resume and out is not None and has_checkpoint(out):
        ckpt = load_pretrained(out)
        if ckpt.meta.get("kind") != KIND or "optimizer" not in ckpt.meta:
            raise CheckpointError(f"{out} holds no captioner training state to resume from; "
                                  f"{stage_mismatch_help(out)}")
        try:
            check_fits(ckpt.meta, cfg, out)
        except ConfigMismatchError as e:
            raise ConfigMismatchError(f"{e}; {stage_mismatch_help(out)}") from None
        load_state_dict_strict(model, ckpt.state_dict, out)
        optimizer.load_state_dict(unflatten_optimizer_state(ckpt.extra, ckpt.meta["optimizer"]))
        torch.set_rng_state(ckpt.extra["rng.torch"])
        step, history, elapsed = ckpt.meta["step"], ckpt.meta.get("history", []), ckpt.meta.get("seconds", 0.0)
    else:                                          # a fresh run starts from the nearest-mean colours
        init = generate(captioner_world(cfg), INIT_CLIPS, seed=stream_seed(cfg.seed, "captioner_init"),
                        epoch=stream_epoch("captioner_init"))
        model.init_from_data(init.videos.to(device), pixel_targets(init.clips, model.colours))
    stage = CaptionerStage(cfg, model, optimizer, captioner_world(cfg), out, history, elapsed,
                           device, stop)
    fit(stage, model, optimizer, start=step, stop=stop, total=cp.steps, base_lr=cp.lr,
        warmup=cp.warmup_steps, min_lr_ratio=cfg.train.lr_min_ratio, grad_clip=cfg.train.grad_clip,
        checkpoint_every=cp.checkpoint_every if out is not None else 0, device=device,
        threads=cfg.train.threads, progress=progress, desc=f"captioner ({cfg.name})", log=log)
    return model.eval()


def load_or_train_captioner(cfg: Config, directory: str | Path | None = None, progress: bool = True,
                            fresh: bool = False, log=print) -> Captioner:
    """The captioner of `cfg`: loaded from `directory` (default `runs_dir()/<preset>/captioner`)
    when a finished checkpoint there fits `cfg`, resumed when an unfinished one does, trained
    there when there is none. One of other settings is an error naming them, unless `fresh`,
    which moves it aside and trains anew."""
    directory = Path(directory) if directory is not None else Path(runs_dir()) / cfg.name / CAPTIONER_DIR
    try:
        ckpt = load_pretrained(directory, load_extra=False)
    except CheckpointNotFoundError:
        return train_captioner(cfg, directory, resume=False, progress=progress, log=log)
    except CorruptCheckpointError:
        if not fresh:
            raise
        return train_captioner(cfg, directory, resume=False, progress=progress, log=log)
    try:
        check_fits(ckpt.meta, cfg, directory)
    except ConfigMismatchError as e:
        if not fresh:
            raise ConfigMismatchError(f"{e}; {stage_mismatch_help(directory)}") from None
        return train_captioner(cfg, directory, resume=False, progress=progress, log=log)
    if ckpt.meta.get("step", 0) >= cfg.captioner.steps:
        return Captioner.from_pretrained(directory, device=cfg.resolved_device())
    return train_captioner(cfg, directory, resume=True, progress=progress, log=log)


__all__ = ["captioner_targets", "pixel_targets", "captioner_loss", "batch_accuracy",
           "training_batch", "new_captioner", "check_fits", "CaptionerStage",
           "save_captioner_checkpoint", "train_captioner", "load_or_train_captioner"]
