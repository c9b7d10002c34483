"""How well the detector tells generated clips from world clips (notebook 13; `soralite eval-detector`).

A detector is measured on *held-out* pairs: captions drawn from the `detector_eval` seed stream
(`soralite.seeds`, never trained on), the pipeline's samples for them, and the world's own clips
of the same captions, so that both classes show the same content and only how it was made
differs. The measure is the ROC AUC (`roc_auc`: the chance that a generated clip scores above a
world clip), per clip and per frame, and the accuracy at the detector's threshold. The same
clips are then perturbed the way files are on their way round the internet, and measured again:

| row | what both classes go through |
| --- | --- |
| `mp4` | written as an `.mp4` (H.264 4:4:4, the kit's settings) and read back |
| `resize` | resized to 3/4 of their height and width (area filter) |
| `crop` | the centre 3/4 of each frame, cut out |
| `noise` | Gaussian noise of 8 (of 255) added to every pixel |
| `other model` | samples of a pipeline the detector never saw (`other=`), against world clips |
"""
from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from soralite.language import HeldOutWarning
from soralite.pipeline import Pipeline
from soralite.safety.detector import Detector
from soralite.seeds import stream_seed
from soralite.video import load_clip, resize_clip, save_clip
from soralite.world import generate

RESIZE_SHARE = 0.75                # `resize`: the new size as a share of the old
CROP_SHARE = 0.75                  # `crop`: the share of each side kept
NOISE_STD = 8.0                    # `noise`: in uint8 levels
MP4_TILES = 64                     # `mp4`: clips tiled into one file


# ----------------------------------------------------------------------------------------------
# ROC


def roc_auc(scores, labels) -> float:
    """The area under the ROC curve: the chance that a positive (label 1) scores above a negative,
    ties counting one half (the Mann-Whitney U statistic over both counts). 1 is a perfect
    detector, 0.5 a coin."""
    s, y = np.asarray(scores, dtype=float).ravel(), np.asarray(labels).astype(bool).ravel()
    if len(s) != len(y):
        raise ValueError(f"roc_auc: {len(s)} scores but {len(y)} labels")
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        raise ValueError("roc_auc needs at least one positive and one negative")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts + 1                               # rank of each value's first
    ranks = (first + (counts - 1) / 2)[inverse]                          # average rank of ties
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(fpr, tpr, thresholds)`: for each threshold (the scores, high to low), the share of
    negatives and of positives scoring at or above it; starts at (0, 0)."""
    s, y = np.asarray(scores, dtype=float).ravel(), np.asarray(labels).astype(bool).ravel()
    thresholds = np.unique(s)[::-1]
    tpr = np.array([0.0] + [(s[y] >= t).mean() for t in thresholds])
    fpr = np.array([0.0] + [(s[~y] >= t).mean() for t in thresholds])
    return fpr, tpr, np.concatenate([[np.inf], thresholds])


# ----------------------------------------------------------------------------------------------
# Data: generated clips and world clips of the same captions


def paired_clips(pipe: Pipeline, n: int, stream: str = "detector_eval", seed: int | None = None,
                 progress: bool = False) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`(generated, world, captions)`: `n` captions drawn as the pipeline's world draws them from
    seed stream `stream`, the pipeline's samples for them `uint8 (n, T, H, W, 3)` (noise from the
    same stream), and the world's clips of those captions. The usage policy is suspended: these
    are the model's own distribution, measured (a refused subject is still a sample to detect)."""
    seed = stream_seed(pipe.config.seed if seed is None else seed, stream)
    batch = generate(pipe.config.world, n, seed=seed)
    with pipe.policy_suspended(), warnings.catch_warnings():
        warnings.simplefilter("ignore", HeldOutWarning)
        made = pipe.generate(batch.captions, seed=seed, progress=progress)
    return made, batch.clips, batch.captions


# ----------------------------------------------------------------------------------------------
# Perturbations


def reencode_mp4(clips: np.ndarray, fps: float = 8, per_file: int = MP4_TILES) -> np.ndarray:
    """The clips `(N, T, H, W, 3)` written as `.mp4` by `save_clip` and read back. Up to
    `per_file` clips share one file, tiled side by side in a grid (one encoder run instead of
    one a clip: ffmpeg's start-up dominates at these sizes); at 16 and 32 px the clips' edges
    fall on the encoder's 16-pixel block edges, so each is coded almost as it would be alone."""
    N, T, H, W, _ = clips.shape
    cols = max(1, min(per_file, int(np.ceil(np.sqrt(min(N, per_file))))))
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(0, N, per_file):
            part = clips[i:i + per_file]                                  # (n, T, H, W, 3)
            rows = -(-len(part) // cols)
            sheet = np.zeros((T, rows * H, cols * W, 3), np.uint8)
            for k, clip in enumerate(part):
                r, c = divmod(k, cols)
                sheet[:, r * H:(r + 1) * H, c * W:(c + 1) * W] = clip
            back = load_clip(save_clip(Path(tmp) / f"{i}.mp4", sheet, fps=fps))[:T]
            for k in range(len(part)):
                r, c = divmod(k, cols)
                out.append(back[:, r * H:(r + 1) * H, c * W:(c + 1) * W])
    return np.stack(out)


def resize(clips: np.ndarray, share: float = RESIZE_SHARE) -> np.ndarray:
    H, W = clips.shape[2:4]
    return np.stack([resize_clip(c, max(4, round(H * share)), max(4, round(W * share))) for c in clips])


def crop(clips: np.ndarray, share: float = CROP_SHARE) -> np.ndarray:
    H, W = clips.shape[2:4]
    h, w = max(4, round(H * share)), max(4, round(W * share))
    top, left = (H - h) // 2, (W - w) // 2
    return np.ascontiguousarray(clips[:, :, top:top + h, left:left + w])


def add_noise(clips: np.ndarray, std: float = NOISE_STD, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noisy = clips.astype(np.float32) + rng.normal(0, std, clips.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


PERTURBATIONS = {"clean": lambda x: x, "mp4": reencode_mp4, "resize": resize, "crop": crop,
                 "noise": add_noise}
PERTURBATION_HELP = {
    "clean": "the held-out clips as sampled and rendered",
    "mp4": "written as .mp4 (H.264 4:4:4, crf 10) and read back",
    "resize": f"resized to {RESIZE_SHARE:g} of height and width (area filter)",
    "crop": f"centre {CROP_SHARE:g} of each side cut out",
    "noise": f"Gaussian noise, std {NOISE_STD:g} of 255, on every pixel",
}


# ----------------------------------------------------------------------------------------------
# The measurement


def score(detector: Detector, generated: np.ndarray, world: np.ndarray) -> dict:
    """Clip and frame AUC, accuracy at the detector's threshold, and each class's mean probability."""
    pg, fg = detector.probabilities(generated)                          # (n,), (n, T)
    pw, fw = detector.probabilities(world)
    labels = np.r_[np.ones(len(pg)), np.zeros(len(pw))]
    frame_labels = np.r_[np.ones(fg.size), np.zeros(fw.size)]
    t = detector.threshold
    return {"auc": round(roc_auc(np.r_[pg, pw], labels), 4),
            "frame_auc": round(roc_auc(np.r_[fg.ravel(), fw.ravel()], frame_labels), 4),
            "accuracy": round(float(np.r_[pg >= t, pw < t].mean()), 4),
            "mean_p_generated": round(float(pg.mean()), 4), "mean_p_world": round(float(pw.mean()), 4)}


def evaluate_detector(detector: Detector, pipe: Pipeline, n: int | None = None,
                      seed: int | None = None, other: Pipeline | None = None,
                      only: list[str] | None = None, progress: bool = False, log=None) -> dict:
    """The detector on `n` (default `detector.eval_clips` of the pipeline's config) held-out
    pairs of the pipeline, clean and under each perturbation, and on the samples of `other`
    (a pipeline it never saw: another seed or preset) against world clips of that pipeline's
    world. Returns `{"auc", "frame_auc", "rows": [...], ...}`; each row has `name`, `what`,
    `auc`, `frame_auc`, `accuracy` and each class's mean probability."""
    n = pipe.config.detector.eval_clips if n is None else n
    t0 = time.perf_counter()
    generated, world, _ = paired_clips(pipe, n, "detector_eval", seed, progress=progress)
    seconds = {"sampling": time.perf_counter() - t0}
    rows = []
    for name, fn in PERTURBATIONS.items():
        if only and name not in only and name != "clean":
            continue
        row = score(detector, fn(generated), fn(world))
        rows.append({"name": name, "what": PERTURBATION_HELP[name], **row})
        if log:
            log(f"[eval-detector] {name}: AUC {row['auc']:.3f}, frame AUC {row['frame_auc']:.3f}")
    if other is not None:
        t = time.perf_counter()
        g, w, _ = paired_clips(other, n, "detector_eval", seed, progress=progress)
        seconds["other_sampling"] = time.perf_counter() - t
        made = getattr(other, "made_from", {}) or {}
        rows.append({"name": "other model",
                     "what": (f"samples of another pipeline ({other.config.name}, seed "
                              f"{other.config.seed}, denoiser {str(made.get('denoiser_sha256'))[:8]}, "
                              f"{w.shape[1]}x{w.shape[2]}x{w.shape[3]}) against its world's clips"),
                     **score(detector, g, w)})
    seconds["total"] = time.perf_counter() - t0
    clean = rows[0]
    return {"n": n, "auc": clean["auc"], "frame_auc": clean["frame_auc"],
            "accuracy": clean["accuracy"], "threshold": detector.threshold, "rows": rows,
            "pipeline": {"preset": pipe.config.name, **pipe.made_from},
            "trained_on": getattr(detector, "meta", {}).get("trained_on"),
            "seconds": {k: round(v, 1) for k, v in seconds.items()}}


__all__ = ["roc_auc", "roc_curve", "paired_clips", "reencode_mp4", "resize", "crop", "add_noise",
           "PERTURBATIONS", "PERTURBATION_HELP", "score", "evaluate_detector"]
