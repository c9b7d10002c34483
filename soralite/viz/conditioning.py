"""Given frames, marked (notebook 09): clips with the frames a task was given outlined, and strips of them.

A task (animate, extend, connect, fill, long videos) hands the model some frames and has it make
the rest; to read its output one must see which frames were given. `outline_frames` draws a
border on those frames of uint8 clips (for `soralite.video.show`); `task_strip` is the still
version, a `frame_strip` whose titles say which frames were given; `latent_to_frames` turns a
mask over latent frames into one over frames.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from soralite.viz.frames import FRAME_INCHES, frame_strip

OUTLINE_RGB = (255, 255, 255)     # the border of a given frame: white (the world's background is black)


def _check_colour(colour) -> np.ndarray:
    c = np.asarray(colour)
    if c.shape != (3,) or not np.issubdtype(c.dtype, np.number) or (c < 0).any() or (c > 255).any():
        raise ValueError(f"colour must be three numbers in 0..255 (got {colour!r})")
    return c.astype(np.uint8)


def outline_frames(clips, given, colour=OUTLINE_RGB, width: int = 1) -> np.ndarray:
    """Clips `uint8 (N, T, H, W, 3)` (or one clip `(T, H, W, 3)`) with a border of `colour`,
    `width` pixels wide, drawn over the edge of every frame where `given (T,)` is True; the other
    frames are unchanged. Returns new uint8 clips of the same shape."""
    x = np.asarray(clips)
    single = x.ndim == 4
    if single:
        x = x[None]                                                      # (1, T, H, W, 3)
    if x.dtype != np.uint8 or x.ndim != 5 or x.shape[-1] != 3:
        raise ValueError(f"clips must be uint8 (N, T, H, W, 3) or (T, H, W, 3); got "
                         f"{np.asarray(clips).dtype} {np.asarray(clips).shape} (convert model "
                         f"tensors with soralite.video.to_uint8)")
    given = np.asarray(given)
    if given.ndim != 1 or len(given) != x.shape[1] or not (given.dtype == bool or np.isin(given, (0, 1)).all()):
        raise ValueError(f"given must be (T,) = ({x.shape[1]},) booleans, one a frame; got "
                         f"shape {given.shape}")
    given = given.astype(bool)
    H, W = x.shape[2:4]
    if isinstance(width, bool) or int(width) != width or not 1 <= width <= min(H, W) // 2:
        raise ValueError(f"width must be an integer in 1 .. {min(H, W) // 2} (half the frame); "
                         f"got {width!r}")
    width, c = int(width), _check_colour(colour)
    out = x.copy()
    f = out[:, given]                                                    # (N, G, H, W, 3), a copy
    f[:, :, :width], f[:, :, -width:] = c, c                             # top and bottom rows
    f[:, :, :, :width], f[:, :, :, -width:] = c, c                       # left and right columns
    out[:, given] = f
    return out[0] if single else out


def latent_to_frames(known, temporal_compression: int, frames: int | None = None) -> np.ndarray:
    """A mask over latent frames `(L,)` as one over frames `(L * c,)`: each latent frame holds
    `c = temporal_compression` frames; `frames` cuts it to that many (an image clip has 1)."""
    c = int(temporal_compression)
    if c < 1:
        raise ValueError(f"temporal_compression must be >= 1 (got {temporal_compression!r})")
    out = np.repeat(np.asarray(known, dtype=bool).reshape(-1), c)        # (L * c,)
    return out if frames is None else out[:frames]


def task_strip(clip, given, frames: Sequence[int] | None = None, title: str | None = None,
               colour=OUTLINE_RGB, scale: float = FRAME_INCHES) -> Figure:
    """A still of one clip `uint8 (T, H, W, 3)`: a `frame_strip` of `frames` (default: up to eight,
    evenly spaced) with the given frames (`given (T,)`) outlined and titled "given"."""
    clip = outline_frames(clip, given, colour)                           # (T, H, W, 3)
    given = np.asarray(given, dtype=bool)
    if frames is None:
        frames = sorted(set(np.linspace(0, len(clip) - 1, min(len(clip), 8)).round().astype(int).tolist()))
    titles = [f"t={t}" + (" given" if 0 <= t < len(given) and given[t] else "") for t in frames]
    return frame_strip(clip, frames, scale=scale, titles=titles, title=title)


__all__ = ["OUTLINE_RGB", "outline_frames", "latent_to_frames", "task_strip"]
