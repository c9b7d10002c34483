"""The detection classifier: was this clip generated, or rendered by the world? (notebook 13)

The Sora report plans a classifier that tells whether a video was generated, and an image
classifier that reviews every frame. `Detector` is both, small enough to train in a minute on a
CPU: a 2D CNN reads each frame alone (the *frame classifier*: one probability a frame, so it
works on images too), and a temporal convolution over the frames' features gives the *clip
classifier* one probability a clip. It learns what the VAE decoder leaves in a sample and the
renderer never does (colours off the palette, soft edges, a background that is not quite black,
flicker from frame to frame); `soralite.eval.detection` measures how far that holds up under
re-encoding, resizing, cropping, noise and another model's samples.

Clips in: `uint8 (N, T, H, W, 3)` of any size (global pooling); out: probabilities that each clip
and each frame was generated. Trained by `soralite.train.detector_stage` (`soralite
train-detector`); saved and loaded as a checkpoint directory like every model of the kit.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from soralite.checkpoint import (CheckpointError, checkpoint_kind, load_pretrained,
                                 load_state_dict_strict, save_pretrained)
from soralite.config import DetectorConfig
from soralite.video import CLIP_EXTENSIONS, load_clip, to_tensor

KIND = "detector"
DETECT_BATCH = 64                  # clips per forward pass in `probabilities`


class Detector(nn.Module):
    """Frame classifier (a 2D CNN per frame) and clip classifier (a temporal conv on top).

    The first two layers see one pixel at a time (1 x 1 convolutions: a small MLP on its colour,
    which can learn how far it is from the palette), the next two its neighbourhood, at half and
    a quarter of the resolution; the features are pooled over space by mean and max.

    `forward(x (N, 3, T, H, W) in [-1, 1])` returns logits `(clip (N,), frames (N, T))`.
    """

    def __init__(self, config: DetectorConfig | None = None):
        super().__init__()
        self.config = config or DetectorConfig()
        c, k = self.config.base_channels, self.config.temporal_kernel
        self.frame_features = nn.Sequential(             # one frame at a time: (B, 3, H, W)
            nn.Conv2d(3, c, 1), nn.GELU(),                 # per pixel: how far from a palette colour
            nn.Conv2d(c, c, 1), nn.GELU(),
            nn.Conv2d(c, c, 3, stride=2, padding=1), nn.GELU(),        # edges, texture: (B, c, H/2, W/2)
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.GELU())    # (B, 2c, H/4, W/4)
        d = 4 * c                                        # mean and max pooled, 2c channels each
        self.frame_head = nn.Linear(d, 1)
        self.temporal = nn.Conv1d(d, d, k, padding=k // 2)
        self.clip_head = nn.Linear(2 * d, 1)

    @property
    def threshold(self) -> float:
        return self.config.threshold

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Per-frame features `(N, T, D)` of model tensors `(N, 3, T, H, W)`."""
        N, C, T, H, W = x.shape
        frames = x.movedim(2, 1).reshape(N * T, C, H, W)                 # (N T, 3, H, W)
        f = self.frame_features(frames)                                  # (N T, 2c, h, w)
        f = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)   # (N T, D)
        return f.reshape(N, T, -1)                                       # (N, T, D)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)                                             # (N, T, D)
        frame_logits = self.frame_head(f).squeeze(-1)                    # (N, T)
        g = F.gelu(self.temporal(f.transpose(1, 2)))                     # (N, D, T)
        pooled = torch.cat([f.mean(dim=1), g.mean(dim=2)], dim=1)        # (N, 2D)
        return self.clip_head(pooled).squeeze(-1), frame_logits          # (N,), (N, T)

    @torch.no_grad()
    def probabilities(self, clips) -> tuple[np.ndarray, np.ndarray]:
        """uint8 clips `(N, T, H, W, 3)` (or one `(T, H, W, 3)`) -> the probability that each clip
        `(N,)` and each frame `(N, T)` was generated."""
        clips = np.asarray(clips)
        clips = clips[None] if clips.ndim == 4 else clips
        was, device = self.training, next(self.parameters()).device
        self.eval()
        clip_p, frame_p = [], []
        for i in range(0, len(clips), DETECT_BATCH):
            x = to_tensor(clips[i:i + DETECT_BATCH]).to(device)         # (b, 3, T, H, W)
            c, f = self(x)
            clip_p.append(torch.sigmoid(c).cpu())
            frame_p.append(torch.sigmoid(f).cpu())
        self.train(was)
        return torch.cat(clip_p).numpy(), torch.cat(frame_p).numpy()

    def frame_probabilities(self, clips) -> np.ndarray:
        """The frame classifier alone: `(N, T)` probabilities (what a policy's frame review asks)."""
        return self.probabilities(clips)[1]

    # --- checkpoints ---------------------------------------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike, meta: dict | None = None) -> Path:
        """Write `config.json` and `model.safetensors` (and `meta.json`) atomically, kind "detector"."""
        return save_pretrained(directory, dataclasses.asdict(self.config), self.state_dict(),
                               meta={"kind": KIND, **(meta or {})}, kind=KIND)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device: str | torch.device = "cpu") -> "Detector":
        """Load a saved detector; another kind of checkpoint there is a `CheckpointError`."""
        directory = Path(directory)
        kind = checkpoint_kind(directory)
        if kind not in (None, KIND):
            raise CheckpointError(f"{directory} holds a {kind} checkpoint, not a detector (train one "
                                  f"with `soralite train-detector --ckpt RUN --out DIR`)")
        ckpt = load_pretrained(directory, load_extra=False)
        names = {f.name for f in dataclasses.fields(DetectorConfig)}
        unknown = set(ckpt.config) - names
        if unknown:
            raise CheckpointError(f"{directory}/config.json is not a detector config: unknown "
                                  f"fields {sorted(unknown)}")
        model = cls(DetectorConfig(**ckpt.config))
        load_state_dict_strict(model, ckpt.state_dict, directory)
        model.meta = ckpt.meta
        return model.to(device).eval()


def detect(clips, detector: Detector) -> list[dict]:
    """Per clip: `generated_probability`, `generated` (at the detector's threshold) and
    `frame_probabilities` (the frame classifier's, one a frame)."""
    clip_p, frame_p = detector.probabilities(clips)
    return [{"generated_probability": round(float(p), 4), "generated": bool(p >= detector.threshold),
             "frame_probabilities": [round(float(q), 4) for q in f]} for p, f in zip(clip_p, frame_p)]


def clip_files(path: str | os.PathLike) -> list[Path]:
    """The clip files at `path`: the file itself, or every `.npy`, `.gif`, `.mp4`, `.png` under a
    folder (recursively, hidden ones skipped), sorted."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no file or folder at '{path}'")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CLIP_EXTENSIONS
                   and not any(s.startswith(".") for s in p.relative_to(path).parts))
    if not files:
        raise ValueError(f"no clips in folder '{path}' (looked recursively for "
                         f"{' '.join(CLIP_EXTENSIONS)})")
    return files


def _read(path: Path) -> np.ndarray:
    """A file as uint8 clips `(N, T, H, W, 3)`: one clip, or a batch `.npy` of several."""
    if path.suffix.lower() == ".npy":
        x = np.load(path, allow_pickle=False)
        if x.ndim == 5 and x.dtype == np.uint8 and x.shape[-1] == 3:
            return x
    return load_clip(path)[None]


def detect_files(path: str | os.PathLike, detector: Detector) -> list[dict]:
    """`detect` for the clip files at `path` (a file or a folder): per file (and per clip of a
    batch `.npy`, with its `index`) `file`, `generated_probability`, `generated`, `frames` and
    `frame_probabilities`."""
    out = []
    for f in clip_files(path):
        clips = _read(f)
        for i, row in enumerate(detect(clips, detector)):
            entry = {"file": str(f), **({"index": i} if len(clips) > 1 else {}),
                     "frames": int(clips.shape[1]), **row}
            out.append(entry)
    return out


__all__ = ["Detector", "detect", "detect_files", "clip_files", "KIND"]
