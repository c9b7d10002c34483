"""The toy world and the tracker, drawn: the palette, a clip with its scene truth, what the tracker saw (notebook 01)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from soralite.config import BACKGROUND_RGB, COLOURS, PALETTE, WALL_RGB
from soralite.viz.frames import (FRAME_INCHES, TEXT_SIZE, _as_clip, _frame_axes, _pick_frames,
                                 _rgb01, _tint, frame_strip, new_figure, upscale)
from soralite.world import label_pixels, track_clip

TRUTH_SCALE = 4             # draw_scene_truth upscales by this (nearest), so 1-pixel lines read
TRUTH_RGB = (255, 255, 255) # scene truth ink: boxes, centres, the wall's outline


def plot_palette() -> Figure:
    """The world's fixed palette (docs/world.md): one swatch a colour, the wall and the background,
    each with its name and RGB."""
    names = list(COLOURS) + ["wall", "background"]
    rgbs = [PALETTE[c] for c in COLOURS] + [WALL_RGB, BACKGROUND_RGB]
    fig = new_figure(1.1 * len(names), 1.5)
    axes = fig.subplots(1, len(names))
    for ax, name, rgb in zip(axes, names, rgbs):
        ax.imshow(np.full((4, 4, 3), rgb, np.uint8))
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(f"{name}\n{tuple(rgb)}", fontsize=TEXT_SIZE)
    return fig


def _set(img: np.ndarray, rows, cols, rgb) -> None:
    """Paint the pixels `(rows, cols)` of `img (H, W, 3)` that lie inside it."""
    rows, cols = np.asarray(rows, int), np.asarray(cols, int)
    rows, cols = np.broadcast_arrays(rows, cols)
    inside = (rows >= 0) & (rows < img.shape[0]) & (cols >= 0) & (cols < img.shape[1])
    img[rows[inside], cols[inside]] = rgb


def _box_ring(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, rgb) -> None:
    """A 1-pixel outline just outside the pixel box `[x0, x1) x [y0, y1)`."""
    xs, ys = np.arange(x0 - 1, x1 + 1), np.arange(y0 - 1, y1 + 1)
    _set(img, y0 - 1, xs, rgb), _set(img, y1, xs, rgb)
    _set(img, ys, x0 - 1, rgb), _set(img, ys, x1, rgb)


def _polyline(img: np.ndarray, xs: np.ndarray, ys: np.ndarray, rgb) -> None:
    """Join points `(xs, ys)` (pixels, upscaled) with 1-pixel segments."""
    for (xa, ya, xb, yb) in zip(xs[:-1], ys[:-1], xs[1:], ys[1:]):
        n = int(np.ceil(max(abs(xb - xa), abs(yb - ya)))) + 1
        u = np.linspace(0, 1, n)
        _set(img, np.floor(ya + u * (yb - ya)), np.floor(xa + u * (xb - xa)), rgb)


def truth_box(cx: float, cy: float, side: float, scale: int = TRUTH_SCALE) -> tuple[int, int, int, int]:
    """An object's box `[x0, x1) x [y0, y1)` in pixels of a clip upscaled by `scale`."""
    half = side / 2
    return (round((cx - half) * scale), round((cy - half) * scale),
            round((cx + half) * scale), round((cy + half) * scale))


def draw_scene_truth(clip: np.ndarray, scene, scale: int = TRUTH_SCALE) -> np.ndarray:
    """The scene truth drawn over a clip, as a uint8 clip `(T, scale*H, scale*W, 3)` for `show`.

    Per frame: the wall's outline, each object's path so far (its colour, tinted), its box (a
    1-pixel ring just outside it) and its centre (a cross), the latter two in `TRUTH_RGB`."""
    clip = _as_clip(clip)
    T, H, W, _ = clip.shape
    if (T, H, W) != (scene.frames, scene.height, scene.width):
        raise ValueError(f"clip {T}x{H}x{W} does not match its scene "
                         f"{scene.frames}x{scene.height}x{scene.width}")
    out = upscale(clip, scale)                                          # (T, sH, sW, 3)
    arm = max(1, scale // 2)                                            # centre cross, pixels
    for t in range(T):
        img = out[t]                                                    # (sH, sW, 3), a view
        if scene.wall:
            _box_ring(img, scene.wall[0] * scale + 1, 1, scene.wall[1] * scale - 1,
                      H * scale - 1, TRUTH_RGB)                         # just inside the frame
        for o in scene.objects:
            path_x, path_y = o.cx[:t + 1] * scale, o.cy[:t + 1] * scale  # (t+1,) upscaled
            _polyline(img, path_x, path_y, _tint(PALETTE[o.colour]))
        for o in scene.objects:
            _box_ring(img, *truth_box(o.cx[t], o.cy[t], o.side, scale), TRUTH_RGB)
            x, y = int(np.floor(o.cx[t] * scale)), int(np.floor(o.cy[t] * scale))
            _set(img, y, np.arange(x - arm, x + arm + 1), TRUTH_RGB)
            _set(img, np.arange(y - arm, y + arm + 1), x, TRUTH_RGB)
    return out


def plot_scene_truth(clip: np.ndarray, scene, frames: Sequence[int] | None = None,
                     scale: float = FRAME_INCHES) -> Figure:
    """A frame strip with the scene truth on each frame: every object's box and centre, its whole
    trajectory dotted, the wall outlined dashed; titled with the caption."""
    clip = _as_clip(clip)
    fig = frame_strip(clip, frames, scale, title=scene.caption)
    for ax, t in zip(fig.axes, _pick_frames(len(clip), frames)):
        if scene.wall:                                                  # imshow: pixel j spans j +- 0.5
            ax.add_patch(Rectangle((scene.wall[0] - 0.5, -0.5), scene.wall[1] - scene.wall[0],
                                   scene.height, fill=False, ec="w", ls="--", lw=0.8))
        for o in scene.objects:
            path = _rgb01(_tint(PALETTE[o.colour]))
            ax.plot(o.cx - 0.5, o.cy - 0.5, ls=":", color=path, lw=1.0)
            ax.add_patch(Rectangle((o.cx[t] - o.side / 2 - 0.5, o.cy[t] - o.side / 2 - 0.5),
                                   o.side, o.side, fill=False, ec="w", lw=0.9))
            ax.plot(o.cx[t] - 0.5, o.cy[t] - 0.5, "+", color="w", ms=5)
        ax.set_xlim(-0.5, scene.width - 0.5), ax.set_ylim(scene.height - 0.5, -0.5)
    return fig


# ----------------------------------------------------------------------------------------------
# The tracker: what it saw


def labels_rgb(labels: np.ndarray) -> np.ndarray:
    """A label map from `tracker.label_pixels` `(..., H, W)` as uint8 RGB `(..., H, W, 3)`:
    background black, each colour its palette colour, the wall gray."""
    table = np.array([PALETTE[c] for c in COLOURS] + [WALL_RGB, BACKGROUND_RGB], np.uint8)  # (8, 3)
    labels = np.asarray(labels)
    return table[np.where(labels < 0, len(table) - 1, labels)]


def track_summary(track) -> str:
    """One line for a `tracker.Track`: what it read (shape, size, motion)."""
    read = [track.shape or "no shape", track.size or "no size", track.motion or "no motion"]
    return f"{track.colour}: {', '.join(read)}"


def draw_tracks(clip: np.ndarray, tracks=None, frames: Sequence[int] | None = None,
                label_frame: int | None = None, title: str | None = None,
                scale: float = FRAME_INCHES) -> Figure:
    """What the tracker saw in a clip (notebook 01).

    Top: a frame strip with each blob's bounding box (solid where the blob is clear of the wall,
    dashed where it touches it) and its centroid. Bottom: the label map of one frame; every
    centroid track over the whole clip, annotated with what the tracker read (shape, size,
    motion); and that reading as text. `tracks` is `tracker.track_clip(clip)` (computed if None).
    """
    clip = _as_clip(clip)
    T, H, W, _ = clip.shape
    tracks = track_clip(clip) if tracks is None else tracks
    frames = _pick_frames(T, frames)
    label_frame = T // 2 if label_frame is None else _pick_frames(T, [label_frame])[0]
    # width: the strip, or three bottom panels; height: the strip and the taller bottom row
    fig = new_figure(max(scale * len(frames), 3 * scale * 1.6), scale * H / W * 2.6 + 1.0)
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.6])
    if title:
        fig.suptitle(title, fontsize=TEXT_SIZE + 1)

    for ax, t in zip(top.subplots(1, len(frames), squeeze=False)[0], frames):
        _frame_axes(ax, clip[t], f"t={t}")
        for tr in tracks.tracks.values():
            if not tr.present[t]:
                continue
            x0, y0, x1, y1 = tr.bbox[t]
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="w",
                                   lw=0.8, ls="-" if tr.valid[t] else "--"))
            ax.plot(*(tr.centroid[t] - 0.5), "+", color="w", ms=5)
    top.suptitle("blobs: bounding box (dashed: touching the wall) and centroid", fontsize=TEXT_SIZE)

    ax_lab, ax_trk, ax_txt = bottom.subplots(1, 3, width_ratios=[1, 1, 1.2])
    labels, _ = label_pixels(clip[label_frame:label_frame + 1])        # (1, H, W)
    _frame_axes(ax_lab, labels_rgb(labels[0]), f"labels, t={label_frame}")
    found = [int(v) for v in np.unique(labels[0]) if v >= 0]
    names = list(COLOURS) + ["wall"]
    if found:
        counts = [int((labels[0] == v).sum()) for v in found]
        ax_lab.legend(handles=[Patch(color=_rgb01(labels_rgb(np.array(v))), label=f"{names[v]} {n} px")
                               for v, n in zip(found, counts)],
                      fontsize=TEXT_SIZE - 2, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                      frameon=False)

    ax_trk.imshow(np.zeros((H, W, 3), np.uint8))
    if tracks.wall is not None:
        ax_trk.axvspan(tracks.wall[0] - 0.5, tracks.wall[1] - 0.5, color=_rgb01(WALL_RGB), alpha=0.6)
    for tr in tracks.tracks.values():
        colour = _rgb01(PALETTE[tr.colour])
        x, y = tr.centroid[:, 0] - 0.5, tr.centroid[:, 1] - 0.5                # (T,), nan if absent
        ax_trk.plot(x, y, "-", color=colour, lw=1)
        ax_trk.plot(x[tr.valid], y[tr.valid], "o", color=colour, ms=3)
        ax_trk.plot(x[tr.present & ~tr.valid], y[tr.present & ~tr.valid], "o", mfc="none",
                    color=colour, ms=3)
        last = np.flatnonzero(tr.present)[-1]
        ax_trk.annotate(tr.motion or "no motion", (x[last], y[last]), xytext=(3, 3),
                        textcoords="offset points", color="w", fontsize=TEXT_SIZE - 1)
    ax_trk.set_xlim(-0.5, W - 0.5), ax_trk.set_ylim(H - 0.5, -0.5)
    ax_trk.set_xticks([]), ax_trk.set_yticks([])
    ax_trk.set_title("centroid tracks (hollow: at the wall)", fontsize=TEXT_SIZE)

    ax_txt.axis("off")
    lines = []
    for tr in tracks.tracks.values():
        lines.append(track_summary(tr))
        lines.append(f"   seen {int(tr.present.sum())}/{T} frames, clear {int(tr.valid.sum())}/{T}")
    if tracks.wall is not None:
        lines.append(f"wall: columns {tracks.wall[0]} to {tracks.wall[1] - 1}")
    ax_txt.text(0, 1, "\n".join(lines) or "nothing found", va="top", ha="left",
                fontsize=TEXT_SIZE, family="monospace", transform=ax_txt.transAxes)
    ax_txt.set_title("what the tracker read", fontsize=TEXT_SIZE)
    return fig



__all__ = ["TRUTH_SCALE", "TRUTH_RGB", "plot_palette", "truth_box", "draw_scene_truth",
           "plot_scene_truth", "labels_rgb", "track_summary", "draw_tracks"]
