"""Explorers: sliders and menus over the pictures of `soralite.viz` (notebooks 04, 08, 09, 10, 14).

Each explorer is an `ipywidgets.interactive` over a pure view of `soralite.viz`: its `.children`
are the controls (then the output area), its `.out` shows the picture. The expensive part runs
once when the explorer is made (a clip is generated or encoded, attention captured by
`soralite.studies.attention.capture_prompt_attention`); moving a control only redraws. Every
explorer also keeps what it drew last, so that code (and tests) can set a control,
`w.children[0].value = 2`, and check what changed:
- `.figure`: the last matplotlib `Figure`; `.png`: its PNG bytes, as shown;
- `.drawn`: the array behind it (an attention map, a noisy clip); `.draws`: how many redraws.
"""
from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
import torch
from IPython.display import Image, display

from soralite.studies.attention import (CROSS, DEFAULT_NOISE_LEVEL, HEAD_MEAN, PromptAttention,
                                        attention_to_keys, capture_prompt_attention, word_heatmaps)
from soralite.video import to_uint8
from soralite.viz.attention import plot_attention, plot_word_attention
from soralite.viz.frames import _as_clip, frame_strip
from soralite.viz.noise import NOISE_SCHEDULES, noisy_clip, plot_noisy_clip

FUNCTION_WORDS = ("a", "and", ",")   # words that name nothing; the word menu starts after them
PNG_DPI = 100


def figure_png(fig) -> bytes:
    """A figure as PNG bytes (shown as an image, so no plotting backend is needed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PNG_DPI)
    return buf.getvalue()


class Explorer(widgets.interactive):
    """An `ipywidgets.interactive` over `view(**controls) -> (Figure, drawn array)`.

    Each change of a control calls the view, shows its figure in `.out` as a PNG, and keeps
    `.figure`, `.png`, `.drawn` and `.draws` (see the module docstring)."""

    def __init__(self, view, **controls):
        self.draw_view, self.figure, self.png, self.drawn, self.draws = view, None, None, None, 0
        super().__init__(self._draw, **controls)

    def _draw(self, **values) -> None:
        fig, drawn = self.draw_view(**values)
        self.figure, self.drawn, self.png = fig, drawn, figure_png(fig)
        self.draws += 1
        display(Image(data=self.png, format="png"))

    @property
    def controls(self) -> dict:
        """The controls by name (the keyword that the view takes)."""
        return {name: w for name, w in zip(self.kwargs, self.kwargs_widgets)}


def _first_content_word(words: list[str]) -> int:
    """The index of the first word that names something (not "a", "and" or a comma), else 0."""
    return next((k for k, w in enumerate(words) if w not in FUNCTION_WORDS), 0)


def attention_explorer(pipe_or_model, prompt: str | None = None, seed: int = 0,
                       noise_level: float = DEFAULT_NOISE_LEVEL, source: str = "generate",
                       clip: np.ndarray | None = None, latents: torch.Tensor | None = None,
                       config=None) -> Explorer:
    """Sliders and menus over the attention of every layer for one prompt (notebook 08).

    `pipe_or_model` is a `Pipeline`, a `Denoiser` or an already captured `PromptAttention`;
    the other arguments go to `capture_prompt_attention`, which runs once. Controls, in order:
    `layer`, `kind` (self-attention kinds, then "cross"), `head` ("mean" or an index), the query
    patch `query_t` (its frame), `query_y`, `query_x`, and the prompt `word` (for "cross").
    Self-attention draws `viz.plot_attention` (`.drawn`: the query's map `(t, h, w)`); "cross"
    draws `viz.plot_word_attention` for the word (`.drawn`: its map `(t, h, w)`)."""
    cap = pipe_or_model if isinstance(pipe_or_model, PromptAttention) else None
    if cap is None:
        if prompt is None:
            raise ValueError("attention_explorer needs a prompt (or a PromptAttention)")
        cap = capture_prompt_attention(pipe_or_model, prompt, seed, noise_level, source, clip,
                                       latents, config)
    gt, gh, gw = cap.grid

    def view(layer, kind, head, query_t, query_y, query_x, word):
        maps = cap.maps[layer]
        if kind == CROSS:
            fig = plot_word_attention(maps[CROSS], cap.grid, cap.words, [word], cap.clip, head,
                                          title=f"layer {layer}: patches attending to {cap.words[word]!r}")
            return fig, word_heatmaps(maps[CROSS], cap.grid, [word], head)[0]
        query = (query_t, query_y, query_x)
        title = (f"layer {layer}, {kind} attention, "
                 f"{'mean of heads' if head == HEAD_MEAN else f'head {head}'}: "
                 f"where the query (t, y, x) = {query} looks")
        fig = plot_attention(maps[kind], cap.grid, query, head, cap.clip, title)
        return fig, attention_to_keys(maps[kind], cap.grid, query, head)

    explorer = Explorer(
        view,
        layer=widgets.IntSlider(min=cap.layers[0], max=cap.layers[-1], value=cap.layers[0],
                                description="layer"),
        kind=widgets.Dropdown(options=[*cap.kinds, CROSS], value=cap.kinds[0], description="kind"),
        head=widgets.Dropdown(options=[HEAD_MEAN, *range(cap.num_heads)], value=HEAD_MEAN,
                              description="head"),
        query_t=widgets.IntSlider(min=0, max=gt - 1, value=gt // 2, description="query t"),
        query_y=widgets.IntSlider(min=0, max=gh - 1, value=gh // 2, description="query y"),
        query_x=widgets.IntSlider(min=0, max=gw - 1, value=gw // 2, description="query x"),
        word=widgets.Dropdown(options=[(f"{k}: {w}", k) for k, w in enumerate(cap.words)],
                              value=_first_content_word(cap.words), description="word"),
    )
    explorer.capture = cap
    return explorer


def noise_explorer(clip, schedules=NOISE_SCHEDULES, seed: int = 0, frames=None,
                   u: float = DEFAULT_NOISE_LEVEL) -> Explorer:
    """A noise-level slider and a schedule menu over a clip (notebook 04): `viz.plot_noisy_clip`.

    `clip` is uint8 `(T, H, W, 3)` (or a model tensor `(3, T, H, W)` in [-1, 1]). Controls, in
    order: `u` (the noise level, 0 data to 1 noise) and `schedule`; `.drawn` is the noisy clip."""
    if torch.is_tensor(clip):
        clip = to_uint8(clip[0] if clip.ndim == 5 else clip)                      # (T, H, W, 3)
    clip = _as_clip(clip)
    schedules = list(schedules)
    bad = [s for s in schedules if s not in NOISE_SCHEDULES]
    if bad or not schedules:
        raise ValueError(f"unknown schedules {bad or 'none'}; allowed: {', '.join(NOISE_SCHEDULES)}")

    def view(u, schedule):
        return (plot_noisy_clip(clip, u, schedule, seed, frames),
                noisy_clip(clip, u, schedule, seed))

    return Explorer(view,
                    u=widgets.FloatSlider(min=0.0, max=1.0, step=0.01, value=u,
                                          description="noise level u",
                                          style={"description_width": "initial"}),
                    schedule=widgets.Dropdown(options=schedules, value=schedules[0], description="schedule"))


def clips_explorer(clips: dict, description: str = "clip", frames=None, title=None) -> Explorer:
    """A slider over clips made beforehand (notebooks 09, 10, 14): `clips` maps a label (an edit
    strength, a size, a training budget) to a uint8 clip `(T, H, W, 3)`; moving the slider draws
    that clip's frames (`viz.frame_strip`). `.drawn` is the clip shown."""
    if not clips:
        raise ValueError("clips_explorer needs at least one clip")
    labels = list(clips)
    shown = {label: _as_clip(clip) for label, clip in clips.items()}

    def view(choice):
        head = f"{title}: {description} {choice}" if title else f"{description} {choice}"
        return frame_strip(shown[choice], frames, title=head), shown[choice]

    return Explorer(view, choice=widgets.SelectionSlider(options=labels, value=labels[0],
                                                         description=description,
                                                         style={"description_width": "initial"}))


__all__ = ["Explorer", "attention_explorer", "noise_explorer", "clips_explorer", "figure_png"]
