"""Training, drawn (notebook 06): the loss and the loss per noise level against the step, from a
run's log (`soralite.runs.read_log`) or a `TrainResult.history`."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from soralite.viz.frames import TEXT_SIZE, new_figure

HISTORY_SIZE = (9.0, 3.0)          # inches: two panels side by side


def plot_history(history: Sequence[dict], title: str = "", fig: Figure | None = None) -> Figure:
    """The loss (left) and the loss per bucket of noise level t (right) against the step, for
    log rows `{"step", "loss", "loss_by_t": {bucket: loss}}`. With `fig`, redraws into it (a live
    plot during training)."""
    if fig is None:
        fig = new_figure(*HISTORY_SIZE)
    fig.clear()
    ax_loss, ax_t = fig.subplots(1, 2)
    steps = [r["step"] for r in history]
    ax_loss.plot(steps, [r["loss"] for r in history], ".-")
    ax_loss.set(xlabel="step", ylabel="loss", title=title or "training loss")
    names = list(history[0]["loss_by_t"]) if history else []
    for k, name in enumerate(names):
        values = np.array([r["loss_by_t"][name] for r in history], dtype=float)   # None -> nan
        ax_t.plot(steps, values, ".-", color=f"C{k}", label=name.replace("t", "t ", 1))
    ax_t.set(xlabel="step", ylabel="loss", title="by noise level t")
    if names:
        ax_t.legend(fontsize=TEXT_SIZE - 1)
    return fig


__all__ = ["plot_history", "HISTORY_SIZE"]
