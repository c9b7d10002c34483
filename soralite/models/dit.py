"""The diffusion transformer: spacetime tokens, adaLN-Zero, text cross-attention (notebook 05).

A latent clip `(B, C, T, H, W)` is cut into spacetime patches (`soralite.patchify`), told where each
patch sits (3D sin-cos added to the tokens, or 3D rotary embeddings in the attention), and run
through `depth` transformer blocks ("Scalable Diffusion Models with Transformers", DiT). The noise
level `t` enters every block by adaLN-Zero: a LayerNorm whose shift, scale and residual gate are
regressed from `t` (plus the pooled prompt) and start at zero, so a fresh model is the identity
and outputs exactly zero. `t` is one level per clip `(B,)` or one per latent frame `(B, T)`; with
per-frame levels each token is modulated by its own frame's level (Diffusion Forcing; Open-Sora
1.2), so frames that are given (clean or lightly noised) and frames that are made share one
sequence (notebook 09). Given frames are also marked in the input: a zero-initialized, bias-free
patch embedding of `[given latent * mask, mask]` is added to the tokens, so a given frame is never
confused with a nearly clean generated one; with nothing given it adds exactly zero.
The prompt's tokens enter by cross-attention (PixArt-alpha).
Self-attention is either *full* (every token sees every token of the clip) or *factorized*
(spatial attention within each frame, then temporal attention across frames at each position,
as in ViViT's factorized encoder, Latte and the spatial-temporal DiT of Open-Sora).
Attention runs through `F.scaled_dot_product_attention`; inside `capture_attention` it runs an
explicit softmax instead, so that the weights can be looked at (notebook 08).
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from soralite.config import ATTENTION_KINDS, POS_EMBEDS, DiTConfig
from soralite.models.patchify import (PatchEmbed, apply_rope, grid_positions, rope_3d_freqs,
                               sincos_pos_embed_3d, unpatchify)

TIMESTEP_FREQ_DIM = 256        # width of the sinusoidal timestep features (DiT)
MAX_PERIOD = 10000.0           # slowest period of the timestep sinusoid ("Attention Is All You Need")
LN_EPS = 1e-6
SIZE_FREQ_DIM = 64             # sinusoidal features per axis of a clip's size (`DiTConfig.size_embed`)
# Named DiT sizes for this kit, after DiT's table (S, B, L) shrunk to train on a CPU; /2 = 2x2 patches.
DIT_PRESETS: dict[str, dict] = {
    "DiT-XS/2": dict(hidden_size=64, depth=4, num_heads=4, patch_size=(1, 2, 2)),
    "DiT-S/2": dict(hidden_size=128, depth=6, num_heads=4, patch_size=(1, 2, 2)),
    "DiT-B/2": dict(hidden_size=256, depth=8, num_heads=8, patch_size=(1, 2, 2)),
    "DiT-L/2": dict(hidden_size=384, depth=12, num_heads=6, patch_size=(1, 2, 2)),
}


def dit_config(name: str, **overrides) -> DiTConfig:
    """A `DiTConfig` for a named size in `DIT_PRESETS`, with field overrides."""
    if name not in DIT_PRESETS:
        raise ValueError(f"unknown DiT preset {name!r}; allowed: {', '.join(DIT_PRESETS)}")
    return replace(DiTConfig(), **{**DIT_PRESETS[name], **overrides})


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (of those that require grad, with `trainable_only`)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


# ----------------------------------------------------------------------------------------------
# Conditioning: timestep embedding and adaLN modulation


def timestep_embedding(t: torch.Tensor, dim: int = TIMESTEP_FREQ_DIM, scale: float = 1.0) -> torch.Tensor:
    """Sinusoidal features `(B, dim)` of `scale * t` (DDPM integer steps: scale 1; flow times in [0, 1]: 1000)."""
    half = dim // 2
    freqs = torch.exp(-math.log(MAX_PERIOD) * torch.arange(half, device=t.device) / half)  # (dim/2,)
    args = scale * t.float()[:, None] * freqs[None]                                       # (B, dim/2)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)                          # (B, dim)


class TimestepEmbedder(nn.Module):
    """The noise level `t (B,)` -> a vector `(B, hidden_size)`: sinusoid, then a two-layer MLP (DiT)."""

    def __init__(self, hidden_size: int, scale: float):
        super().__init__()
        self.scale = scale
        self.mlp = nn.Sequential(nn.Linear(TIMESTEP_FREQ_DIM, hidden_size), nn.SiLU(),
                                 nn.Linear(hidden_size, hidden_size))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, TIMESTEP_FREQ_DIM, self.scale))   # (B, D)


class SizeEmbedder(nn.Module):
    """A clip's latent size `(B, 3)` (frames, height, width) -> `(B, hidden_size)`, added to the
    conditioning vector: micro-conditioning (SDXL's size, Open-Sora's frame count). A model made of
    positions alone must infer a clip's length from the tokens it attends to; this tells it. The
    last layer starts at zero, so a fresh model is the same with it or without."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(3 * SIZE_FREQ_DIM, hidden_size), nn.SiLU(),
                                 nn.Linear(hidden_size, hidden_size))

    def forward(self, size: torch.Tensor) -> torch.Tensor:
        B = size.shape[0]
        feats = timestep_embedding(size.reshape(-1).float(), SIZE_FREQ_DIM, 1.0)   # (3B, F)
        return self.mlp(feats.reshape(B, 3 * SIZE_FREQ_DIM))                      # (B, D)


def per_token(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A modulation vector broadcast to the tokens `x (B, N, D)`: per sample `(B, D)` -> `(B, 1, D)`;
    per token frame `(B, F, D)` -> `(B, N, D)`, each frame's vector repeated over its N / F tokens
    (tokens are in (t, y, x) raster order)."""
    if v.ndim == 2:
        return v[:, None]                                                   # (B, 1, D)
    return v.repeat_interleave(x.shape[1] // v.shape[1], dim=1)            # (B, N, D)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: `x (B, N, D)` scaled and shifted by vectors regressed from t: per sample `(B, D)`, or
    per token frame `(B, F, D)` when every latent frame has its own noise level."""
    return x * (1 + per_token(scale, x)) + per_token(shift, x)             # (B, N, D)


# ----------------------------------------------------------------------------------------------
# Attention: full, spatial or temporal self-attention, and cross-attention to the text

GROUPS = {"spatial": ("b h (t s) d -> (b t) h s d", "(b t) h s d -> b h (t s) d"),   # within a frame
          "temporal": ("b h (t s) d -> (b s) h t d", "(b s) h t d -> b h (t s) d")}  # across frames


def attention_weights(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The explicit softmax(q k^T / sqrt(d)) `(..., Nq, Nk)`; `mask (..., Nk)` True where a key may be seen."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])               # (..., Nq, Nk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))                   # (..., Nq, Nk)
    return scores.softmax(dim=-1)                                           # (..., Nq, Nk)


def _blockwise(w: torch.Tensor, axes: str, grid) -> torch.Tensor:
    """Per-group weights of factorized attention spread into the full `(B, heads, N, N)` matrix."""
    gt, s = grid[0], grid[1] * grid[2]
    if axes == "spatial":
        w = rearrange(w, "(b t) h i j -> b h t i j", t=gt)                     # (B, h, T, S, S)
        w = torch.einsum("bhtij,tu->bhtiuj", w, torch.eye(gt, device=w.device))   # (B, h, T, S, T, S)
        return rearrange(w, "b h t i u j -> b h (t i) (u j)")                 # (B, h, N, N)
    w = rearrange(w, "(b s) h i j -> b h s i j", s=s)                          # (B, h, S, T, T)
    w = torch.einsum("bhsij,su->bhisju", w, torch.eye(s, device=w.device))     # (B, h, T, S, T, S)
    return rearrange(w, "b h i s j u -> b h (i s) (j u)")                     # (B, h, N, N)


class Attention(nn.Module):
    """Multi-head attention; self-attention over `axes` ("full", "spatial", "temporal") or, with a
    `context`, cross-attention to it. With `record` set to a dict (by `capture_attention`) it uses
    an explicit softmax and stores its weights there under `name`."""

    def __init__(self, dim: int, num_heads: int, context_dim: int | None = None, name: str = "self"):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"hidden_size {dim} must be divisible by num_heads {num_heads}")
        self.num_heads, self.name, self.record = num_heads, name, None
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim or dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, context=None, mask=None, rope=None, axes="full", grid=None) -> torch.Tensor:
        heads = "b n (h d) -> b h n d"
        q = rearrange(self.q(x), heads, h=self.num_heads)                   # (B, h, N, d)
        k, v = (rearrange(z, heads, h=self.num_heads)
                for z in self.kv(x if context is None else context).chunk(2, dim=-1))  # (B, h, M, d) x 2
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)              # (B, h, N, d), rotated
        if axes != "full":
            size = {"t": grid[0]} if axes == "spatial" else {"s": grid[1] * grid[2]}   # group count
            q, k, v = (rearrange(z, GROUPS[axes][0], **size) for z in (q, k, v))    # (B*G, h, n, d)
        if mask is not None:                                                # True: a key it may see
            mask = mask[:, None, None, :] if mask.ndim == 2 else mask[:, None]   # (B, 1, 1|N, M)
        if self.record is None:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B*G, h, n, d)
        else:
            w = attention_weights(q, k, mask)                               # (B*G, h, n, m)
            out = w @ v                                                     # (B*G, h, n, d)
            self.record[self.name] = (w if axes == "full" else _blockwise(w, axes, grid)).detach()
        if axes != "full":
            out = rearrange(out, GROUPS[axes][1], **size)                   # (B, h, N, d)
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))            # (B, N, D)


# ----------------------------------------------------------------------------------------------
# The transformer block and the final layer


class DiTBlock(nn.Module):
    """adaLN-Zero block: self-attention (full, or spatial then temporal), cross-attention to the
    text, MLP. Each self-attention and the MLP get a shift, scale and gate from `c`."""

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float, attention: str):
        super().__init__()
        self.axes = ("full",) if attention == "full" else ("spatial", "temporal")
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_size, elementwise_affine=False, eps=LN_EPS)
                                   for _ in self.axes)
        self.attns = nn.ModuleList(Attention(hidden_size, num_heads, name="self" if a == "full" else a)
                                   for a in self.axes)
        self.norm_cross = nn.LayerNorm(hidden_size, eps=LN_EPS)
        self.cross_attn = Attention(hidden_size, num_heads, context_dim=hidden_size, name="cross")
        self.norm_mlp = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=LN_EPS)
        mlp_hidden = int(hidden_size * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(hidden_size, mlp_hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(mlp_hidden, hidden_size))
        n_mod = 3 * (len(self.axes) + 1)      # shift, scale, gate per self-attention and for the MLP
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, n_mod * hidden_size))

    def forward(self, x, c, text, mask, grid, rope=None, self_masks=None) -> torch.Tensor:
        """`self_masks` (packed sequences, `soralite.models.packing`): per attention kind a mask
        `(B, N, N)` of the pairs that may attend, used instead of the clip's grid."""
        mods = self.adaLN_modulation(c).chunk(3 * (len(self.axes) + 1), dim=-1)   # (B, D) each
        for i, (axes, norm, attn) in enumerate(zip(self.axes, self.norms, self.attns)):
            shift, scale, gate = mods[3 * i: 3 * i + 3]                     # (B, D) x 3
            if self_masks is not None:
                h = attn(modulate(norm(x), shift, scale), mask=self_masks[axes], rope=rope)
            else:
                h = attn(modulate(norm(x), shift, scale), rope=rope, axes=axes, grid=grid)  # (B, N, D)
            x = x + per_token(gate, x) * h                                  # (B, N, D)
        x = x + self.cross_attn(self.norm_cross(x), context=text, mask=mask)   # (B, N, D)
        shift, scale, gate = mods[-3:]                                      # (B, D) x 3
        return x + per_token(gate, x) * self.mlp(modulate(self.norm_mlp(x), shift, scale))   # (B, N, D)


class FinalLayer(nn.Module):
    """adaLN, then a linear map of each token back to a `(C, pt, ph, pw)` patch (DiT)."""

    def __init__(self, hidden_size: int, patch_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=LN_EPS)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))
        self.linear = nn.Linear(hidden_size, patch_dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)            # (B, D) x 2
        return self.linear(modulate(self.norm(x), shift, scale))            # (B, N, C*pt*ph*pw)


# ----------------------------------------------------------------------------------------------
# The model


@dataclass
class AttentionMaps:
    """What `capture_attention` fills: per layer `{"self" | "spatial" | "temporal": (B, heads, N, N),
    "cross": (B, heads, N, L)}` from the last forward pass, and the tokens' `(t, y, x)` positions `(N, 3)`."""

    layers: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    grid: tuple[int, int, int] | None = None
    positions: torch.Tensor | None = None

    def __getitem__(self, layer: int) -> dict[str, torch.Tensor]:
        return self.layers[layer]


class DiT(nn.Module):
    """The diffusion transformer: `x (B, C, T, H, W)`, `t (B,)`, text `(B, L, text_dim)` + mask -> `(B, C, T, H, W)`.

    Works on any latent size that the patch divides; position tables are built per grid and cached.
    """

    def __init__(self, cfg: DiTConfig, in_channels: int):
        super().__init__()
        if cfg.attention not in ATTENTION_KINDS or cfg.pos_embed not in POS_EMBEDS:
            raise ValueError(f"DiTConfig.attention={cfg.attention!r}, pos_embed={cfg.pos_embed!r}; "
                             f"allowed: attention in {ATTENTION_KINDS}, pos_embed in {POS_EMBEDS}")
        self.cfg, self.in_channels = cfg, in_channels
        D, self.patch_size = cfg.hidden_size, tuple(cfg.patch_size)
        self.x_embedder = PatchEmbed(in_channels, D, self.patch_size)
        # the given frames: [given latent * mask, mask] -> tokens; no bias, so nothing given adds 0
        self.cond_embedder = PatchEmbed(in_channels + 1, D, self.patch_size, bias=False)
        self.t_embedder = TimestepEmbedder(D, cfg.timestep_scale)
        self.text_proj = nn.Sequential(nn.Linear(cfg.text_dim, D), nn.GELU(approximate="tanh"),
                                       nn.Linear(D, D))   # caption projection (PixArt-alpha)
        self.text_pool = nn.Linear(cfg.text_dim, D)   # pooled prompt joins t in c (as Imagen does)
        self.blocks = nn.ModuleList(DiTBlock(D, cfg.num_heads, cfg.mlp_ratio, cfg.attention)
                                    for _ in range(cfg.depth))
        self.final_layer = FinalLayer(D, math.prod(self.patch_size) * in_channels)
        self.size_embedder = None
        if cfg.size_embed:
            with torch.random.fork_rng(devices=[]):   # the rest draws the same init with it or without
                self.size_embedder = SizeEmbedder(D)
        self._pos_cache: dict = {}
        self._maps: AttentionMaps | None = None
        self.pos_table((1, 1, 1), torch.device("cpu"))   # dim checks (multiples of 16) fail here, early
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """DiT's init; adaLN-Zero: modulation, cross-attention output and final layer start at zero."""
        def _basic(m):
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for name, child in self.named_children():
            if name != "size_embedder":                                     # drawn last, below
                child.apply(_basic)
        w = self.x_embedder.proj.weight                                     # (D, C, pt, ph, pw)
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        for m in (self.t_embedder.mlp[0], self.t_embedder.mlp[2]):
            nn.init.normal_(m.weight, std=0.02)
        zero = [self.final_layer.adaLN_modulation[-1], self.final_layer.linear]
        for block in self.blocks:
            zero += [block.adaLN_modulation[-1], block.cross_attn.proj]      # PixArt zeroes cross-attn out too
        for m in zero:
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
        nn.init.zeros_(self.cond_embedder.proj.weight)                      # a fresh model ignores it
        if self.size_embedder is not None:
            with torch.random.fork_rng(devices=[]):
                self.size_embedder.apply(_basic)
            nn.init.zeros_(self.size_embedder.mlp[2].weight)                # and its clip's size
            nn.init.zeros_(self.size_embedder.mlp[2].bias)

    def size_vector(self, grid, device) -> torch.Tensor | None:
        """What `size_embed` adds to c for a clip of latent size `grid` (T, H, W): `(D,)`, or None."""
        if self.size_embedder is None:
            return None
        return self.size_embedder(torch.tensor([list(grid)], device=device))[0]   # (D,)

    def pos_table(self, grid, device):
        """The sin-cos table `(N, D)` or the rotary `(cos, sin)`, each `(N, head_dim/2)`, for a grid (cached)."""
        key = (tuple(grid), str(device))
        if key not in self._pos_cache:
            if self.cfg.pos_embed == "sincos":
                table = sincos_pos_embed_3d(self.cfg.hidden_size, grid).to(device)   # (N, D)
            else:
                head_dim = self.cfg.hidden_size // self.cfg.num_heads
                table = tuple(z.to(device) for z in rope_3d_freqs(head_dim, grid))  # (N, d/2) x 2
            self._pos_cache[key] = table
        return self._pos_cache[key]

    def forward(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor,
                mask: torch.Tensor | None = None, given: torch.Tensor | None = None,
                given_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`x (B, C, T, H, W)`; `t` a scalar, `(B,)` or one level per latent frame `(B, T)`; text
        `(B, L, text_dim)` with `mask (B, L)`; `given (B, C, T, H, W)` with `given_mask (B, T)`
        (True on given latent frames) marks the frames that are known, not made."""
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"DiT expects a latent (B, C={self.in_channels}, T, H, W); "
                             f"got shape {tuple(x.shape)}")
        B, T = x.shape[0], x.shape[2]
        t = torch.as_tensor(t, device=x.device).float()
        if t.ndim == 2:                                                     # (B, T): a level per frame
            if tuple(t.shape) != (B, T):
                raise ValueError(f"per-frame t must be (B={B}, T={T}); got {tuple(t.shape)}")
            if bool((t == t[:, :1]).all()):
                t = t[:, 0]                                                 # one level: the shared path
        else:
            t = t.reshape(-1)                                               # (B,) or (1,)
            if t.numel() not in (1, B):
                raise ValueError(f"t must be a scalar, (B={B},) or (B, T={T}); got {t.numel()} values")
            t = t.expand(B)                                                 # (B,)
        if text.ndim != 3 or text.shape[0] != B or text.shape[2] != self.cfg.text_dim:
            raise ValueError(f"text must be (B={B}, L, text_dim={self.cfg.text_dim}); got {tuple(text.shape)}")
        if mask is None:
            mask = torch.ones(text.shape[:2], dtype=torch.bool, device=x.device)   # (B, L)
        mask = mask.to(torch.bool)                                          # (B, L), True = a real token
        tokens, grid = self.x_embedder(x)                                   # (B, N, D), (T', H', W')
        if given is not None:
            if given_mask is None or tuple(given_mask.shape) != (B, T) or given.shape != x.shape:
                raise ValueError(f"given must be shaped like x {tuple(x.shape)} with given_mask "
                                 f"(B={B}, T={T})")
            m = given_mask.to(x.dtype)[:, None, :, None, None].expand(B, 1, *x.shape[2:])  # (B, 1, T, H, W)
            tokens = tokens + self.cond_embedder(torch.cat([given * m, m], dim=1))[0]     # (B, N, D)
        pos = self.pos_table(grid, x.device)
        rope = pos if self.cfg.pos_embed == "rope" else None
        if rope is None:
            tokens = tokens + pos[None].to(tokens.dtype)                    # (B, N, D)
        m = mask[..., None].to(text.dtype)                                  # (B, L, 1)
        pooled = (text * m).sum(1) / m.sum(1).clamp(min=1)                  # (B, text_dim)
        if t.ndim == 2:                                                     # (B, T) -> (B, T', D)
            levels = t.reshape(B, grid[0], -1).mean(-1)                     # a level per token frame
            c = self.t_embedder(levels.reshape(-1)).reshape(B, grid[0], -1)  # (B, T', D)
            c = c + self.text_pool(pooled)[:, None]                         # (B, T', D)
        else:
            c = self.t_embedder(t) + self.text_pool(pooled)                 # (B, D)
        size = self.size_vector(x.shape[2:], x.device)                      # (D,) or None
        if size is not None:
            c = c + size                                                    # (B, D) or (B, T', D)
        context = self.text_proj(text)                                      # (B, L, D)
        for block in self.blocks:
            tokens = block(tokens, c, context, mask, grid, rope)            # (B, N, D)
        out = self.final_layer(tokens, c)                                   # (B, N, C*pt*ph*pw)
        if self._maps is not None:
            self._maps.grid, self._maps.positions = grid, grid_positions(grid)   # (N, 3)
        return unpatchify(out, self.patch_size, grid)                       # (B, C, T, H, W)


@contextmanager
def capture_attention(model: nn.Module, layers=None):
    """`with capture_attention(model, layers=[0, 3]) as maps:` run the model, then read `maps[0]["cross"]`.

    Inside, the chosen blocks compute attention with an explicit softmax (slower) and keep the weights
    of the last forward pass; `model` is a `DiT` or a `Denoiser`. Layers default to all.
    """
    dit = getattr(model, "dit", model)                                    # a Denoiser holds its DiT
    layers = list(range(len(dit.blocks)) if layers is None else layers)
    bad = [i for i in layers if not -len(dit.blocks) <= i < len(dit.blocks)]
    if bad:
        raise ValueError(f"layers {bad} out of range; the DiT has {len(dit.blocks)} blocks "
                         f"(0..{len(dit.blocks) - 1})")
    maps = AttentionMaps()
    attns = []
    for i in layers:
        maps.layers[i] = {}
        for attn in (*dit.blocks[i].attns, dit.blocks[i].cross_attn):
            attn.record = maps.layers[i]
            attns.append(attn)
    dit._maps = maps
    try:
        yield maps
    finally:
        dit._maps = None
        for attn in attns:
            attn.record = None


__all__ = ["DiT", "DiTBlock", "Attention", "FinalLayer", "TimestepEmbedder", "AttentionMaps",
           "capture_attention", "timestep_embedding", "modulate", "per_token", "attention_weights",
           "count_parameters",
           "dit_config", "DIT_PRESETS", "ATTENTION_KINDS", "POS_EMBEDS"]
