"""Pictures: every figure and annotated clip that the notebooks draw lives here, once (notebook 01 on).

Each function is pure: it takes arrays (clips, scene truths, tracks) and returns either a
matplotlib `Figure` or a uint8 clip `(T, H, W, 3)` that `soralite.video.show` can animate. Figures
are built with `matplotlib.figure.Figure`, not `pyplot`, so nothing here touches global state or
needs a display; in a notebook, a returned figure shows itself as the cell's value.

Sections:
- frames: `frame_strip`, `upscale`, `figure_rgb`
- the toy world: `plot_palette`, `draw_scene_truth` (an annotated clip), `truth_box`,
  `plot_scene_truth`
- the tracker: `labels_rgb`, `track_summary`, `draw_tracks`
- attention (notebook 08): `plot_attention`, `plot_word_attention`, `word_attention_clips`,
  `overlay_heatmap`, `attention_distance`, `plot_attention_distance`, `patch_coverage`,
  `attention_share`
- noise, latents, samples, trajectories: `plot_noise_schedules`, `noisy_clip`,
  `plot_noisy_clip`, `plot_latent_channels`, `plot_samples`, `trajectory_clips`,
  `steps_animation`
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from soralite.config import BACKGROUND_RGB, COLOURS, PALETTE, WALL_RGB
from soralite.tracker import label_pixels, track_clip

FRAME_INCHES = 1.6          # width of one frame in a strip, inches
MAX_STRIP_FRAMES = 8        # frames a strip shows when none are named (evenly spaced)
TRUTH_SCALE = 4             # draw_scene_truth upscales by this (nearest), so 1-pixel lines read
TRUTH_RGB = (255, 255, 255) # scene truth ink: boxes, centres, the wall's outline
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


def _new_figure(width: float, height: float) -> Figure:
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
    fig = _new_figure(scale * len(frames), scale * H / W + 0.35 + (0.3 if title else 0))
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


# ----------------------------------------------------------------------------------------------
# The toy world: palette, scene truth


def plot_palette() -> Figure:
    """The world's fixed palette (WORLD.md): one swatch a colour, the wall and the background,
    each with its name and RGB."""
    names = list(COLOURS) + ["wall", "background"]
    rgbs = [PALETTE[c] for c in COLOURS] + [WALL_RGB, BACKGROUND_RGB]
    fig = _new_figure(1.1 * len(names), 1.5)
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
    fig = _new_figure(max(scale * len(frames), 3 * scale * 1.6), scale * H / W * 2.6 + 1.0)
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


# ----------------------------------------------------------------------------------------------
# Attention (notebook 08): the weights that `dit.capture_attention` keeps, laid out over the
# token grid `(t, h, w)` and drawn over the clip's frames

HEAD_MEAN = "mean"          # `head=` value that averages the heads
HEAT_CMAP = "inferno"       # attention heatmaps
HEAT_ALPHA = 0.6            # a heatmap's weight where it is laid over a frame
QUERY_COLOUR = "cyan"       # the outline of the query patch


def _np(x) -> np.ndarray:
    return x.detach().float().cpu().numpy() if hasattr(x, "detach") else np.asarray(x, np.float64)


def head_weights(attn, head: int | str = HEAD_MEAN, batch: int = 0) -> np.ndarray:
    """One sample's weights `(N, M)` from attention `(B, heads, N, M)`: head `head`, or their mean."""
    attn = _np(attn)
    if attn.ndim != 4:
        raise ValueError(f"attention must be (B, heads, N, M); got shape {attn.shape}")
    if not 0 <= batch < attn.shape[0]:
        raise ValueError(f"batch {batch} out of range; the attention holds {attn.shape[0]} samples")
    if head == HEAD_MEAN:
        return attn[batch].mean(0)                                      # (N, M)
    if isinstance(head, bool) or not isinstance(head, (int, np.integer)) or not 0 <= head < attn.shape[1]:
        raise ValueError(f"head {head!r} not allowed; use {HEAD_MEAN!r} or 0 .. {attn.shape[1] - 1}")
    return attn[batch, int(head)]                                       # (N, M)


def query_index(grid: Sequence[int], query) -> int:
    """A query token's index in the patchify order: `query` is an index or a position `(t, y, x)`."""
    gt, gh, gw = (int(g) for g in grid)
    if isinstance(query, (int, np.integer)):
        if not 0 <= query < gt * gh * gw:
            raise ValueError(f"query {query} out of range; the grid {tuple(grid)} has {gt * gh * gw} tokens")
        return int(query)
    t, y, x = (int(q) for q in query)
    if not (0 <= t < gt and 0 <= y < gh and 0 <= x < gw):
        raise ValueError(f"query position {(t, y, x)} is outside the token grid (t, h, w) = {tuple(grid)}")
    return (t * gh + y) * gw + x


def attention_to_keys(attn, grid: Sequence[int], query, head: int | str = HEAD_MEAN,
                      batch: int = 0) -> np.ndarray:
    """Where one query token looks: its row of self-attention `(B, heads, N, N)` as `(t, h, w)`.

    Sums to 1; `.sum((1, 2))` is the attention mass per frame (time), a frame's slice is the
    spatial map of that frame's keys."""
    w = head_weights(attn, head, batch)                                 # (N, N)
    if w.shape[0] != w.shape[1] or w.shape[1] != int(np.prod(grid)):
        raise ValueError(f"self-attention {w.shape} does not fit the grid {tuple(grid)}")
    return w[query_index(grid, query)].reshape(tuple(grid))            # (t, h, w)


def word_heatmaps(cross, grid: Sequence[int], words: Sequence[int] | None = None,
                  head: int | str = HEAD_MEAN, batch: int = 0) -> np.ndarray:
    """How much each patch attends to each prompt token: cross-attention `(B, heads, N, L)` ->
    `(K, t, h, w)` for the token indices `words` (default all L); each map sums to its share."""
    w = head_weights(cross, head, batch)                                # (N, L)
    if w.shape[0] != int(np.prod(grid)):
        raise ValueError(f"cross-attention has {w.shape[0]} queries; the grid {tuple(grid)} "
                         f"has {int(np.prod(grid))} tokens")
    words = list(range(w.shape[1])) if words is None else [int(k) for k in words]
    bad = [k for k in words if not 0 <= k < w.shape[1]]
    if bad:
        raise ValueError(f"word indices {bad} out of range; the prompt has {w.shape[1]} token slots")
    return w[:, words].T.reshape(len(words), *grid)                     # (K, t, h, w)


def _grid_index(size: int, cells: int) -> np.ndarray:
    """For each of `size` pixels (or frames), the cell of `cells` equal cells it falls in."""
    return np.arange(size) * cells // size                              # (size,)


def upsample_heat(heat: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """A map over the token grid `(t, h, w)` spread over pixels `(T, H, W)`: each token's value
    on every pixel of its patch (nearest, so that the patches stay visible)."""
    heat = np.asarray(heat, np.float64)
    T, H, W = size
    gt, gh, gw = heat.shape
    return heat[np.ix_(_grid_index(T, gt), _grid_index(H, gh), _grid_index(W, gw))]   # (T, H, W)


def overlay_heatmap(clip: np.ndarray, heat: np.ndarray, alpha: float = HEAT_ALPHA,
                    cmap: str = HEAT_CMAP, vmax: float | None = None) -> np.ndarray:
    """A uint8 clip `(T, H, W, 3)` with a map over the token grid `(t, h, w)` laid over it, in
    colour `cmap` scaled to `[0, vmax]` (default: the map's maximum)."""
    from matplotlib import colormaps

    clip = _as_clip(clip)
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1] (got {alpha})")
    big = upsample_heat(heat, clip.shape[:3])                           # (T, H, W)
    top = vmax if vmax is not None else big.max()
    rgb = colormaps[cmap](np.clip(big / top, 0, 1) if top > 0 else big)[..., :3] * 255   # (T, H, W, 3)
    return np.round((1 - alpha) * clip + alpha * rgb).astype(np.uint8)


def grid_frames(T: int, gt: int) -> list[int]:
    """The first pixel frame of each latent frame of the token grid (time is compressed evenly)."""
    idx = _grid_index(T, gt)
    return [int(np.flatnonzero(idx == k)[0]) for k in range(gt)]


def _heat_panels(axes, heat: np.ndarray, clip: np.ndarray | None, vmax: float, titles) -> None:
    """Each frame's map of `heat (t, h, w)` on its axes, over the clip's frame where there is one."""
    gt, gh, gw = heat.shape
    frames = grid_frames(len(clip), gt) if clip is not None else list(range(gt))
    for k, ax in enumerate(axes):
        if clip is not None:
            H, W = clip.shape[1:3]
            _frame_axes(ax, clip[frames[k]], titles[k])
            ax.imshow(heat[k], cmap=HEAT_CMAP, vmin=0, vmax=vmax, alpha=HEAT_ALPHA,
                      extent=(-0.5, W - 0.5, H - 0.5, -0.5), interpolation="nearest")
        else:
            ax.imshow(heat[k], cmap=HEAT_CMAP, vmin=0, vmax=vmax, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(titles[k], fontsize=TEXT_SIZE)


def plot_attention(attn, grid: Sequence[int], query, head: int | str = HEAD_MEAN,
                   clip: np.ndarray | None = None, title: str | None = None, batch: int = 0,
                   scale: float = FRAME_INCHES) -> Figure:
    """Where one query patch looks (notebook 08). Top: for each latent frame, the attention on that
    frame's keys as an `(h, w)` map (over the clip's frame when `clip` is given), the query patch
    outlined; bottom: the attention mass per frame. `attn` is self-attention `(B, heads, N, N)`
    (full, spatial or temporal), `query` a token index or `(t, y, x)`, `head` an index or "mean"."""
    heat = attention_to_keys(attn, grid, query, head, batch)            # (t, h, w)
    qt, qy, qx = np.unravel_index(query_index(grid, query), tuple(grid))
    gt, gh, gw = heat.shape
    clip = _as_clip(clip) if clip is not None else None
    aspect = (clip.shape[1] / clip.shape[2]) if clip is not None else gh / gw
    fig = _new_figure(max(scale * gt, 4.0), scale * aspect + 1.6 + (0.3 if title else 0))
    gs = fig.add_gridspec(2, gt, height_ratios=[scale * aspect, 1.2])
    axes = [fig.add_subplot(gs[0, k]) for k in range(gt)]
    _heat_panels(axes, heat, clip, heat.max(), [f"t={k}" + (" (query)" if k == qt else "")
                                                for k in range(gt)])
    sy, sx = ((clip.shape[1] / gh, clip.shape[2] / gw) if clip is not None else (1.0, 1.0))
    axes[qt].add_patch(Rectangle((qx * sx - 0.5, qy * sy - 0.5), sx, sy, fill=False,
                                 ec=QUERY_COLOUR, lw=1.5))
    ax = fig.add_subplot(gs[1, :])
    mass = heat.sum((1, 2))                                             # (t,)
    ax.bar(range(gt), mass, color=["C1" if k == qt else "C0" for k in range(gt)])
    ax.set_xticks(range(gt)), ax.set_xlim(-0.5, gt - 0.5)
    ax.set_xlabel("key frame (latent)", fontsize=TEXT_SIZE)
    ax.set_ylabel("attention mass", fontsize=TEXT_SIZE)
    ax.tick_params(labelsize=TEXT_SIZE - 1)
    head_name = "mean of heads" if head == HEAD_MEAN else f"head {head}"
    fig.suptitle(title or f"query (t, y, x) = {(int(qt), int(qy), int(qx))}, {head_name}",
                 fontsize=TEXT_SIZE + 1)
    return fig


def plot_word_attention(cross, grid: Sequence[int], words: Sequence[str], word_indices=None,
                        clip: np.ndarray | None = None, head: int | str = HEAD_MEAN,
                        title: str | None = None, batch: int = 0, scale: float = FRAME_INCHES) -> Figure:
    """Text cross-attention over the clip (notebook 08): one row per prompt word, one panel per
    latent frame, each patch coloured by how much it attends to that word (one colour scale per
    row). `words` are the prompt's tokens (`Tokenizer.tokenize`); `word_indices` picks rows."""
    word_indices = list(range(len(words))) if word_indices is None else list(word_indices)
    heat = word_heatmaps(cross, grid, word_indices, head, batch)        # (K, t, h, w)
    K, gt, gh, gw = heat.shape
    clip = _as_clip(clip) if clip is not None else None
    aspect = (clip.shape[1] / clip.shape[2]) if clip is not None else gh / gw
    fig = _new_figure(scale * gt + 0.8, K * (scale * aspect + 0.3) + (0.3 if title else 0))
    axes = fig.subplots(K, gt, squeeze=False)
    for r, k in enumerate(word_indices):
        _heat_panels(axes[r], heat[r], clip, heat[r].max(),
                     [f"t={t}" if r == 0 else "" for t in range(gt)])
        axes[r, 0].set_ylabel(repr(words[k]), fontsize=TEXT_SIZE + 1)
    if title:
        fig.suptitle(title, fontsize=TEXT_SIZE + 1)
    return fig


def word_attention_clips(clip: np.ndarray, cross, grid: Sequence[int], word_indices: Sequence[int],
                         head: int | str = HEAD_MEAN, batch: int = 0) -> np.ndarray:
    """The clip once per word with that word's cross-attention laid over it: uint8
    `(K, T, H, W, 3)`, for `video.show(clips, captions=words)` (notebook 08)."""
    heat = word_heatmaps(cross, grid, word_indices, head, batch)        # (K, t, h, w)
    return np.stack([overlay_heatmap(clip, h) for h in heat])           # (K, T, H, W, 3)


# ----------------------------------------------------------------------------------------------
# Measuring attention: how far it reaches, and how much of it lands on an object (notebook 08)


def attention_distance(attn, positions, spacing: Sequence[float] = (1.0, 1.0, 1.0)):
    """Mean attention distance per head: `(space (heads,), time (heads,))` as float64 tensors.

    For each query, the attention-weighted mean distance to its keys (as ViT's "attention
    distance", Dosovitskiy et al. 2021, fig. 7), averaged over queries and samples: in space the
    Euclidean distance of `(y, x)`, in time `|t - t'|`. `positions (N, 3)` are the tokens'
    `(t, y, x)` (`AttentionMaps.positions`); `spacing` is one grid step in the units you want
    (`(1, 1, 1)`: latent frames and patches; `token_spacing(cfg)`: frames and pixels)."""
    import torch

    attn = torch.as_tensor(attn).double()                               # (B, h, N, N)
    pos = torch.as_tensor(positions).double() * torch.tensor(spacing, dtype=torch.float64)  # (N, 3)
    if attn.ndim != 4 or attn.shape[-1] != attn.shape[-2] or attn.shape[-1] != pos.shape[0]:
        raise ValueError(f"attention must be self-attention (B, heads, N, N) with N = "
                         f"{pos.shape[0]} positions; got {tuple(attn.shape)}")
    diff = pos[:, None] - pos[None]                                     # (N, N, 3)
    d_space = diff[..., 1:].norm(dim=-1)                                # (N, N)
    d_time = diff[..., 0].abs()                                         # (N, N)
    B, _, N, _ = attn.shape
    space = torch.einsum("bhij,ij->h", attn, d_space) / (B * N)         # (h,)
    time = torch.einsum("bhij,ij->h", attn, d_time) / (B * N)           # (h,)
    return space, time


def token_spacing(cfg) -> tuple[float, float, float]:
    """One step of the token grid in `(frames, pixels, pixels)` for a `Config`: the VAE's
    compression times the patch size."""
    pt, ph, pw = cfg.dit.patch_size
    tc = 1 if cfg.world.frames == 1 else cfg.vae.temporal_compression
    return (float(pt * tc), float(ph * cfg.vae.spatial_compression),
            float(pw * cfg.vae.spatial_compression))


def attention_distances(maps, spacing: Sequence[float] = (1.0, 1.0, 1.0)) -> dict:
    """Per kind of self-attention in `maps` (`AttentionMaps`): `{kind: (space, time)}`, each
    float64 `(layers, heads)`, with layers in the order of `sorted(maps.layers)`."""
    layers = sorted(maps.layers)
    kinds = [k for k in maps[layers[0]] if k != "cross"]
    out = {}
    for kind in kinds:
        pairs = [attention_distance(maps[i][kind], maps.positions, spacing) for i in layers]
        out[kind] = tuple(np.stack([_np(p[j]) for p in pairs]) for j in (0, 1))
    return out


def plot_attention_distance(distances: dict, units: tuple[str, str] = ("patches", "latent frames"),
                            layers: Sequence[int] | None = None, title: str | None = None,
                            uniform: tuple[float, float] | None = None) -> Figure:
    """Mean attention distance against depth (notebook 08): a dot per head, a line for their
    mean; left in space, right in time. `distances` is `attention_distances(maps)`; `uniform`,
    the `(space, time)` distances of uniform attention, is drawn dashed for reference."""
    fig = _new_figure(8.0, 3.0 + (0.3 if title else 0))
    axes = fig.subplots(1, 2)
    for j, (ax, unit) in enumerate(zip(axes, units)):
        for c, (kind, pair) in enumerate(distances.items()):
            d = np.asarray(pair[j])                                    # (layers, heads)
            x = np.arange(len(d)) if layers is None else np.asarray(layers)
            ax.plot(np.repeat(x, d.shape[1]), d.ravel(), "o", color=f"C{c}", alpha=0.4, ms=4)
            ax.plot(x, d.mean(1), "-", color=f"C{c}", label=f"{kind}: mean of heads")
            ax.set_xticks(x)
        if uniform is not None:
            ax.axhline(float(uniform[j]), color="gray", ls="--", lw=1, label="uniform attention")
        ax.set_xlabel("layer", fontsize=TEXT_SIZE)
        ax.set_ylabel(f"mean distance ({unit})", fontsize=TEXT_SIZE)
        ax.set_title("in space" if j == 0 else "in time", fontsize=TEXT_SIZE + 1)
        ax.tick_params(labelsize=TEXT_SIZE - 1)
        ax.legend(fontsize=TEXT_SIZE - 1)
    if title:
        fig.suptitle(title, fontsize=TEXT_SIZE + 1)
    return fig


def patch_coverage(mask: np.ndarray, grid: Sequence[int]) -> np.ndarray:
    """The share of each token's pixels that a boolean pixel mask `(T, H, W)` covers, `(t, h, w)`
    in [0, 1] (the token grid must divide the clip: each token is a block of pixels)."""
    mask = np.asarray(mask, bool)
    T, H, W = mask.shape
    gt, gh, gw = (int(g) for g in grid)
    if T % gt or H % gh or W % gw:
        raise ValueError(f"the token grid {tuple(grid)} does not divide the mask {mask.shape}")
    blocks = mask.reshape(gt, T // gt, gh, H // gh, gw, W // gw)        # (t, ., h, ., w, .)
    return blocks.mean(axis=(1, 3, 5))                                  # (t, h, w)


def attention_share(weights: np.ndarray, coverage: np.ndarray) -> tuple[float, float]:
    """`(share, chance)`: the share of one word's attention `weights` over the patches `(t, h, w)`
    (or `(N,)`) that lands on an object, each patch counted by the share `coverage` of it the
    object fills; and what uniform attention would give, the object's share of the clip."""
    w, c = np.asarray(weights, np.float64).ravel(), np.asarray(coverage, np.float64).ravel()
    if w.shape != c.shape:
        raise ValueError(f"weights {w.shape} and coverage {c.shape} must cover the same patches")
    if w.sum() <= 0:
        raise ValueError("the word gets no attention at all (a padding slot?); pick a prompt word")
    return float((w * c).sum() / w.sum()), float(c.mean())


# ----------------------------------------------------------------------------------------------
# Noise, latents, samples and trajectories (notebooks 04, 06, 07, 08)

NOISE_SCHEDULES = ("linear", "cosine", "sigmoid", "flow")   # DDPM beta schedules and the straight path
SCHEDULE_STEPS = 1000       # DDPM timesteps behind a noise level u in [0, 1]
LOG_SNR_CLIP = 1e-6         # u is kept inside [clip, 1 - clip] where log-SNR is drawn
LATENT_CMAP = "RdBu_r"      # latent channels: signed values, symmetric colour scale


def schedule_alpha_sigma(schedule: str, u: float, num_timesteps: int = SCHEDULE_STEPS,
                         shift: float = 1.0) -> tuple[float, float]:
    """`(alpha, sigma)` of `x_t = alpha x0 + sigma eps` at noise level `u` in [0, 1]: DDPM
    schedules at timestep `round(u (N - 1))`, the straight path ("flow") at time `u` shifted."""
    from soralite import schedules as S

    if schedule not in NOISE_SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; allowed: {', '.join(NOISE_SCHEDULES)}")
    if not 0 <= u <= 1:
        raise ValueError(f"noise level u must be in [0, 1] (got {u})")
    if schedule == "flow":
        import torch

        t = float(S.shift_timesteps(torch.tensor(float(u), dtype=torch.float64), shift))
        return 1 - t, t
    ab = float(S.alphas_cumprod(S.get_betas(schedule, num_timesteps))[round(u * (num_timesteps - 1))])
    return ab ** 0.5, (1 - ab) ** 0.5


def noisy_clip(clip: np.ndarray, u: float, schedule: str = "cosine", seed: int = 0,
               noise: np.ndarray | None = None) -> np.ndarray:
    """The clip noised to level `u` under `schedule` (pixels, as notebook 04 does), uint8
    `(T, H, W, 3)`: `alpha x0 + sigma eps` in [-1, 1], clipped. Noise from `seed` unless given."""
    clip = _as_clip(clip)
    x0 = clip.astype(np.float64) / 127.5 - 1                            # (T, H, W, 3) in [-1, 1]
    eps = np.random.default_rng(seed).standard_normal(x0.shape) if noise is None else np.asarray(noise)
    alpha, sigma = schedule_alpha_sigma(schedule, u)
    x_t = alpha * x0 + sigma * eps                                      # (T, H, W, 3)
    return np.round((np.clip(x_t, -1, 1) + 1) * 127.5).astype(np.uint8)


def plot_noisy_clip(clip: np.ndarray, u: float, schedule: str = "cosine", seed: int = 0,
                    frames: Sequence[int] | None = None, scale: float = FRAME_INCHES) -> Figure:
    """A frame strip of the clip noised to level `u` under `schedule`, titled with alpha, sigma
    and log-SNR (notebook 04's slider; `explore.noise_explorer`)."""
    alpha, sigma = schedule_alpha_sigma(schedule, u)
    snr = "inf" if sigma == 0 else ("-inf" if alpha == 0 else f"{2 * np.log(alpha / sigma):+.2f}")
    return frame_strip(noisy_clip(clip, u, schedule, seed), frames, scale,
                       title=f"{schedule}, u={u:.2f}: alpha={alpha:.3f}, sigma={sigma:.3f}, log-SNR {snr}")


def plot_noise_schedules(schedules: Sequence[str] = NOISE_SCHEDULES, shifts: Sequence[float] = (1.0,),
                         num_timesteps: int = SCHEDULE_STEPS) -> Figure:
    """`alphas_cumprod` and log-SNR against the noise level `u = t / N` (notebook 04): each DDPM
    schedule, and the straight path once per flow shift. For flow, the left panel shows the
    signal's share of the variance, `alpha^2 / (alpha^2 + sigma^2) = SNR / (1 + SNR)`, which is
    `alphas_cumprod` for a variance-preserving schedule."""
    bad = [s for s in schedules if s not in NOISE_SCHEDULES]
    if bad:
        raise ValueError(f"unknown schedules {bad}; allowed: {', '.join(NOISE_SCHEDULES)}")
    u = np.linspace(LOG_SNR_CLIP, 1 - LOG_SNR_CLIP, 400)
    fig = _new_figure(9.0, 3.2)
    ax_ab, ax_snr = fig.subplots(1, 2)
    for name in schedules:
        for shift in (shifts if name == "flow" else (1.0,)):
            a, s = np.array([schedule_alpha_sigma(name, v, num_timesteps, shift) for v in u]).T  # (400,) x 2
            label = name if name != "flow" or len(shifts) == 1 else f"flow, shift {shift:g}"
            ax_ab.plot(u, a ** 2 / (a ** 2 + s ** 2), label=label)
            ax_snr.plot(u, 2 * np.log(np.maximum(a, LOG_SNR_CLIP) / np.maximum(s, LOG_SNR_CLIP)), label=label)
    ax_ab.set_ylabel("alphas_cumprod = SNR / (1 + SNR)", fontsize=TEXT_SIZE)
    ax_snr.set_ylabel("log-SNR", fontsize=TEXT_SIZE)
    for ax in (ax_ab, ax_snr):
        ax.set_xlabel("noise level u = t / N", fontsize=TEXT_SIZE)
        ax.tick_params(labelsize=TEXT_SIZE - 1)
        ax.legend(fontsize=TEXT_SIZE - 1)
    return fig


def plot_latent_channels(z, frames: Sequence[int] | None = None, scale: float = FRAME_INCHES / 1.5) -> Figure:
    """A latent `(C, t, h, w)` as images: one row per channel, one column per latent frame, each
    channel on its own symmetric colour scale (blue negative, red positive)."""
    z = _np(z)
    if z.ndim != 4:
        raise ValueError(f"a latent must be (C, t, h, w) (index the batch first); got shape {z.shape}")
    C, t, h, w = z.shape
    frames = _pick_frames(t, frames)
    fig = _new_figure(scale * len(frames) + 0.6, scale * C * h / w + 0.4)
    axes = fig.subplots(C, len(frames), squeeze=False)
    for c in range(C):
        top = float(np.abs(z[c]).max()) or 1.0
        for k, f in enumerate(frames):
            ax = axes[c, k]
            ax.imshow(z[c, f], cmap=LATENT_CMAP, vmin=-top, vmax=top, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_title(f"t={f}", fontsize=TEXT_SIZE)
        axes[c, 0].set_ylabel(f"ch {c}\n|z|<={top:.2f}", fontsize=TEXT_SIZE - 1)
    return fig


def plot_samples(clips: np.ndarray, captions: Sequence[str], frames: Sequence[int] | None = None,
                 scale: float = FRAME_INCHES) -> Figure:
    """A sheet of samples, one row per clip (uint8 `(N, T, H, W, 3)`), titled with its caption:
    a still companion to `video.show(clips, captions)`, which animates them."""
    clips = np.asarray(clips)
    if clips.ndim != 5:
        raise ValueError(f"clips must be uint8 (N, T, H, W, 3); got shape {clips.shape}")
    if len(captions) != len(clips):
        raise ValueError(f"{len(clips)} clips but {len(captions)} captions; give one caption a clip")
    N, T, H, W, _ = clips.shape
    frames = _pick_frames(T, frames)
    fig = _new_figure(scale * len(frames), N * (scale * H / W + 0.3))
    rows = fig.subfigures(N, 1, squeeze=False)[:, 0]
    for row, clip, text in zip(rows, clips, captions):
        for ax, f in zip(row.subplots(1, len(frames), squeeze=False)[0], frames):
            _frame_axes(ax, _as_clip(clip)[f])
        row.suptitle(text, fontsize=TEXT_SIZE)
    return fig


def trajectory_clips(trajectory, decode=None, sample: int = 0,
                     which: str = "pred_original_samples") -> np.ndarray:
    """A sampler `Trajectory` as one clip per step, uint8 `(S, T, H, W, 3)`: the model's guess of
    x0 at each step (`which="pred_original_samples"`) or the noisy `x_t` (`"samples"`). `decode`
    maps latents `(S, C, t, h, w)` to uint8 clips (e.g. `pipe.decode_latents`); None: pixels."""
    from soralite.video import to_uint8

    if which not in ("pred_original_samples", "samples"):
        raise ValueError(f"which must be 'pred_original_samples' or 'samples' (got {which!r})")
    import torch

    steps = torch.stack([x[sample] for x in getattr(trajectory, which)])   # (S, C, t, h, w)
    return np.asarray(decode(steps)) if decode is not None else to_uint8(steps)


def steps_animation(step_clips: np.ndarray, frames: Sequence[int] | None = None, pad: int = 2) -> np.ndarray:
    """Sampling as an animation: frame k of the result is step k's clip laid out as a row of its
    frames, uint8 `(S, H, n (W + pad) - pad, 3)`; feed it to `video.show`."""
    step_clips = np.asarray(step_clips)
    if step_clips.ndim != 5 or step_clips.dtype != np.uint8:
        raise ValueError(f"step_clips must be uint8 (S, T, H, W, 3); "
                         f"got {step_clips.dtype} {step_clips.shape}")
    S, T, H, W, _ = step_clips.shape
    frames = _pick_frames(T, frames)
    out = np.full((S, H, len(frames) * (W + pad) - pad, 3), 255, np.uint8)
    for k, f in enumerate(frames):
        out[:, :, k * (W + pad):k * (W + pad) + W] = step_clips[:, f]
    return out
