"""Scaling with compute, drawn (notebook 14): the held-out loss and the adherence of a sweep
against training compute, one line per DiT size, with the compute-optimal frontier and the fitted
power law `loss = a * C^-b + c`; and the base / 4x / 32x figure as one captioned clip.

The functions take the table of `soralite.studies.scaling.run_sweep` (what `soralite scale`
writes to `data/scaling.json`), so the stored table and a live sweep are drawn the same way.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from soralite.viz.frames import TEXT_SIZE, new_figure
from soralite.viz.grids import GRID_SCALE, captioned_grid

SCALING_SIZE = (10.0, 3.6)         # inches: loss and adherence side by side
FIGURE_CELL_PX = 128               # the base / 4x / 32x clips are drawn at least this wide


def _by_size(runs: Sequence[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in sorted(runs, key=lambda r: r["flops"]):
        out.setdefault(r["size"], []).append(r)
    return out


def _fit_label(fit: dict) -> str:
    spread = ""
    if fit.get("b_ci95"):
        spread = f", 95% [{fit['b_ci95'][0]:.2f}, {fit['b_ci95'][1]:.2f}]"
    return f"fit {fit['a']:.3g} C^-{fit['b']:.3f} + {fit['c']:.3f}{spread}"


def plot_scaling(table: dict, title: str = "", fig: Figure | None = None) -> Figure:
    """Left: the held-out loss against training FLOPs (log scale), one line per DiT size (its
    budgets joined), the frontier (black), the fit (dashed) where the table has one. Right: the
    tracker's adherence with its 95% interval against the same FLOPs."""
    runs = table["runs"]
    if fig is None:
        fig = new_figure(*SCALING_SIZE)
    fig.clear()
    ax_loss, ax_adh = fig.subplots(1, 2)
    for k, (size, rows) in enumerate(_by_size(runs).items()):
        C = [r["flops"] for r in rows]
        ax_loss.plot(C, [r["loss"] for r in rows], "o-", color=f"C{k}", label=size, ms=4)
        adh = np.array([r["adherence"] for r in rows], dtype=float)
        ci = np.array([r["adherence_ci"] or [a, a] for r, a in zip(rows, adh)], dtype=float)  # (n, 2)
        ax_adh.errorbar(C, adh, yerr=[adh - ci[:, 0], ci[:, 1] - adh], fmt="o-", color=f"C{k}",
                        ms=4, capsize=2, label=size)
        for r in rows:
            ax_loss.annotate(str(r["steps"]), (r["flops"], r["loss"]), fontsize=TEXT_SIZE - 2,
                             xytext=(3, 3), textcoords="offset points", color=f"C{k}")
    keys = {(f["size"], f["steps"]) for f in table.get("frontier") or []}
    front = sorted((r for r in runs if (r["size"], r["steps"]) in keys), key=lambda r: r["flops"])
    if front:
        ax_loss.plot([r["flops"] for r in front], [r["loss"] for r in front], "s", mfc="none",
                     mec="black", ms=9, label="compute-optimal frontier")
    fit = table.get("fit")
    if fit:
        C = np.geomspace(min(r["flops"] for r in runs), max(r["flops"] for r in runs) * 2, 100)
        ax_loss.plot(C, fit["a"] * C ** -fit["b"] + fit["c"], "k--", lw=1, label=_fit_label(fit))
    ax_loss.set(xscale="log", xlabel="training compute (FLOPs, counted)", ylabel="held-out loss",
                title=title or "loss against compute")
    ax_loss.legend(fontsize=TEXT_SIZE - 1)
    ax_adh.set(xscale="log", xlabel="training compute (FLOPs, counted)", ylim=(-0.02, 1.02),
               ylabel="tracker adherence", title="adherence (95% interval)")
    ax_adh.legend(fontsize=TEXT_SIZE - 1)
    return fig


def compute_figure(clips, rows: Sequence[dict]) -> np.ndarray:
    """The base / 4x / 32x figure: clips `uint8 (3, T, H, W, 3)` side by side in one clip, each
    captioned with its compute ratio, steps and the tracker's verdict (`rows` as in the table's
    `figure.runs`)."""
    names = ["base" if r["compute_ratio"] == 1 else f"{r['compute_ratio']:g}x" for r in rows]
    captions = [f"{n} ({r['steps']} step{'s' * (r['steps'] != 1)}) "
                f"{'adheres' if r['adheres'] else 'fails'}" for n, r in zip(names, rows)]
    scale = max(GRID_SCALE, FIGURE_CELL_PX // np.asarray(clips).shape[3])   # room for the caption
    return captioned_grid(clips, captions, scale=scale, cols=len(rows))


__all__ = ["plot_scaling", "compute_figure", "SCALING_SIZE"]
