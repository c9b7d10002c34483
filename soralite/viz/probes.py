"""The world-simulation probes, drawn (notebook 11): tracks over time, model against world; the
permanence timeline; a probe's measure per clip against the world's own clips and a reference
band (phyworld's anchors, the world's gravity).

Every function takes arrays (clips, what the tracker read, numbers) and returns a matplotlib
`Figure`; nothing here runs a model or a probe (`soralite.studies.probes` does).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from soralite.config import PALETTE, WALL_RGB
from soralite.viz.frames import TEXT_SIZE, _as_clip, _rgb01, new_figure
from soralite.world import track_clip

TRACKS_SIZE = (9.0, 2.6)           # inches: x and y against the frame, side by side
HISTOGRAM_SIZE = (6.4, 2.8)        # inches: one measure, a histogram per source, the legend beside
TIMELINE_ROW_INCHES = 0.32         # inches per clip of the permanence timeline
LINE_STYLES = ("-", "--", ":", "-.")   # the first clip solid (the world), then the model's
GIVEN_RGB = (255, 200, 80)         # the given frames' shading


def _centroids(clip: np.ndarray, colour: str) -> np.ndarray:
    """`(T, 2)` the tracked centroid (x, y) in pixels of `colour`, nan where it is not seen."""
    tr = track_clip(clip).tracks.get(colour)
    return tr.centroid if tr is not None else np.full((len(clip), 2), np.nan)


def plot_tracks_over_time(clips: Sequence[np.ndarray], labels: Sequence[str], colour: str,
                          given: int = 0, wall: tuple[int, int] | None = None,
                          marks: dict[str, float] | None = None, title: str | None = None) -> Figure:
    """The tracked centroid of `colour`, x (left) and y (right) in pixels against the frame, for
    each clip (`labels`: the first solid, the others dashed and dotted). The first `given` frames
    (those a probe gave the model) are shaded; `wall` (columns `[x0, x1)`) is a band on the x
    panel; `marks` are labelled vertical lines (a frame each: when the object should come out)."""
    if len(clips) != len(labels):
        raise ValueError(f"{len(clips)} clips but {len(labels)} labels; give one label a clip")
    clips = [_as_clip(c) for c in clips]
    fig = new_figure(*TRACKS_SIZE)
    ax_x, ax_y = fig.subplots(1, 2)
    rgb = _rgb01(PALETTE[colour])
    for k, (clip, label) in enumerate(zip(clips, labels)):
        xy = _centroids(clip, colour)                                   # (T, 2)
        t = np.arange(len(clip))
        style = LINE_STYLES[k % len(LINE_STYLES)]
        for ax, j in ((ax_x, 0), (ax_y, 1)):
            ax.plot(t, xy[:, j], style, color=rgb if k == 0 else f"C{k - 1}", lw=1.2, label=label,
                    marker="." if len(clip) <= 64 else None, ms=3)
    H, W = clips[0].shape[1:3]
    for ax, name, size in ((ax_x, "x", W), (ax_y, "y", H)):
        if given:
            ax.axvspan(-0.5, given - 0.5, color=_rgb01(GIVEN_RGB), alpha=0.25, lw=0,
                       label=f"given ({given} frames)" if ax is ax_x else None)
        for k, (what, frame) in enumerate((marks or {}).items()):
            ax.axvline(frame, color=f"C{k + 3}", lw=0.9, ls=":", label=what if ax is ax_x else None)
        ax.set(xlabel="frame", ylabel=f"{name} (pixels)", ylim=(size, 0) if name == "y" else (0, size))
        ax.tick_params(labelsize=TEXT_SIZE)
    if wall is not None:
        ax_x.axhspan(wall[0], wall[1], color=_rgb01(WALL_RGB), alpha=0.35, lw=0, label="wall")
    ax_x.set_title(f"{colour}: x against time", fontsize=TEXT_SIZE)
    ax_y.set_title(f"{colour}: y against time (down is down)", fontsize=TEXT_SIZE)
    ax_x.legend(fontsize=TEXT_SIZE - 2, loc="best")
    if title:
        fig.suptitle(title, fontsize=TEXT_SIZE + 1)
    return fig


def plot_measure_histogram(values: dict[str, Sequence[float]], xlabel: str, title: str = "",
                           band: tuple[float, float, str] | None = None,
                           lines: dict[str, float] | None = None, bins: int = 12) -> Figure:
    """One measure per clip (velocity error, fitted gravity, ...) as a histogram per source
    (`{"model": [...], "world's own clips": [...]}`; None and nan are left out), with a reference
    `band` `(lo, hi, label)` and reference `lines` `{label: x}`. A line beyond the values' range is
    written at the edge with an arrow, not drawn, so the histograms keep their scale."""
    fig = new_figure(*HISTOGRAM_SIZE)
    ax = fig.subplots()
    clean = {k: np.array([v for v in vs if v is not None and np.isfinite(v)], float)
             for k, vs in values.items()}
    allv = np.concatenate([v for v in clean.values() if len(v)] or [np.zeros(0)])
    refs = [x for x in (lines or {}).values()] + (list(band[:2]) if band else [])
    lo = min([*allv.tolist(), *[r for r in refs if r is not None]] or [0.0])
    hi_data = float(allv.max()) if len(allv) else 1.0
    near = [r for r in refs if r <= 4 * max(hi_data, 1e-9)]           # references shown in place
    hi = max([hi_data, *near])
    edges = np.linspace(lo, hi if hi > lo else lo + max(abs(lo), 1e-9), bins + 1)
    for k, (name, v) in enumerate(clean.items()):
        if len(v):
            ax.hist(np.clip(v, edges[0], edges[-1]), bins=edges, alpha=0.55, color=f"C{k}",
                    label=f"{name} (n={len(v)}, median {np.median(v):.4g})")
        else:
            ax.plot([], [], color=f"C{k}", label=f"{name}: nothing measured")
    if band is not None:
        b0, b1, text = band
        if b0 <= edges[-1] * 1.25:
            ax.axvspan(b0, min(b1, edges[-1]), color="0.6", alpha=0.3, lw=0, label=f"{text} ({b0:g}-{b1:g})")
    for k, (text, x) in enumerate((lines or {}).items()):
        if x <= edges[-1] * 1.25:
            ax.axvline(x, color=f"C{k + 4}", lw=1.2, ls="--", label=f"{text} ({x:g})")
        else:
            ax.annotate(f"{text} = {x:g} →", xy=(0.98, 0.5 - 0.08 * k), xycoords="axes fraction",
                        ha="right", fontsize=TEXT_SIZE - 1, color=f"C{k + 4}",
                        bbox={"fc": "white", "ec": "none", "alpha": 0.8})
    ax.set(xlabel=xlabel, ylabel="clips")
    ax.tick_params(labelsize=TEXT_SIZE)
    ax.legend(fontsize=TEXT_SIZE - 2, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title(title, fontsize=TEXT_SIZE)
    return fig


def plot_against_anchors(names: Sequence[str], series: dict[str, Sequence[float | None]],
                         ylabel: str, title: str = "",
                         band: tuple[float, float, str] | None = None,
                         lines: dict[str, float] | None = None, log: bool = True) -> Figure:
    """A measure per case (in distribution, faster, doubled gravity, ...) as grouped bars, one
    group a case and one bar a source (`{"model": [...], "world's own clips": [...]}`, None where
    not measured), with a horizontal reference `band` `(lo, hi, label)` and `lines` `{label: y}`
    (phyworld's anchors). Log scale by default, so both an anchor of 0.43 and one of 0.01 read."""
    fig = new_figure(max(4.4, 1.2 * len(names) + 2.0), 2.9)
    ax = fig.subplots()
    x = np.arange(len(names))
    width = 0.8 / max(1, len(series))
    for k, (who, vals) in enumerate(series.items()):
        v = np.array([np.nan if a is None else float(a) for a in vals])
        bars = ax.bar(x + (k - (len(series) - 1) / 2) * width, np.where(np.isfinite(v), v, 0), width,
                      color=f"C{k}", label=who)
        for b, a in zip(bars, v):
            ax.annotate("n/a" if not np.isfinite(a) else f"{a:.3g}", (b.get_x() + b.get_width() / 2,
                        b.get_height() if np.isfinite(a) and a > 0 else 0), ha="center", va="bottom",
                        fontsize=TEXT_SIZE - 2)
    if band is not None:
        ax.axhspan(band[0], band[1], color="0.6", alpha=0.3, lw=0, label=f"{band[2]} ({band[0]:g}-{band[1]:g})")
    for k, (text, y) in enumerate((lines or {}).items()):
        ax.axhline(y, color=f"C{k + 4}", ls="--", lw=1.1, label=f"{text} ({y:g})")
    if log:
        ax.set_yscale("log")
    ax.set_xticks(x, list(names), fontsize=TEXT_SIZE)
    ax.set_ylabel(ylabel, fontsize=TEXT_SIZE)
    ax.tick_params(labelsize=TEXT_SIZE)
    ax.legend(fontsize=TEXT_SIZE - 2, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title(title, fontsize=TEXT_SIZE)
    return fig


def plot_permanence_timeline(rows: Sequence[dict], title: str = "") -> Figure:
    """Object permanence, clip by clip: per row (a clip) the frames where the tracker sees the
    object clear of the wall (filled), at the wall (hollow) or not at all (empty), over the frames
    the scene truth puts it behind the wall (a gray band); the frame the truth comes out (|), the
    frame its velocity before the wall says (v), the frame it is seen out (o).

    Each row: `{"label", "valid" (T,) bool, "present" (T,) bool, "hidden" (T,) bool,
    "truth_exit", "predicted_exit", "seen_exit" (frames or None), "colour", "given" (frames)}`."""
    if not rows:
        fig = new_figure(4.0, 1.0)
        fig.text(0.5, 0.5, "no clip to draw", ha="center", va="center", fontsize=TEXT_SIZE)
        return fig
    T = max(len(r["valid"]) for r in rows)
    fig = new_figure(max(5.0, 0.16 * T + 2.5), 0.9 + TIMELINE_ROW_INCHES * len(rows))
    ax = fig.subplots()
    for i, r in enumerate(rows):
        y = len(rows) - 1 - i
        t = np.arange(len(r["valid"]))
        rgb = _rgb01(PALETTE[r["colour"]]) if r.get("colour") in PALETTE else "k"
        hidden = np.asarray(r["hidden"], bool)
        for f in np.flatnonzero(hidden):
            ax.add_patch(_rect(f - 0.5, y - 0.4, 1.0, 0.8, _rgb01(WALL_RGB), 0.45))
        if r.get("given"):
            ax.add_patch(_rect(-0.5, y - 0.45, r["given"], 0.9, _rgb01(GIVEN_RGB), 0.25))
        valid, present = np.asarray(r["valid"], bool), np.asarray(r["present"], bool)
        ax.plot(t[valid], np.full(valid.sum(), y), "s", color=rgb, ms=4)
        ax.plot(t[present & ~valid], np.full((present & ~valid).sum(), y), "s", mfc="none", color=rgb, ms=4)
        for key, marker, colour in (("truth_exit", "|", "k"), ("predicted_exit", "v", "C1"),
                                    ("seen_exit", "o", "C2")):
            if r.get(key) is not None:
                ax.plot(r[key], y + 0.3, marker, color=colour, ms=6 if marker != "|" else 10,
                        mfc="none" if marker == "o" else colour)
    ax.plot([], [], "|", color="k", ms=8, label="truth comes out")
    ax.plot([], [], "v", color="C1", label="its velocity says")
    ax.plot([], [], "o", mfc="none", color="C2", label="seen out")
    ax.plot([], [], "s", color="0.3", ms=4, label="seen clear")
    ax.plot([], [], "s", mfc="none", color="0.3", ms=4, label="seen at the wall")
    ax.set_yticks(np.arange(len(rows)), [r["label"] for r in rows][::-1], fontsize=TEXT_SIZE - 1)
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("frame (gray: behind the wall in the scene truth; shaded: given)", fontsize=TEXT_SIZE)
    ax.tick_params(labelsize=TEXT_SIZE)
    ax.legend(fontsize=TEXT_SIZE - 2, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title(title, fontsize=TEXT_SIZE)
    return fig


def _rect(x, y, w, h, colour, alpha):
    return Rectangle((x, y), w, h, color=colour, alpha=alpha, lw=0)


__all__ = ["TRACKS_SIZE", "HISTOGRAM_SIZE", "plot_tracks_over_time", "plot_measure_histogram",
           "plot_against_anchors", "plot_permanence_timeline"]
