"""Attention, drawn (notebook 08): the weights that `capture_attention` keeps, laid out over the
clip's patches, and how far attention reaches. The measurements behind the pictures (a head, a
query's keys, a word's patches, distances, shares) are `soralite.studies.attention`'s,
re-exported here."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from soralite.studies.attention import (HEAD_MEAN, attention_distance, attention_distances,
                                       attention_share, attention_to_keys, head_weights,
                                       patch_coverage, query_index, token_spacing, word_heatmaps)
from soralite.viz.frames import FRAME_INCHES, TEXT_SIZE, _as_clip, _frame_axes, new_figure

HEAT_CMAP = "inferno"       # attention heatmaps
HEAT_ALPHA = 0.6            # a heatmap's weight where it is laid over a frame
QUERY_COLOUR = "cyan"       # the outline of the query patch


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
    fig = new_figure(max(scale * gt, 4.0), scale * aspect + 1.6 + (0.3 if title else 0))
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
    fig = new_figure(scale * gt + 0.8, K * (scale * aspect + 0.3) + (0.3 if title else 0))
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
# How far attention reaches, drawn (notebook 08)


def plot_attention_distance(distances: dict, units: tuple[str, str] = ("patches", "latent frames"),
                            layers: Sequence[int] | None = None, title: str | None = None,
                            uniform: tuple[float, float] | None = None) -> Figure:
    """Mean attention distance against depth (notebook 08): a dot per head, a line for their
    mean; left in space, right in time. `distances` is `attention_distances(maps)`; `uniform`,
    the `(space, time)` distances of uniform attention, is drawn dashed for reference."""
    fig = new_figure(8.0, 3.0 + (0.3 if title else 0))
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


__all__ = ["HEAD_MEAN", "HEAT_CMAP", "head_weights", "query_index", "attention_to_keys",
           "word_heatmaps", "upsample_heat", "overlay_heatmap", "grid_frames", "plot_attention",
           "plot_word_attention", "word_attention_clips", "attention_distance", "token_spacing",
           "attention_distances", "plot_attention_distance", "patch_coverage", "attention_share"]
