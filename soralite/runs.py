"""The run folder: its layout, and the one rule for whether a run fits a config (docs/design.md, "Run folders").

A run folder, as `soralite quickstart` leaves it:
```
config.json          the full Config the run was made with
vae/                 the video VAE checkpoint (stage 1)
latents.safetensors  the denoiser's latent pool, encoded once by that VAE
denoiser/            text encoder + DiT; its weights are the EMA model (stage 2)
log.jsonl            the denoiser's loss, one line per `train.log_every` steps
samples.gif          quickstart's grid of samples (samples.gif.c2pa: its C2PA provenance); report.json: its evaluation
samples/             what `soralite sample` writes without --out
detector/            a detector trained on this run's samples (`soralite train-detector`, notebook 13)
replaced/            what `--fresh` moved aside: earlier weights, never deleted
.vae.lock            held while a stage trains (the process id inside)
```
A run *fits* a config when every setting that shaped its weights is the same; the settings in
`RESUMABLE_FIELDS` (how long to train, how often to save or log, how to sample and evaluate) may
change between calls, so that a run can be trained further or sampled otherwise. Each stage is
checked on its own settings (`stage_settings`): the VAE on the world, its architecture and its
own training settings; the denoiser on everything but the VAE's training settings.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from soralite.checkpoint import (CheckpointError, ConfigMismatchError, TargetError, has_checkpoint,
                                 saved_weights_sha256)
from soralite.config import Config

CONFIG_FILE = "config.json"
VAE_DIR = "vae"
DENOISER_DIR = "denoiser"
CAPTIONER_DIR = "captioner"          # the run's video captioner (notebook 12), for descriptive captions
DETECTOR_DIR = "detector"            # the detector trained on this run's samples (notebook 13)
LATENTS_FILE = "latents.safetensors"
LOG_FILE = "log.jsonl"
REPORT_FILE = "report.json"
SAMPLES_FILE = "samples.gif"
SAMPLES_DIR = "samples"
REPLACED_DIR = "replaced"
STAGES = ("vae", "denoiser")
RUN_ENTRIES = (CONFIG_FILE, VAE_DIR, DENOISER_DIR, LATENTS_FILE, LOG_FILE, REPORT_FILE, SAMPLES_FILE,
               SAMPLES_DIR, REPLACED_DIR, CAPTIONER_DIR, DETECTOR_DIR,
               SAMPLES_FILE + ".c2pa")      # samples.gif's provenance sidecar (soralite.safety)

# Settings that may change between a run and its resumption: they do not change the weights.
RESUMABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "vae": ("scaling_factor", "chunk_frames"),     # measured from the checkpoint; an inference setting
    "train": ("steps", "vae_steps", "checkpoint_every", "log_every", "num_workers", "compile",
              "threads", "sampler", "sample_steps", "guidance_scale", "eval_clips",
              "eval_held_out_clips", "window_overlap", "context_noise", "history_guidance",
              "history_guidance_scale", "edit_strength"),
}
# train settings that only the VAE stage reads, and those both stages read
VAE_TRAIN_FIELDS = ("vae_batch_size", "vae_lr", "vae_precision")
SHARED_TRAIN_FIELDS = ("weight_decay", "grad_clip", "data")   # data: train.data, a folder of clips


def stage_settings(config: dict[str, Any], stage: str) -> dict[str, Any]:
    """The settings of a config dict (`Config.to_dict()`) that shape the weights of `stage`
    ("vae" or "denoiser"), flat with dotted keys: `{"seed": 0, "world.height": 32, ...}`."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    train = config.get("train", {})
    if stage == "vae":
        train_keys = VAE_TRAIN_FIELDS + SHARED_TRAIN_FIELDS
        parts = ("world", "vae")
    else:
        train_keys = tuple(k for k in train if k not in RESUMABLE_FIELDS["train"] + VAE_TRAIN_FIELDS)
        parts = ("world", "vae", "dit")
    flat: dict[str, Any] = {"seed": config.get("seed")}
    for part in parts:
        for k, v in config.get(part, {}).items():
            if k not in RESUMABLE_FIELDS.get(part, ()):
                flat[f"{part}.{k}"] = _plain(v)
    for k in train_keys:
        flat[f"train.{k}"] = _plain(train.get(k, "<absent>"))
    return flat


def check_stage(saved: dict[str, Any], cfg: Config, stage: str, where: str | Path) -> None:
    """Raise `ConfigMismatchError` naming every setting of `stage` in which the run saved with
    config dict `saved` differs from `cfg`. Settings added to the kit after the run was saved
    read as their defaults (which keep the behaviour of before), so old runs still fit."""
    a, b = stage_settings(with_defaults(saved), stage), stage_settings(cfg.to_dict(), stage)
    diffs = [f"{k} (run: {a.get(k, '<absent>')!r}, config: {b.get(k, '<absent>')!r})"
             for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]
    if diffs:
        raise ConfigMismatchError(f"the {stage} at {where} was trained with another config; "
                                  f"differing settings: {'; '.join(diffs)}")


def with_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """A saved config dict with the fields it lacks filled in by the defaults of today's `Config`
    (a newer kit's fields, added with a default that keeps earlier behaviour); fields it has are
    kept as saved. A dict that is not a config is returned as it is."""
    try:
        full = Config.from_dict(config).to_dict()
    except (ValueError, TypeError):
        return config
    return {k: ({**full[k], **v} if isinstance(v, dict) and isinstance(full.get(k), dict) else v)
            for k, v in {**full, **config}.items()}


def run_fits(saved: Config, cfg: Config) -> bool:
    """Would a run trained with config `saved` go on as `cfg`? (Both stages fit.)"""
    d = saved.to_dict()
    try:
        for stage in STAGES:
            check_stage(d, cfg, stage, "the run")
    except ConfigMismatchError:
        return False
    return True


# ----------------------------------------------------------------------------------------------
# What a run folder may be, and what replaces what


def is_run_entry(name: str) -> bool:
    """Whether a file or folder name is one a run folder holds (its own, its locks and temps)."""
    return (name in RUN_ENTRIES or name.startswith(".") or name.endswith(".tmp")
            or (name.startswith("latents-") and name.endswith(".safetensors")))


def check_run_folder(run: str | Path) -> None:
    """Raise `TargetError` unless `run` may be used as a run folder: missing, empty, a run folder
    already (its `config.json` is a soralite config), or holding only what a run folder holds.
    So a training never writes into a folder of something else (a `make-data` export, notes)."""
    run = Path(run)
    if run.exists() and not run.is_dir():
        raise TargetError(f"{run} is a file; a run folder must be a folder (it is created if missing)")
    if not run.is_dir():
        for parent in run.parents:
            if parent.exists() and not parent.is_dir():
                raise TargetError(f"cannot make the run folder {run}: {parent} is a file")
        return
    entries = sorted(p.name for p in run.iterdir())
    strangers = [e for e in entries if not is_run_entry(e)]
    if not strangers:
        return
    try:
        Config.from_dict(json.loads((run / CONFIG_FILE).read_text()))
        return                                       # a run folder with the user's files beside
    except (OSError, ValueError, TypeError):
        pass
    shown = ", ".join(strangers[:5]) + (", ..." if len(strangers) > 5 else "")
    raise TargetError(f"{run} is not a soralite run folder (it holds {shown}); train into a new "
                      f"or empty folder (--out)")


def move_aside(path: str | Path, log=print) -> Path | None:
    """Move `path` (a stage's checkpoint or a derived file of a run) to `<run>/replaced/<name>-<time>`
    and return where it went; None where there was nothing. Never deletes."""
    path = Path(path)
    if not path.exists():
        return None
    dest_dir = path.parent / REPLACED_DIR
    dest_dir.mkdir(exist_ok=True)
    dest = dest_dir / f"{path.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    k = 1
    while dest.exists():
        dest, k = dest.with_name(f"{dest.name.rsplit('.', 1)[0]}.{k}"), k + 1
    shutil.move(str(path), str(dest))
    log(f"moved the earlier {path.name} aside to {dest}")
    return dest


def stage_mismatch_help(where: Path) -> str:
    return (f"nothing was changed. To train anew there, pass --fresh (fresh=True): the trained "
            f"weights at {where} are then moved to {where.parent / REPLACED_DIR}/, not deleted; "
            f"or train into another folder (--out)")


# ----------------------------------------------------------------------------------------------
# Locks: one training writes a folder at a time


class RunLock:
    """Held while a stage trains into `path`: the file `<parent>/.<name>.lock` with the process id
    and host. A second training into the same place is refused while the first lives; the lock of
    a process that died is taken over, with a message."""

    def __init__(self, path: str | Path, log=print):
        self.path = Path(path).absolute()
        self.file = self.path.parent / f".{self.path.name}.lock"
        self.log = log

    def _holder(self) -> dict | None:
        try:
            return json.loads(self.file.read_text())
        except (OSError, ValueError):
            return None

    def __enter__(self) -> "RunLock":
        self.file.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        for _ in range(2):
            try:
                fd = os.open(self.file, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = self._holder() or {}
                if holder.get("pid") == me["pid"] and holder.get("host") == me["host"]:
                    raise CheckpointError(f"{self.path} is already being trained by this "
                                          f"process") from None
                if holder.get("host", me["host"]) != me["host"]:
                    raise CheckpointError(f"{self.path} is locked by process {holder.get('pid')} on "
                                          f"host {holder.get('host')}, which this machine cannot "
                                          f"check; if that training is gone, delete {self.file}") from None
                if _alive(holder.get("pid")):
                    raise CheckpointError(f"another training (process {holder.get('pid')}) is "
                                          f"writing to {self.path}; "
                                          f"wait for it to finish or stop it, or train into "
                                          f"another folder") from None
                self.log(f"taking over the lock {self.file} of process {holder.get('pid')}, "
                         f"which is no longer running")
                self.file.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            return self
        raise CheckpointError(f"could not take the lock {self.file}")

    def __exit__(self, *exc) -> None:
        holder = self._holder() or {}
        if holder.get("pid") == os.getpid():
            self.file.unlink(missing_ok=True)


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ----------------------------------------------------------------------------------------------
# What a derived file was made from


def made_from(run: str | Path) -> dict[str, Any]:
    """The identity of a run's weights: the sha256 of the VAE's and the denoiser's weights (from
    their manifests) and the denoiser's step. A derived file (a report, a sample) records this,
    and is made again, or refused, when it changed."""
    run = Path(run)
    step = None
    try:
        step = json.loads((run / DENOISER_DIR / "meta.json").read_text()).get("step")
    except (OSError, ValueError):
        pass
    return {"vae_sha256": saved_weights_sha256(run / VAE_DIR) if has_checkpoint(run / VAE_DIR) else None,
            "denoiser_sha256": (saved_weights_sha256(run / DENOISER_DIR)
                                if has_checkpoint(run / DENOISER_DIR) else None),
            "step": step}


def read_log(path: str | Path, upto: int | None = None) -> list[dict]:
    """The rows of a run's `log.jsonl` (a run folder or the file itself), up to step `upto`."""
    path = Path(path)
    if path.is_dir():
        path = path / LOG_FILE
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if upto is None or r.get("step", 0) <= upto]


def _plain(v: Any) -> Any:
    """Tuples as lists, as a config reads back from JSON."""
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    return v


__all__ = ["CONFIG_FILE", "VAE_DIR", "DENOISER_DIR", "CAPTIONER_DIR", "DETECTOR_DIR", "LATENTS_FILE", "LOG_FILE", "REPORT_FILE",
           "SAMPLES_FILE", "SAMPLES_DIR", "STAGES", "RESUMABLE_FIELDS", "stage_settings",
           "check_stage", "with_defaults", "run_fits", "read_log", "REPLACED_DIR", "RUN_ENTRIES", "is_run_entry",
           "check_run_folder", "move_aside", "stage_mismatch_help", "RunLock", "made_from"]
