"""The DiT's latents: their shape under a config, token counts, and the VAE <-> DiT scaling (notebooks 03 and 06).

The DiT never sees pixels: a clip `uint8 (N, T, H, W, 3)` is encoded by the VAE to its posterior's
mode `(N, C, t, h, w)` and multiplied per channel by a *latent scale* `(C,)` (a pipeline's
`latent_scale`); sampled latents are divided by it before the VAE decodes them.
"""
from __future__ import annotations

import torch

from soralite.config import Config
from soralite.video import to_tensor

ENCODE_BATCH = 64                  # clips per VAE call when encoding many
GAIN_STEP = 0.1                    # finite-difference step, in units of the latents' std


def clip_size(cfg: Config, size=None) -> tuple[int, int, int]:
    """`(frames, height, width)`: `size` where given (any of its entries None: the world's)."""
    w = cfg.world
    size = size or (None, None, None)
    return tuple(int(v) if v is not None else d for v, d in zip(size, (w.frames, w.height, w.width)))


def latent_shape(cfg: Config, size=None) -> tuple[int, int, int, int]:
    """`(C, t, h, w)` of a clip's latent under `cfg.vae` (the VAE's time and space compression),
    for the world's clips or a clip of `size = (frames, height, width)`."""
    v = cfg.vae
    T, H, W = clip_size(cfg, size)
    t = 1 if T == 1 else T // v.temporal_compression
    return (v.latent_channels, t, H // v.spatial_compression, W // v.spatial_compression)


def num_tokens(cfg: Config, size=None) -> int:
    """Spacetime patches per clip: the latent's `(t, h, w)` divided by `dit.patch_size`."""
    _, t, h, w = latent_shape(cfg, size)
    pt, ph, pw = cfg.dit.patch_size
    if t % pt or h % ph or w % pw:
        raise ValueError(f"dit.patch_size {tuple(cfg.dit.patch_size)} does not divide the latent "
                         f"(t, h, w) = {(t, h, w)}; pick a patch size that divides it")
    return (t // pt) * (h // ph) * (w // pw)


def per_channel(scale: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """A `(C,)` scale shaped to multiply latents `z (B, C, ...)`: `(1, C, 1, 1, 1)`."""
    return scale.to(z.device, z.dtype).view(1, -1, *([1] * (z.ndim - 2)))


@torch.no_grad()
def decoder_gains(vae, x: torch.Tensor, step: float = GAIN_STEP) -> torch.Tensor:
    """How far one unit of each latent channel moves the decoded pixels: `(C,)` RMS pixel change
    per unit, measured by finite differences around the latents of clips `x (B, 3, T, H, W)`."""
    z = vae.encode(x).mode()                                                # (B, C, t, h, w)
    base = vae.decode(z, num_frames=x.shape[2])                             # (B, 3, T, H, W)
    delta = step * z.std()
    gains = []
    for c in range(z.shape[1]):
        dz = torch.zeros_like(z)
        dz[:, c] = delta                                                    # (B, C, t, h, w)
        moved = vae.decode(z + dz, num_frames=x.shape[2])                   # (B, 3, T, H, W)
        gains.append(((moved - base) / delta).pow(2).mean().sqrt())
    return torch.stack(gains).float().cpu()                                 # (C,)


@torch.no_grad()
def encode_clips(vae, clips, device=None, batch_size: int = ENCODE_BATCH,
                 scale: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 clips `(N, T, H, W, 3)` -> scaled latents `(N, C, t, h, w)`: the posterior's mode
    times `scale (C,)` (a pipeline's `latent_scale`; default `vae.config.scaling_factor`)."""
    device = torch.device(device or next(vae.parameters()).device)
    out = []
    for i in range(0, len(clips), batch_size):
        x = to_tensor(clips[i:i + batch_size]).to(device)                  # (b, 3, T, H, W)
        z = vae.encode(x).mode()                                            # (b, C, t, h, w)
        z = z * (vae.config.scaling_factor if scale is None else per_channel(scale, z))
        out.append(z.float().cpu())
    return torch.cat(out)                                                   # (N, C, t, h, w)


__all__ = ["clip_size", "latent_shape", "num_tokens", "per_channel", "decoder_gains", "encode_clips", "ENCODE_BATCH"]
