"""What the denoiser attends to: one forward pass with its attention kept, and how much of each word's
cross-attention lands on the object it names (notebook 08).

`capture_prompt_attention` runs the denoiser once on a clip for a prompt (sampled, rendered by the
world, or given) noised to a chosen level and keeps every layer's attention; `word_object_shares`
measures, per layer and object, the share of a word's attention that falls on that object's
patches against chance (the share of the clip it covers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from soralite.config import MOTIONS, SHAPES, get_config
from soralite.diffusion import make_scheduler, model_time
from soralite.models import AttentionMaps, Denoiser, capture_attention, latent_shape
from soralite.world import render_prompt, shape_masks, track_clip

HEAD_MEAN = "mean"            # `head=` value that averages the heads
DEFAULT_NOISE_LEVEL = 0.5     # where on the path to noise (u in [0, 1]) attention is captured
SOURCES = ("generate", "render")
CROSS = "cross"               # the cross-attention's key in a layer's maps


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
        config = get_config()
    device = next(model.parameters()).device
    scene = None
    if latents is None and clip is None and pipe is not None:
        if source == "generate":
            latents = pipe.generate_latents([prompt], seed=seed)                  # (1, C, t, h, w)
        else:
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
# Reading the maps: a head, a query's keys, a word's patches; how far attention reaches


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


def attention_distance(attn, positions, spacing: Sequence[float] = (1.0, 1.0, 1.0)):
    """Mean attention distance per head: `(space (heads,), time (heads,))` as float64 tensors.

    For each query, the attention-weighted mean distance to its keys (as ViT's "attention
    distance", Dosovitskiy et al. 2021, fig. 7), averaged over queries and samples: in space the
    Euclidean distance of `(y, x)`, in time `|t - t'|`. `positions (N, 3)` are the tokens'
    `(t, y, x)` (`AttentionMaps.positions`); `spacing` is one grid step in the units you want
    (`(1, 1, 1)`: latent frames and patches; `token_spacing(cfg)`: frames and pixels)."""
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
# Measuring: how much of a word's attention lands on its object (notebook 08)

WORD_ROLES = ("a", "colour", "shape", "motion")   # an object's words: article, colour, shape, motion


def object_masks_from_scene(scene) -> dict[str, np.ndarray]:
    """Each object's pixels `(T, H, W)` bool, keyed by its colour, from the world's scene truth."""
    out = {}
    for o in scene.objects:
        out[o.colour] = shape_masks([o.shape], np.array([o.side]), o.cx[None], o.cy[None],
                                    scene.height, scene.width)[0]               # (T, H, W)
    return out


def object_masks_from_tracks(clip: np.ndarray) -> dict[str, np.ndarray]:
    """Each blob's bounding box per frame `(T, H, W)` bool, keyed by colour, as the tracker sees
    a (generated) clip; frames where the blob is absent are empty."""
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
    if colour not in words:
        raise ValueError(f"no word {colour!r} in the prompt {' '.join(words)!r}")
    c = words.index(colour)
    shape = next(k for k in range(c + 1, len(words)) if words[k] in SHAPES)
    phrase = " ".join(words[shape + 1:])
    motion = next(m for m in MOTIONS if phrase.startswith(m))
    return {"a": max(k for k in range(c) if words[k] == "a"), "colour": c, "shape": shape,
            "motion": shape + len(motion.split())}


def word_object_shares(cap: PromptAttention, masks: dict[str, np.ndarray],
                       head: int | str = HEAD_MEAN) -> list[dict]:
    """For every layer and every object (`masks`: colour -> pixels `(T, H, W)`), the share of
    each of its words' cross-attention that lands on it (`viz.attention_share`), and `chance`,
    the share of the clip the object covers. One dict per (layer, object)."""
    rows = []
    for colour, mask in masks.items():
        if colour not in cap.words:
            continue                                          # an object that the prompt does not name
        coverage = patch_coverage(mask, cap.grid)                            # (t, h, w)
        if coverage.sum() == 0:
            continue                                          # the object is nowhere to be seen
        idx = object_word_indices(cap.words, colour)
        for layer in cap.layers:
            heat = word_heatmaps(cap.maps[layer][CROSS], cap.grid, [idx[r] for r in WORD_ROLES], head)
            row = {"layer": layer, "object": colour}
            for role, h in zip(WORD_ROLES, heat):
                row[role], row["chance"] = attention_share(h, coverage)
            rows.append(row)
    return rows


__all__ = ["PromptAttention", "capture_prompt_attention", "object_masks_from_scene",
           "object_masks_from_tracks", "object_word_indices", "word_object_shares", "WORD_ROLES",
           "DEFAULT_NOISE_LEVEL", "SOURCES", "CROSS", "HEAD_MEAN", "head_weights", "query_index",
           "attention_to_keys", "word_heatmaps", "attention_distance", "token_spacing",
           "attention_distances", "patch_coverage", "attention_share"]
