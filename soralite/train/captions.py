"""The captions the denoiser trains on: the world's, or descriptive ones (`train.captions`, notebook 12).

The Sora report trains on highly descriptive captions that a captioner wrote (recaptioning, the
method of DALL-E 3). `train.captions` picks the latent pool's captions:

- `"standard"`: the world's own standard caption of each clip (the default);
- `"descriptive"`: the descriptive caption the run's captioner writes from the clip's pixels
  (`RUN/captioner`, trained there first if it has none: `soralite.train.captioner_stage`), as the
  report does: the captioner, not the scene truth, so its mistakes are trained on too;
- `"truth_descriptive"`: `describe` of the scene truth, the captions a perfect captioner would
  write (the upper bound of recaptioning).

With `train.data` the folder's `captions.jsonl` gives the captions (its `description` for
`"descriptive"`), read by `soralite.train.folder`.
"""
from __future__ import annotations

from pathlib import Path

from soralite.checkpoint import weights_sha256
from soralite.config import Config, runs_dir
from soralite.eval.captioning import caption_clips
from soralite.runs import CAPTIONER_DIR
from soralite.train.captioner_stage import load_or_train_captioner
from soralite.world import describe


def pool_captioner(cfg: Config, out: str | Path | None, progress: bool = False, log=print):
    """The captioner that writes a run's descriptive captions: `out/captioner` (or
    `runs_dir()/<preset>/captioner` without `out`), loaded, or trained there first; None where
    the run's captions need none (`train.captions` is not "descriptive", or `train.data` gives
    them)."""
    if cfg.train.captions != "descriptive" or cfg.train.data:
        return None
    directory = Path(out) / CAPTIONER_DIR if out is not None else Path(runs_dir()) / cfg.name / CAPTIONER_DIR
    return load_or_train_captioner(cfg, directory, progress=progress, log=log)


def captioner_fingerprint(captioner) -> str | None:
    """The sha256 of a captioner's weights (a pool's captions belong to one captioner)."""
    return None if captioner is None else weights_sha256(captioner.state_dict())


def pool_captions(cfg: Config, batch, captioner=None) -> list[str]:
    """The training captions of a `WorldBatch` under `train.captions` (a folder's batch already
    holds the captions `train.captions` asks for)."""
    mode = cfg.train.captions
    if mode == "standard" or cfg.train.data:
        return list(batch.captions)
    if mode == "truth_descriptive":
        return [describe(s) for s in batch.scenes]
    if captioner is None:
        raise ValueError("train.captions=descriptive needs the run's captioner (pool_captioner)")
    # a clip where the captioner saw nothing gets the empty caption (trained as unconditional)
    return [w["description"] for w in caption_clips(captioner, batch.clips)]


__all__ = ["pool_captioner", "captioner_fingerprint", "pool_captions"]
