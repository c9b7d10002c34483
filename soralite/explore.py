"""Explorers: sliders and menus over the pictures of `soralite.viz` (notebooks 04 and 08).

Each explorer is an `ipywidgets.interactive` over a pure view of `soralite.viz`: its `.children`
are the controls (then the output area), its `.out` shows the picture. The expensive part runs
once when the explorer is made (a clip is generated or encoded, attention captured); moving a
control only redraws. Every explorer also keeps what it drew last, so that code (and tests)
can set a control, `w.children[0].value = 2`, and check what changed:
- `.figure`: the last matplotlib `Figure`; `.png`: its PNG bytes, as shown;
- `.drawn`: the array behind it (an attention map, a noisy clip); `.draws`: how many redraws.

`capture_prompt_attention` is the capture step on its own (the notebook measures with it).
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch

from soralite import viz
from soralite.dit import AttentionMaps, Denoiser, capture_attention

DEFAULT_NOISE_LEVEL = 0.5     # where on the path to noise (u in [0, 1]) attention is captured
SOURCES = ("generate", "render")
CROSS = "cross"               # the explorer's `kind` for text cross-attention
FUNCTION_WORDS = ("a", "and", ",")   # words that name nothing; the word menu starts after them
PNG_DPI = 100


# ----------------------------------------------------------------------------------------------
# Capture: one clip, one forward pass of the denoiser, every layer's attention


@dataclass
class PromptAttention:
    """Attention of every layer for one prompt and one clip (notebook 08).

    `maps` is `dit.AttentionMaps` (per layer: self-attention `(1, heads, N, N)` under "self" or
    "spatial"/"temporal", and "cross" `(1, heads, N, L)`); `words` the prompt's tokens, in the
    order of the cross-attention's keys; `clip` uint8 `(T, H, W, 3)` (None where there is no
    VAE to decode with); `latents (1, C, t, h, w)` the clean scaled latents that were noised to
    `noise_level` for the forward pass, which saw `x_t (1, C, t, h, w)` at the DiT's time `time`
    (in [0, 1]); `scene` the scene truth where the world rendered the clip.
    """

    prompt: str
    words: list[str]
    maps: AttentionMaps
    latents: torch.Tensor
    noise_level: float
    x_t: torch.Tensor | None = None
    time: float | None = None
    clip: np.ndarray | None = None
    scene: object | None = None

    @property
    def grid(self) -> tuple[int, int, int]:
        return tuple(int(g) for g in self.maps.grid)

    @property
    def layers(self) -> list[int]:
        return sorted(self.maps.layers)

    @property
    def kinds(self) -> list[str]:
        """The kinds of self-attention: ["self"] (full) or ["spatial", "temporal"] (factorized)."""
        return [k for k in self.maps[self.layers[0]] if k != CROSS]

    @property
    def num_heads(self) -> int:
        return int(self.maps[self.layers[0]][CROSS].shape[1])

    def word_index(self, word: str) -> int:
        """The position of `word`'s first occurrence among the prompt's tokens."""
        if word not in self.words:
            raise ValueError(f"{word!r} is not in the prompt; its words are {self.words}")
        return self.words.index(word)


def _is_pipeline(obj) -> bool:
    return hasattr(obj, "denoiser") and hasattr(obj, "vae") and hasattr(obj, "config")


@torch.no_grad()
def capture_prompt_attention(pipe_or_model, prompt: str, seed: int = 0,
                             noise_level: float = DEFAULT_NOISE_LEVEL, source: str = "generate",
                             clip: np.ndarray | None = None, latents: torch.Tensor | None = None,
                             config=None, layers=None) -> PromptAttention:
    """Run the denoiser once on a clip for `prompt` and keep every layer's attention.

    The clip's latents are, in order of precedence: `latents` (scaled, `(1, C, t, h, w)`); `clip`
    (uint8 `(T, H, W, 3)`, encoded by the pipeline's VAE); with a `Pipeline`, `source="generate"`
    (sampled from the prompt with `seed`) or `"render"` (the world renders a clip that follows
    the prompt, and its scene truth is kept); with a bare `Denoiser`, noise of the latent shape
    of `config`. They are noised to `noise_level` (u in [0, 1]: flow time, or DDPM timestep
    `u (N - 1)`) with noise from `seed`, and the denoiser sees them with the prompt.
    """
    from soralite.train import latent_shape, make_scheduler, model_time

    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; allowed: {', '.join(SOURCES)}")
    if not 0 <= noise_level <= 1:
        raise ValueError(f"noise_level must be in [0, 1] (got {noise_level})")
    pipe = pipe_or_model if _is_pipeline(pipe_or_model) else None
    model = pipe.denoiser if pipe is not None else pipe_or_model
    if not isinstance(model, Denoiser):
        raise ValueError(f"attention is captured from a Pipeline or a Denoiser; "
                         f"got {type(pipe_or_model).__name__}")
    if pipe is not None:
        prompt = pipe.check_prompts([prompt])[0]
        config = pipe.config
    elif config is None:
        from soralite.config import get_config

        config = get_config()
    device = next(model.parameters()).device
    scene = None
    if latents is None and clip is None and pipe is not None:
        if source == "generate":
            latents = pipe.generate_latents([prompt], seed=seed)                  # (1, C, t, h, w)
        else:
            from soralite.world import render_prompt

            clip, scene = render_prompt(prompt, config.world, seed=seed)          # (T, H, W, 3)
    if latents is None and clip is not None:
        if pipe is None:
            raise ValueError("a bare Denoiser cannot encode a clip; pass latents=, or a Pipeline")
        latents = pipe.encode_clips(np.asarray(clip)[None])                       # (1, C, t, h, w)
    if latents is None:
        g = torch.Generator().manual_seed(seed + 1)
        latents = torch.randn((1, *latent_shape(config)), generator=g)           # (1, C, t, h, w)
    latents = torch.as_tensor(latents).float().to(device)
    if latents.ndim == 4:
        latents = latents[None]                                                    # (1, C, t, h, w)
    if clip is None and pipe is not None:
        clip = pipe.decode_latents(latents)[0]                                     # (T, H, W, 3)

    scheduler = pipe.scheduler if pipe is not None else make_scheduler(config, for_sampling=True)
    if hasattr(scheduler, "num_train_timesteps"):                                  # DDPM, DDIM
        timestep = torch.tensor([round(noise_level * (scheduler.num_train_timesteps - 1))])
    else:                                                                          # flow: t = u
        timestep = torch.tensor([float(noise_level)])
    noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(seed)).to(device)
    x_t = scheduler.add_noise(latents, noise, timestep.to(device)).float()        # (1, C, t, h, w)
    ids, mask = model.encode_prompts([prompt], device)                            # (1, L), (1, L)
    time = model_time(scheduler, timestep).to(device)                             # (1,) in [0, 1]
    was_training = model.training
    model.eval()
    try:
        with capture_attention(model, layers) as maps:
            model(x_t, time, ids, mask)                                           # (1, C, t, h, w)
    finally:
        model.train(was_training)
    maps.layers = {i: {k: v.float().cpu() for k, v in m.items()} for i, m in maps.layers.items()}
    return PromptAttention(prompt, model.tokenizer.tokenize(prompt), maps, latents.cpu(),
                           float(noise_level), x_t.cpu(), float(time),
                           None if clip is None else np.asarray(clip), scene)


# ----------------------------------------------------------------------------------------------
# Measuring: how much of a word's attention lands on its object (notebook 08)

WORD_ROLES = ("a", "colour", "shape", "motion")   # an object's words: article, colour, shape, motion


def object_masks_from_scene(scene) -> dict[str, np.ndarray]:
    """Each object's pixels `(T, H, W)` bool, keyed by its colour, from the world's scene truth."""
    from soralite.world import shape_masks

    out = {}
    for o in scene.objects:
        out[o.colour] = shape_masks([o.shape], np.array([o.side]), o.cx[None], o.cy[None],
                                    scene.height, scene.width)[0]               # (T, H, W)
    return out


def object_masks_from_tracks(clip: np.ndarray) -> dict[str, np.ndarray]:
    """Each blob's bounding box per frame `(T, H, W)` bool, keyed by colour, as the tracker sees
    a (generated) clip; frames where the blob is absent are empty."""
    from soralite.tracker import track_clip

    clip = np.asarray(clip)
    out = {}
    for colour, tr in track_clip(clip).tracks.items():
        mask = np.zeros(clip.shape[:3], bool)                                    # (T, H, W)
        for t in np.flatnonzero(tr.present):
            x0, y0, x1, y1 = tr.bbox[t]
            mask[t, y0:y1, x0:x1] = True
        out[colour] = mask
    return out


def object_word_indices(words: list[str], colour: str) -> dict[str, int]:
    """For the object of `colour` in a caption's tokens: the index of its article, colour, shape
    and motion word (the last word of its motion, e.g. "left" of "moving left")."""
    from soralite.config import MOTIONS, SHAPES

    if colour not in words:
        raise ValueError(f"no word {colour!r} in the prompt {' '.join(words)!r}")
    c = words.index(colour)
    shape = next(k for k in range(c + 1, len(words)) if words[k] in SHAPES)
    phrase = " ".join(words[shape + 1:])
    motion = next(m for m in MOTIONS if phrase.startswith(m))
    return {"a": max(k for k in range(c) if words[k] == "a"), "colour": c, "shape": shape,
            "motion": shape + len(motion.split())}


def word_object_shares(cap: PromptAttention, masks: dict[str, np.ndarray],
                       head: int | str = viz.HEAD_MEAN) -> list[dict]:
    """For every layer and every object (`masks`: colour -> pixels `(T, H, W)`), the share of
    each of its words' cross-attention that lands on it (`viz.attention_share`), and `chance`,
    the share of the clip the object covers. One dict per (layer, object)."""
    rows = []
    for colour, mask in masks.items():
        if colour not in cap.words:
            continue                                          # an object that the prompt does not name
        coverage = viz.patch_coverage(mask, cap.grid)                            # (t, h, w)
        if coverage.sum() == 0:
            continue                                          # the object is nowhere to be seen
        idx = object_word_indices(cap.words, colour)
        for layer in cap.layers:
            heat = viz.word_heatmaps(cap.maps[layer][CROSS], cap.grid, [idx[r] for r in WORD_ROLES], head)
            row = {"layer": layer, "object": colour}
            for role, h in zip(WORD_ROLES, heat):
                row[role], row["chance"] = viz.attention_share(h, coverage)
            rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------
# The explorer widget


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
        from IPython.display import Image, display

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
            fig = viz.plot_word_attention(maps[CROSS], cap.grid, cap.words, [word], cap.clip, head,
                                          title=f"layer {layer}: patches attending to {cap.words[word]!r}")
            return fig, viz.word_heatmaps(maps[CROSS], cap.grid, [word], head)[0]
        query = (query_t, query_y, query_x)
        title = (f"layer {layer}, {kind} attention, "
                 f"{'mean of heads' if head == viz.HEAD_MEAN else f'head {head}'}: "
                 f"where the query (t, y, x) = {query} looks")
        fig = viz.plot_attention(maps[kind], cap.grid, query, head, cap.clip, title)
        return fig, viz.attention_to_keys(maps[kind], cap.grid, query, head)

    explorer = Explorer(
        view,
        layer=widgets.IntSlider(min=cap.layers[0], max=cap.layers[-1], value=cap.layers[0],
                                description="layer"),
        kind=widgets.Dropdown(options=[*cap.kinds, CROSS], value=cap.kinds[0], description="kind"),
        head=widgets.Dropdown(options=[viz.HEAD_MEAN, *range(cap.num_heads)], value=viz.HEAD_MEAN,
                              description="head"),
        query_t=widgets.IntSlider(min=0, max=gt - 1, value=gt // 2, description="query t"),
        query_y=widgets.IntSlider(min=0, max=gh - 1, value=gh // 2, description="query y"),
        query_x=widgets.IntSlider(min=0, max=gw - 1, value=gw // 2, description="query x"),
        word=widgets.Dropdown(options=[(f"{k}: {w}", k) for k, w in enumerate(cap.words)],
                              value=_first_content_word(cap.words), description="word"),
    )
    explorer.capture = cap
    return explorer


def noise_explorer(clip, schedules=viz.NOISE_SCHEDULES, seed: int = 0, frames=None,
                   u: float = DEFAULT_NOISE_LEVEL) -> Explorer:
    """A noise-level slider and a schedule menu over a clip (notebook 04): `viz.plot_noisy_clip`.

    `clip` is uint8 `(T, H, W, 3)` (or a model tensor `(3, T, H, W)` in [-1, 1]). Controls, in
    order: `u` (the noise level, 0 data to 1 noise) and `schedule`; `.drawn` is the noisy clip."""
    from soralite.video import to_uint8

    if torch.is_tensor(clip):
        clip = to_uint8(clip[0] if clip.ndim == 5 else clip)                      # (T, H, W, 3)
    clip = viz._as_clip(clip)
    schedules = list(schedules)
    bad = [s for s in schedules if s not in viz.NOISE_SCHEDULES]
    if bad or not schedules:
        raise ValueError(f"unknown schedules {bad or 'none'}; allowed: {', '.join(viz.NOISE_SCHEDULES)}")

    def view(u, schedule):
        return (viz.plot_noisy_clip(clip, u, schedule, seed, frames),
                viz.noisy_clip(clip, u, schedule, seed))

    return Explorer(view,
                    u=widgets.FloatSlider(min=0.0, max=1.0, step=0.01, value=u,
                                          description="noise level u",
                                          style={"description_width": "initial"}),
                    schedule=widgets.Dropdown(options=schedules, value=schedules[0], description="schedule"))


__all__ = ["PromptAttention", "capture_prompt_attention", "Explorer", "attention_explorer",
           "noise_explorer", "figure_png", "object_masks_from_scene", "object_masks_from_tracks",
           "object_word_indices", "word_object_shares", "WORD_ROLES", "DEFAULT_NOISE_LEVEL"]
