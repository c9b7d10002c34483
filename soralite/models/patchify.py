"""Spacetime patches and their 3D positions: a latent video cut into tokens (notebook 02).

The Sora report turns a video into "spacetime patches" that play the part of a language model's
tokens. Three ideas meet here:

- **Patches as tokens** (ViT, "An Image is Worth 16x16 Words"; DiT, "Scalable Diffusion Models with
  Transformers"): cut the input into non-overlapping patches and project each one linearly.
- **Tubelets** (ViViT, "A Video Vision Transformer"): in a video a patch also spans `pt` frames, so
  a `(C, T, H, W)` clip becomes `(T/pt) * (H/ph) * (W/pw)` tokens of `C * pt * ph * pw` numbers.
- **Positions**: a transformer sees a set, so each token is told where it sits in the `(t, y, x)`
  grid, either added to the token (fixed sin-cos embeddings, "Attention Is All You Need", per axis
  as in MAE/DiT) or rotated into the queries and keys (rotary embeddings, RoFormer).

Tokens are always in `(t, y, x)` raster order: x fastest, then y, then t; a token's features are
ordered `(c, pt, ph, pw)`, the same as a `Conv3d` weight, so `PatchEmbed` is a linear map of them.
"""
from __future__ import annotations

import operator

import torch
from einops import rearrange
from torch import nn

FREQ_BASE = 10000.0         # base of the frequency ladder ("Attention Is All You Need"; RoFormer)
AXES = ("T", "H", "W")


def _check_patch_size(patch_size) -> tuple[int, int, int]:
    """`(pt, ph, pw)` as a tuple of positive ints, or a ValueError saying what is allowed."""
    try:
        ps = tuple(operator.index(p) for p in patch_size)
    except TypeError:
        ps = ()
    if len(ps) != 3 or min(ps) < 1:
        raise ValueError(f"patch_size must be three positive ints (pt, ph, pw); got {patch_size!r}")
    return ps


def patch_grid(size, patch_size) -> tuple[int, int, int]:
    """The token grid `(T/pt, H/ph, W/pw)` of a clip of `size = (T, H, W)`; ValueError if it does not divide."""
    pt, ph, pw = ps = _check_patch_size(patch_size)
    if len(size) != 3:
        raise ValueError(f"patch_grid expects a clip size (T, H, W); got {tuple(size)}")
    T, H, W = (int(s) for s in size)
    bad = [f"{a}={s} % {p} != 0" for a, s, p in zip(AXES, (T, H, W), ps) if s % p]
    if bad or min(T, H, W) < 1:
        why = "; ".join(bad) or "sizes must be >= 1"
        raise ValueError(f"clip of T={T}, H={H}, W={W} is not divisible by patch_size {ps}: {why}; "
                         f"allowed: multiples of the patch size")
    return T // pt, H // ph, W // pw


def patchify(x: torch.Tensor, patch_size) -> torch.Tensor:
    """`(B, C, T, H, W)` -> tokens `(B, N, C*pt*ph*pw)`, N = (T/pt)(H/ph)(W/pw), in (t, y, x) raster order."""
    if x.ndim != 5:
        raise ValueError(f"patchify expects a clip (B, C, T, H, W); got shape {tuple(x.shape)}")
    pt, ph, pw = _check_patch_size(patch_size)
    patch_grid(x.shape[2:], patch_size)                 # raises if the patch does not divide
    return rearrange(x, "b c (t pt) (h ph) (w pw) -> b (t h w) (c pt ph pw)",
                     pt=pt, ph=ph, pw=pw)               # (B, N, C*pt*ph*pw)


def unpatchify(tokens: torch.Tensor, patch_size, grid) -> torch.Tensor:
    """The exact inverse of `patchify`: tokens `(B, N, C*pt*ph*pw)` and `grid = (T/pt, H/ph, W/pw)` -> `(B, C, T, H, W)`."""
    pt, ph, pw = _check_patch_size(patch_size)
    gt, gh, gw = (int(g) for g in grid)
    if tokens.ndim != 3:
        raise ValueError(f"unpatchify expects tokens (B, N, D); got shape {tuple(tokens.shape)}")
    B, N, D = tokens.shape
    if N != gt * gh * gw or D % (pt * ph * pw):
        raise ValueError(f"tokens of shape {tuple(tokens.shape)} do not fit grid {tuple(grid)} with "
                         f"patch_size {(pt, ph, pw)}: need N = {gt}*{gh}*{gw} = {gt * gh * gw} and "
                         f"D a multiple of {pt * ph * pw}")
    return rearrange(tokens, "b (t h w) (c pt ph pw) -> b c (t pt) (h ph) (w pw)",
                     t=gt, h=gh, w=gw, pt=pt, ph=ph, pw=pw)   # (B, C, T, H, W)


class Patchifier:
    """`patchify` and `unpatchify` with the patch size held once: `tokens, grid = P(x)`; `x = P.inverse(tokens, grid)`."""

    def __init__(self, patch_size):
        self.patch_size = _check_patch_size(patch_size)

    def grid(self, size) -> tuple[int, int, int]:
        return patch_grid(size, self.patch_size)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        return patchify(x, self.patch_size), self.grid(x.shape[2:])   # (B, N, C*pt*ph*pw), grid

    def inverse(self, tokens: torch.Tensor, grid) -> torch.Tensor:
        return unpatchify(tokens, self.patch_size, grid)               # (B, C, T, H, W)

    def __repr__(self) -> str:
        return f"Patchifier(patch_size={self.patch_size})"


class PatchEmbed(nn.Module):
    """Tubelet embedding: each `(C, pt, ph, pw)` patch projected to `hidden_size` (ViT/DiT; ViViT).

    A `Conv3d` with kernel = stride = patch is the same linear map as `nn.Linear` applied to
    `patchify(x)` with weight `conv.weight.reshape(D, -1)` (notebook 02 checks it). The way back,
    from the DiT's output tokens to a clip, is `unpatchify`.
    """

    def __init__(self, in_channels: int, hidden_size: int, patch_size, bias: bool = True):
        super().__init__()
        self.patch_size = _check_patch_size(patch_size)
        self.proj = nn.Conv3d(in_channels, hidden_size, kernel_size=self.patch_size,
                              stride=self.patch_size, bias=bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        if x.ndim != 5:
            raise ValueError(f"PatchEmbed expects (B, C, T, H, W); got shape {tuple(x.shape)}")
        grid = patch_grid(x.shape[2:], self.patch_size)   # Conv3d would silently drop the remainder
        x = self.proj(x)                                  # (B, D, T/pt, H/ph, W/pw)
        return rearrange(x, "b d t h w -> b (t h w) d"), grid   # (B, N, D), (T/pt, H/ph, W/pw)


def grid_positions(grid) -> torch.Tensor:
    """Each token's `(t, y, x)` grid position, LongTensor `(N, 3)`, in the token order of `patchify`."""
    gt, gh, gw = (int(g) for g in grid)
    t, y, x = torch.meshgrid(torch.arange(gt), torch.arange(gh), torch.arange(gw),
                             indexing="ij")                       # each (gt, gh, gw)
    return torch.stack([t, y, x], dim=-1).reshape(-1, 3)          # (N, 3)


def axis_dims(dim: int) -> tuple[int, int, int]:
    """How `dim` channels split across (t, y, x): `dim/4` to time, `3*dim/8` to each of y and x.

    Space has more positions than time, so it gets more channels (the split of CogVideoX's 3D
    sin-cos and rotary embeddings). Every part must be even (sin-cos pairs, rotation planes),
    so `dim` must be a multiple of 16.
    """
    if dim < 16 or dim % 16:
        raise ValueError(f"3D position embeddings split dim into t: dim/4, y: 3*dim/8, x: 3*dim/8, "
                         f"each even, so dim must be a positive multiple of 16 (16, 32, 48, 64, ...); "
                         f"got dim={dim}")
    return dim // 4, 3 * dim // 8, 3 * dim // 8


def _axis_frequencies(d: int) -> torch.Tensor:
    """`d/2` frequencies `1 / FREQ_BASE^(2i/d)`, from one turn per ~6 positions down to very slow."""
    return FREQ_BASE ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)   # (d/2,)


def _axis_angles(grid, dim: int) -> torch.Tensor:
    """Angle `position * frequency` for every token and every channel pair, axes side by side."""
    pos = grid_positions(grid).double()                                     # (N, 3)
    parts = [pos[:, a, None] * _axis_frequencies(d)[None]                   # (N, d/2)
             for a, d in enumerate(axis_dims(dim))]
    return torch.cat(parts, dim=1)                                          # (N, dim/2)


def sincos_pos_embed_3d(dim: int, grid) -> torch.Tensor:
    """Fixed 3D sin-cos position embeddings `(N, dim)`, added to the tokens ("Attention Is All You Need").

    Channels are `[t part | y part | x part]` with sizes from `axis_dims` (dim/4, 3dim/8, 3dim/8);
    each part is `[sin(pos * f_i) | cos(pos * f_i)]` over its own frequency ladder, as DiT and MAE
    do in 2D. Values lie in [-1, 1]; rows are in the token order of `patchify`.
    """
    angles = _axis_angles(grid, dim)                                        # (N, dim/2)
    dt, dy, _ = axis_dims(dim)
    chunks = angles.split([dt // 2, dy // 2, dy // 2], dim=1)               # per axis (N, d/2)
    emb = torch.cat([torch.cat([a.sin(), a.cos()], dim=1) for a in chunks], dim=1)   # (N, dim)
    return emb.float()                                                      # (N, dim)


def rope_3d_freqs(head_dim: int, grid) -> tuple[torch.Tensor, torch.Tensor]:
    """3D rotary embeddings (RoFormer): `cos, sin`, each `(N, head_dim/2)`, one angle per channel pair.

    Channels `(2i, 2i+1)` of a query or key form a plane that is rotated by the angle
    `pos_axis * f_i`; the first `head_dim/4` channels turn with t, the next `3*head_dim/8` with y,
    the last `3*head_dim/8` with x (`axis_dims`). Because a rotation by a at the query and by b at
    the key leaves their dot product depending on b - a only, attention sees relative positions.
    """
    angles = _axis_angles(grid, head_dim)                                   # (N, head_dim/2)
    return angles.cos().float(), angles.sin().float()                       # (N, head_dim/2) x 2


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate queries or keys `(B, heads, N, head_dim)` by the angles of `rope_3d_freqs`; norms are kept."""
    if x.shape[-1] != 2 * cos.shape[-1] or x.shape[-2] != cos.shape[-2]:
        raise ValueError(f"apply_rope: x of shape {tuple(x.shape)} needs cos/sin of shape "
                         f"(N={x.shape[-2]}, head_dim/2={x.shape[-1] // 2}); got {tuple(cos.shape)}")
    pairs = rearrange(x, "... n (d two) -> ... n d two", two=2)              # (B, heads, N, head_dim/2, 2)
    x1, x2 = pairs.unbind(-1)                                               # (B, heads, N, head_dim/2) x 2
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)                             # (N, head_dim/2), broadcast
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)   # (B, heads, N, head_dim/2, 2)
    return rearrange(out, "... n d two -> ... n (d two)")                   # (B, heads, N, head_dim)


__all__ = ["patch_grid", "patchify", "unpatchify", "Patchifier", "PatchEmbed", "grid_positions",
           "axis_dims", "sincos_pos_embed_3d", "rope_3d_freqs", "apply_rope", "FREQ_BASE"]
