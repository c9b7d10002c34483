"""Native sizes, drawn (notebook 10): packed sequences and their block-diagonal attention mask.

A packed batch (`soralite.models.packing`) holds several clips' tokens one after the other in each
sequence, padded to the longest. `plot_pack_plan` draws the batch as one bar per sequence, a
segment per clip and the padding hatched; `plot_pack_mask` draws the `(N, N)` boolean mask of one
sequence, which tokens may attend to which, with the clips' boundaries and their labels. Both take
plain lists and arrays, so a plan built by hand and `plan_packing`'s are drawn the same way.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from soralite.viz.frames import TEXT_SIZE, new_figure

PACK_PLAN_WIDTH = 8.0              # inches: the bars of a packed batch
PACK_MASK_INCHES = 4.2             # inches: the side of the mask picture
PADDING_RGB = (0.85, 0.85, 0.85)   # padding: light gray
ALLOWED_RGB = (0.13, 0.40, 0.75)   # a pair that may attend: blue; masked: white


def _check_spans(spans: Sequence[tuple[int, int]], total: int | None = None) -> list[tuple[int, int]]:
    spans = [(int(s), int(n)) for s, n in spans]
    at = 0
    for s, n in spans:
        if s != at or n < 1:
            raise ValueError(f"spans must be (start, tokens) of consecutive clips from 0, each with "
                             f"at least one token (got {spans})")
        at += n
    if total is not None and at > total:
        raise ValueError(f"the spans cover {at} tokens but the sequence has {total}")
    return spans


def plot_pack_plan(sequences: Sequence[Sequence[int]], tokens: Sequence[int],
                   labels: Sequence[str] | None = None, title: str = "") -> Figure:
    """One horizontal bar per packed sequence: a segment per clip (`tokens[i]` long, in the order
    of `sequences[b]`, labelled by `labels[i]` or its index) and the padding up to the longest
    sequence hatched gray. `sequences` and `tokens` are a `PackPlan`'s fields."""
    tokens = [int(n) for n in tokens]
    if labels is not None and len(labels) != len(tokens):
        raise ValueError(f"{len(labels)} labels for {len(tokens)} clips; give one label a clip")
    bad = sorted({i for s in sequences for i in s if not 0 <= i < len(tokens)})
    if bad or not sequences:
        raise ValueError(f"sequences name clips {bad or 'none'}; clips are 0 .. {len(tokens) - 1}")
    longest = max(sum(tokens[i] for i in s) for s in sequences)
    fig = new_figure(PACK_PLAN_WIDTH, 0.9 + 0.45 * len(sequences))
    ax = fig.subplots()
    for b, seq in enumerate(sequences):
        at = 0
        for i in seq:
            ax.barh(b, tokens[i], left=at, color=f"C{i % 10}", edgecolor="k", lw=0.6)
            ax.text(at + tokens[i] / 2, b, labels[i] if labels is not None else str(i),
                    ha="center", va="center", fontsize=TEXT_SIZE - 1)
            at += tokens[i]
        if at < longest:
            ax.barh(b, longest - at, left=at, color=PADDING_RGB, hatch="//", edgecolor="gray", lw=0.6)
    ax.set_yticks(range(len(sequences)), [f"sequence {b}" for b in range(len(sequences))],
                  fontsize=TEXT_SIZE)
    ax.invert_yaxis()
    ax.set_xlim(0, longest)
    ax.set_xlabel("token", fontsize=TEXT_SIZE)
    ax.tick_params(labelsize=TEXT_SIZE)
    ax.set_title(title or "packed sequences (hatched: padding)", fontsize=TEXT_SIZE + 1)
    return fig


def plot_pack_mask(mask, spans: Sequence[tuple[int, int]], labels: Sequence[str] | None = None,
                   title: str = "") -> Figure:
    """The boolean attention mask `(N, N)` of one packed sequence (row: query, column: key; blue:
    may attend), with a line at every clip boundary; `spans[k] = (start, tokens)` are the clips in
    the order they sit in the sequence, labelled by `labels[k]`; tokens after the last span are
    padding, shaded gray."""
    mask = np.asarray(mask.detach().cpu() if hasattr(mask, "detach") else mask)
    if mask.ndim != 2 or mask.shape[0] != mask.shape[1]:
        raise ValueError(f"mask must be one sequence's (N, N) booleans (got shape {mask.shape})")
    N = mask.shape[0]
    spans = _check_spans(spans, N)
    if labels is not None and len(labels) != len(spans):
        raise ValueError(f"{len(labels)} labels for {len(spans)} clips; give one label a clip")
    img = np.ones((N, N, 3))
    img[mask.astype(bool)] = ALLOWED_RGB
    used = sum(n for _, n in spans)
    if used < N:                                            # padding rows and columns
        pad = np.zeros((N, N), dtype=bool)
        pad[used:], pad[:, used:] = True, True
        img[pad & ~mask.astype(bool)] = PADDING_RGB
    fig = new_figure(PACK_MASK_INCHES, PACK_MASK_INCHES + 0.3)
    ax = fig.subplots()
    ax.imshow(img, interpolation="nearest")
    for s, n in spans[1:] + ([(used, 0)] if used < N else []):
        ax.axhline(s - 0.5, color="k", lw=0.7)
        ax.axvline(s - 0.5, color="k", lw=0.7)
    ticks = [s + n / 2 - 0.5 for s, n in spans]
    names = list(labels) if labels is not None else [str(k) for k in range(len(spans))]
    if used < N:
        ticks.append((used + N) / 2 - 0.5)
        names.append("padding")
    ax.set_xticks(ticks, names, rotation=90, fontsize=TEXT_SIZE - 1)
    ax.set_yticks(ticks, names, fontsize=TEXT_SIZE - 1)
    ax.set_title(title or f"who may attend to whom ({N} tokens)", fontsize=TEXT_SIZE + 1)
    return fig


__all__ = ["PACK_PLAN_WIDTH", "PACK_MASK_INCHES", "plot_pack_plan", "plot_pack_mask"]
