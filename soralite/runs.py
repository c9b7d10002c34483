"""The run folder: its layout, and the one rule for whether a run fits a config (docs/design.md, "Run folders").

A run folder, as `soralite quickstart` leaves it:
```
config.json          the full Config the run was made with
vae/                 the video VAE checkpoint (stage 1)
latents.safetensors  the denoiser's latent pool, encoded once by that VAE
denoiser/            text encoder + DiT; its weights are the EMA model (stage 2)
log.jsonl            the denoiser's loss, one line per `train.log_every` steps
samples.gif          quickstart's grid of samples; report.json: its evaluation
samples/             what `soralite sample` writes without --out
```
A run *fits* a config when every setting that shaped its weights is the same; the settings in
`RESUMABLE_FIELDS` (how long to train, how often to save or log, how to sample and evaluate) may
change between calls, so that a run can be trained further or sampled otherwise. Each stage is
checked on its own settings (`stage_settings`): the VAE on the world, its architecture and its
own training settings; the denoiser on everything but the VAE's training settings.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from soralite.checkpoint import ConfigMismatchError
from soralite.config import Config

CONFIG_FILE = "config.json"
VAE_DIR = "vae"
DENOISER_DIR = "denoiser"
LATENTS_FILE = "latents.safetensors"
LOG_FILE = "log.jsonl"
REPORT_FILE = "report.json"
SAMPLES_FILE = "samples.gif"
SAMPLES_DIR = "samples"
STAGES = ("vae", "denoiser")

# Settings that may change between a run and its resumption: they do not change the weights.
RESUMABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "vae": ("scaling_factor", "chunk_frames"),     # measured from the checkpoint; an inference setting
    "train": ("steps", "vae_steps", "checkpoint_every", "log_every", "num_workers", "compile",
              "threads", "sampler", "sample_steps", "guidance_scale", "eval_clips",
              "eval_held_out_clips"),
}
# train settings that only the VAE stage reads, and those both stages read
VAE_TRAIN_FIELDS = ("vae_batch_size", "vae_lr")
SHARED_TRAIN_FIELDS = ("weight_decay", "grad_clip")


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
    config dict `saved` differs from `cfg`."""
    a, b = stage_settings(saved, stage), stage_settings(cfg.to_dict(), stage)
    diffs = [f"{k} (run: {a.get(k, '<absent>')!r}, config: {b.get(k, '<absent>')!r})"
             for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]
    if diffs:
        raise ConfigMismatchError(f"the {stage} at {where} was trained with another config; "
                                  f"differing settings: {'; '.join(diffs)}")


def run_fits(saved: Config, cfg: Config) -> bool:
    """Would a run trained with config `saved` go on as `cfg`? (Both stages fit.)"""
    d = saved.to_dict()
    try:
        for stage in STAGES:
            check_stage(d, cfg, stage, "the run")
    except ConfigMismatchError:
        return False
    return True


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


__all__ = ["CONFIG_FILE", "VAE_DIR", "DENOISER_DIR", "LATENTS_FILE", "LOG_FILE", "REPORT_FILE",
           "SAMPLES_FILE", "SAMPLES_DIR", "STAGES", "RESUMABLE_FIELDS", "stage_settings",
           "check_stage", "run_fits", "read_log"]
