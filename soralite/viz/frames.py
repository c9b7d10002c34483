"""Frames as figures: strips of frames, upscaling, and the helpers every figure of `soralite.viz` shares.

Every figure in `soralite.viz` follows one rule for its size: a frame is drawn `FRAME_INCHES`
inches wide (a strip of `n` frames is `n * FRAME_INCHES` wide), text is `TEXT_SIZE` points, and
figures are made by `new_figure` (a `matplotlib.figure.Figure` with a constrained layout, not
`pyplot`), so nothing touches global state or needs a display; in a notebook, a returned figure
shows itself as the cell's value.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FRAME_INCHES = 1.6          # width of one frame in a strip, inches
MAX_STRIP_FRAMES = 8        # frames a strip shows when none are named (evenly spaced)
PATH_TINT = 0.5             # a path is its object's colour mixed this far toward white
TEXT_SIZE = 8               # points, for titles and annotations
FIGURE_DPI = 100


def _rgb01(rgb: Sequence[int]) -> tuple[float, float, float]:
    return tuple(c / 255 for c in rgb)


def _tint(rgb: Sequence[int], amount: float = PATH_TINT) -> np.ndarray:
    """A colour mixed `amount` of the way toward white, uint8 (3,)."""
    rgb = np.asarray(rgb, np.float64)
    return np.round(rgb + amount * (255 - rgb)).astype(np.uint8)


def _as_clip(clip) -> np.ndarray:
    clip = np.asarray(clip)
    if clip.ndim == 3:
        clip = clip[None]                                   # (H, W, 3) -> (1, H, W, 3)
    if clip.dtype != np.uint8 or clip.ndim != 4 or clip.shape[-1] != 3:
        raise ValueError(f"expected a uint8 clip (T, H, W, 3) or image (H, W, 3); got "
                         f"{clip.dtype} {clip.shape} (convert model tensors with video.to_uint8)")
    return clip


def _pick_frames(T: int, frames: Sequence[int] | None, max_frames: int = MAX_STRIP_FRAMES) -> list[int]:
    """The frames to draw: those named (checked), else up to `max_frames` evenly spaced."""
    if frames is None:
        return sorted(set(np.linspace(0, T - 1, min(T, max_frames)).round().astype(int).tolist()))
    frames = [int(f) for f in frames]
    bad = [f for f in frames if not 0 <= f < T]
    if bad or not frames:
        raise ValueError(f"frames {bad or 'none'} are not in the clip; allowed: 0 .. {T - 1}")
    return frames


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=FIGURE_DPI, layout="constrained")
    FigureCanvasAgg(fig)                                    # renders without any GUI backend
    return fig


def _frame_axes(ax, image: np.ndarray, title: str | None = None) -> None:
    ax.imshow(image, interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=TEXT_SIZE)


# ----------------------------------------------------------------------------------------------
# Frames


def upscale(clip: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of uint8 `(T, H, W, 3)` to `(T, scale*H, scale*W, 3)`."""
    if isinstance(scale, bool) or int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be an integer >= 1 (got {scale!r})")
    return _as_clip(clip).repeat(int(scale), axis=1).repeat(int(scale), axis=2)


def frame_strip(clip: np.ndarray, frames: Sequence[int] | None = None, scale: float = FRAME_INCHES,
                titles: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """A row of frames of a uint8 clip `(T, H, W, 3)`, each `scale` inches wide, titled `t=...`
    (or by `titles`); for where a static picture reads better than an animation."""
    clip = _as_clip(clip)
    T, H, W, _ = clip.shape
    frames = _pick_frames(T, frames)
    if titles is not None and len(titles) != len(frames):
        raise ValueError(f"{len(titles)} titles for {len(frames)} frames; give one title a frame")
    fig = new_figure(scale * len(frames), scale * H / W + 0.35 + (0.3 if title else 0))
    axes = fig.subplots(1, len(frames), squeeze=False)[0]
    for k, (ax, t) in enumerate(zip(axes, frames)):
        _frame_axes(ax, clip[t], titles[k] if titles is not None else f"t={t}")
    if title:
        fig.suptitle(title, fontsize=TEXT_SIZE + 1)
    return fig


def figure_rgb(fig: Figure) -> np.ndarray:
    """A figure rendered to uint8 `(H, W, 3)` pixels (for tests, and for saving as an image)."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


__all__ = ["FRAME_INCHES", "MAX_STRIP_FRAMES", "TEXT_SIZE", "FIGURE_DPI", "upscale", "frame_strip",
           "figure_rgb", "new_figure"]
