"""Training on a folder of clips instead of the world: `train.data` (`--data DIR`, notebook 12).

A folder of clips with a `captions.jsonl` (as `soralite caption DIR` or `soralite make-data`
write it) can stand in for the toy world in both stages: the VAE trains on its clips, and the
denoiser's latent pool is encoded from them, each with its caption. The clips are read by
`soralite.video.ClipFolder` (every `.npy`, `.gif`, `.mp4` and `.png` under the folder), resized to
the world's size (cover, then centre-crop; the first `world.frames` frames); every clip needs a
line in `captions.jsonl`, whose `caption` (or, with `train.captions = "descriptive"`, its
`description`) must be in the caption language the denoiser's tokenizer reads
(`dit.vocabulary`), else a `PromptError` names the file and the word. `clips_for` is what the
stages call for clips: the world's, or the folder's, cycled.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soralite.config import Config
from soralite.language import PromptError, parse_caption
from soralite.video import CAPTIONS_FILE, ClipFolder, to_uint8
from soralite.world import WorldBatch, generate


@dataclass
class FolderClips:
    """A folder's clips at the world's size: `clips uint8 (N, T, H, W, 3)`, their captions and
    descriptive captions (None where `captions.jsonl` has none), and files (relative paths)."""

    clips: np.ndarray
    captions: list[str]
    descriptions: list[str | None]
    files: list[str]

    def __len__(self) -> int:
        return len(self.files)


_CACHE: dict[tuple, FolderClips] = {}


def fingerprint(directory: str | Path) -> list:
    """What a folder's pool depends on: each clip file's name, size and modification time, and
    those of `captions.jsonl`."""
    root = Path(directory)
    entries = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".tmp")
                     and not any(s.startswith(".") or s == "replaced" for s in p.relative_to(root).parts))
    return [[p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns] for p in entries]


def read_folder(cfg: Config, directory: str | Path | None = None, captions: bool = True) -> FolderClips:
    """The clips of `directory` (default `cfg.train.data`) at `cfg.world`'s size, with their
    captions from its `captions.jsonl`, each checked against the caption language of
    `cfg.dit.vocabulary`; with `captions=False` (the VAE, which needs none) a folder without
    captions is read too. Read once per process (until a file changes)."""
    root = Path(directory if directory is not None else cfg.train.data)
    w = cfg.world
    key = (str(root.resolve()), w.frames, w.height, w.width, json.dumps(fingerprint(root)))
    if key not in _CACHE:
        _CACHE.clear()                                  # one folder at a time
        _CACHE[key] = _read(root, cfg)
    data = _CACHE[key]
    if captions:
        _check_captions(cfg, root, data)
    return data


def _read(root: Path, cfg: Config) -> FolderClips:
    w = cfg.world
    folder = ClipFolder(root, frames=w.frames, height=w.height, width=w.width)
    entries = {}
    path = root / CAPTIONS_FILE
    for line in (path.read_text(encoding="utf-8").splitlines() if path.is_file() else []):
        if line.strip():
            entry = json.loads(line)                    # ClipFolder has checked every line
            entries[Path(entry["file"]).as_posix()] = entry
    clips, captions, descriptions, files = [], [], [], []
    for i, path in enumerate(folder.files):
        rel = path.relative_to(root).as_posix()
        entry = entries.get(rel, {})
        clips.append(to_uint8(folder[i]["video"][None])[0])            # (T, H, W, 3)
        captions.append(str(entry["caption"]) if "caption" in entry else None)
        descriptions.append(str(entry["description"]) if entry.get("description") is not None else None)
        files.append(rel)
    return FolderClips(np.stack(clips), captions, descriptions, files)


def _check_captions(cfg: Config, root: Path, data: FolderClips) -> None:
    descriptive = cfg.train.captions == "descriptive"
    texts = data.descriptions if descriptive else data.captions
    if not (root / CAPTIONS_FILE).is_file():
        raise FileNotFoundError(f"{root} has no {CAPTIONS_FILE}: caption its clips first "
                                f"(soralite caption {root}) or give a folder that has one")
    for rel, text in zip(data.files, texts):
        if text is None:
            raise PromptError(f"{root / rel} has no {'description' if descriptive else 'caption'} "
                              f"in {root / CAPTIONS_FILE}; every clip needs one to train on "
                              f"(soralite caption {root} --force writes both for every clip)")
        if not text.strip():
            raise PromptError(f"{root / rel}: its {'description' if descriptive else 'caption'} in "
                              f"{CAPTIONS_FILE} is empty (the captioner saw no object in it); "
                              f"write one, or take the clip out of the folder")
        try:
            parse_caption(text, descriptive=cfg.dit.vocabulary == "descriptive")
        except PromptError as e:
            raise PromptError(f"{root / rel}: its {'description' if descriptive else 'caption'} in "
                              f"{CAPTIONS_FILE} is outside the kit's caption language: {e}") from None


def clips_for(cfg: Config, n: int, seed: int, start: int = 0, epoch: int = 0, world=None,
              captions: bool = True) -> WorldBatch:
    """`n` clips for a stage: the world's clips `start .. start + n - 1` of `seed` (and `epoch`),
    or, with `train.data`, the folder's clips from `start + seed` on, cycled (a folder has no
    scene truth; the captions are those the pool trains on; `captions=False` for a stage that
    needs none, which then reads a folder without captions too)."""
    if not cfg.train.data:
        return generate(world or cfg.world, n, seed=seed, start=start, epoch=epoch)
    data = read_folder(cfg, captions=captions)
    idx = (start + seed + np.arange(n)) % len(data)
    texts = data.descriptions if cfg.train.captions == "descriptive" else data.captions
    return WorldBatch(data.clips[idx], [texts[i] for i in idx], [])


__all__ = ["FolderClips", "fingerprint", "read_folder", "clips_for"]
