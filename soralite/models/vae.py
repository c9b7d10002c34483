"""The video VAE: causal 3D convolutions that compress space and time (built in notebook 03).

A clip `(B, 3, T, H, W)` in [-1, 1] becomes a latent `(B, latent_channels, T / c, H / s, W / s)`,
where `c = temporal_compression` (1, 2 or 4) and `s = spatial_compression` (2, 4 or 8); the
decoder maps it back. The encoder returns a diagonal Gaussian *posterior* (mean and log-variance,
with `sample()` and `mode()`), regularized towards N(0, I) by a small KL term, as in the Stable
Diffusion autoencoder; the diffusion model works on `z * scaling_factor`, where `scaling_factor`
(1 / std of the latents) is measured on data after training and saved in the config.

**Two paths, added.** (1) A fixed *linear code* of each `c x s x s` patch, a kernel = stride
convolution set once from data by `init_from_data` to the whitened PCA of the world's patches
(the best linear autoencoder, with unit-variance latents), and its transpose in the decoder.
(2) A trained nonlinear *residual*: patchify conv, per-patch MLPs and causal 3D-conv residual
blocks, whose last layers start at zero. Training therefore starts from PCA and only has to
learn what a linear code misses (sharp edges), which is what makes the `tiny` VAE reach 30 dB
in a few hundred CPU steps.

**Time is causal.** Every convolution that mixes frames pads only at the front, with copies of
the first frame, so latent frame `k` depends on frames `0 .. (k + 1) * c - 1` and never on later
ones: changing frame `t` leaves the latents of every earlier group exactly as they were. The same
holds in the decoder (output frame `t` depends on latent frames `0 .. t // c`).

**The time convention: T frames -> T / c latent frames.** The encoder opens with a
*patchify* convolution (kernel = stride = `(c, p, p)`) that cuts the clip into groups of `c`
frames, `[0, c)`, `[c, 2c)`, ..., so a video needs `T % c == 0`. The first frame is handled
specially in one case: an **image** (`T = 1`) is a still clip, its one frame repeated `c` times,
which is exactly what the causal front padding shows the first group anyway; it encodes to one
latent frame and `decode(z, num_frames=1)` gives the image back. So images and videos go through
one encoder into one latent space, and the kit's clips (T = 16 at tiny and workshop, T = 4 at
smoke) give 8 (or 2) latent frames at 2x, which the DiT's temporal patch of 1 or 2 divides.
Any other `T` raises a `ValueError` that names the allowed values.
The other common convention (MAGVIT-v2, CogVideoX) encodes frame 0 alone and
then groups of `c`: `T = 1 + k c` frames -> `1 + k` latent frames (49 -> 13 at 4x). It makes the
first latent frame *exactly* an image latent, at the price of odd frame counts (17, 33, 49) and
odd latent lengths; notebook 03 compares the two.

**Long clips** are encoded and decoded in chunks of `chunk_frames` frames. Because the network is
causal, each chunk is given the frames of its receptive field before it as context (and their
outputs dropped), which makes the chunked result equal the whole one up to float rounding: there
is no seam at the chunk borders.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from soralite.checkpoint import (CheckpointError, check_config, load_pretrained,
                                 load_state_dict_strict, save_pretrained)
from soralite.config import SPATIAL_COMPRESSIONS, TEMPORAL_COMPRESSIONS, VAEConfig

PATCH_SPATIAL = 4               # the patchify conv's spatial size; further 2x steps are strided convs
TIME_KERNEL = 3                 # causal temporal kernel of the residual blocks
MLP_RATIO = 2                   # hidden width of the per-patch MLPs, as a multiple of patch_channels
NORM_GROUPS = 8                 # GroupNorm groups (per frame, so time stays causal)
LOGVAR_RANGE = (-30.0, 20.0)    # clamp of the posterior log-variance, as in the SD autoencoder
LOGVAR_INIT = -6.0              # a fresh posterior's log-variance: std 0.05 against unit-variance latents
EIGEN_FLOOR = 1e-6              # smallest patch variance the PCA initialization divides by

# VAEConfig fields that may differ between a checkpoint and the config that loads it:
# the measured latent scale comes *from* the checkpoint, chunking is an inference setting.
NON_ARCH_FIELDS = ("scaling_factor", "chunk_frames")


# ----------------------------------------------------------------------------------------------
# Building blocks


class CausalConv3d(nn.Module):
    """A 3D convolution that sees only the present and the past in time.

    Time is padded at the front with `kt - 1` copies of the first frame; height and width are
    zero-padded on both sides ("same" size). Stride 1 only: down- and up-sampling use
    kernel = stride convolutions, which never mix groups of frames.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int, int]):
        super().__init__()
        kt, kh, kw = kernel_size
        self.time_pad = kt - 1
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size, padding=(0, kh // 2, kw // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W)
        if self.time_pad:
            first = x[:, :, :1].expand(-1, -1, self.time_pad, -1, -1)   # (B, C, kt-1, H, W)
            x = torch.cat([first, x], dim=2)                            # (B, C, kt-1+T, H, W)
        return self.conv(x)                                             # (B, C', T, H, W)


class FrameNorm(nn.GroupNorm):
    """GroupNorm over (channels, height, width) of each frame alone, so it never mixes time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W)
        b = x.shape[0]
        y = super().forward(rearrange(x, "b c t h w -> (b t) c h w"))
        return rearrange(y, "(b t) c h w -> b c t h w", b=b)


class ResBlock3d(nn.Module):
    """norm -> SiLU -> causal conv (3x3x3) -> norm -> SiLU -> conv (1x3x3), plus the input."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm1 = FrameNorm(NORM_GROUPS, channels)
        self.conv1 = CausalConv3d(channels, channels, (TIME_KERNEL, 3, 3))
        self.norm2 = FrameNorm(NORM_GROUPS, channels)
        self.conv2 = CausalConv3d(channels, channels, (1, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W)
        h = self.conv1(F.silu(self.norm1(x)))             # (B, C, T, H, W), sees frames t-2 .. t
        h = self.conv2(F.silu(self.norm2(h)))             # (B, C, T, H, W), within each frame
        return x + h


class PatchMLP(nn.Module):
    """A residual MLP applied to every latent position alone (a 1x1x1 conv): LayerNorm over
    channels -> Linear -> SiLU -> Linear, plus the input. It works within each patch, so it is
    cheap and never mixes time; it gives the patch codec its capacity."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.fc1 = nn.Linear(channels, MLP_RATIO * channels)
        self.fc2 = nn.Linear(MLP_RATIO * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, t, h, w, C), channels last
        return x + self.fc2(F.silu(self.fc1(self.norm(x))))


def _stages(spatial_compression: int) -> tuple[int, int]:
    """The patchify conv's spatial size and how many 2x spatial steps follow it."""
    patch = min(PATCH_SPATIAL, spatial_compression)
    return patch, int(math.log2(spatial_compression // patch))


def _default_code(cfg: VAEConfig) -> torch.Tensor:
    """A fresh linear code before `init_from_data`: orthonormal rows (a fixed random rotation of
    the patch, truncated), so the linear path is at least a projection and its own inverse."""
    c, s = cfg.temporal_compression, cfg.spatial_compression
    D = cfg.in_channels * c * s * s
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(D, max(D, cfg.latent_channels), generator=g))   # (D, D)
    rows = torch.zeros(cfg.latent_channels, D)
    k = min(cfg.latent_channels, D)
    rows[:k] = q[:, :k].T
    return rows.view(cfg.latent_channels, cfg.in_channels, c, s, s)


class Encoder(nn.Module):
    """Clip `(B, 3, T, H, W)` -> posterior parameters `(B, 2 * latent_channels, T/c, H/s, W/s)`.

    Two paths, added: a fixed *linear patch code* (`code_weight`, a kernel = stride = (c, s, s)
    conv that `VideoVAE.init_from_data` sets to the whitened PCA of the world's patches and that
    training leaves alone) and a trained nonlinear residual that learns what the linear code
    misses: a patchify conv (kernel = stride = (c, 4, 4)), per-patch MLP blocks, then causal
    3D-conv residual blocks that see the neighbours in space and the past in time. Its last layer
    starts at zero, so a fresh encoder is the linear code.
    """

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        ch, c, s, wide = cfg.base_channels, cfg.temporal_compression, cfg.spatial_compression, cfg.patch_channels
        patch, n_down = _stages(s)
        self.latent_channels, self.code_stride = cfg.latent_channels, (c, s, s)
        code = _default_code(cfg)                         # (L, 3, c, s, s), set by init_from_data
        self.register_buffer("code_weight", code)
        self.register_buffer("code_bias", torch.zeros(cfg.latent_channels))
        self.patchify = nn.Conv3d(cfg.in_channels, wide, (c, patch, patch), stride=(c, patch, patch))
        self.mlp = nn.Sequential(*[PatchMLP(wide) for _ in range(cfg.num_mlp_blocks)], nn.LayerNorm(wide),
                                 nn.Linear(wide, ch))
        layers: list[nn.Module] = []
        for _ in range(n_down):
            layers += [ResBlock3d(ch), nn.Conv3d(ch, ch, (1, 2, 2), stride=(1, 2, 2))]
        layers += [ResBlock3d(ch) for _ in range(cfg.num_res_blocks)]
        self.blocks = nn.Sequential(*layers)
        self.norm_out = FrameNorm(NORM_GROUPS, ch)
        self.conv_out = CausalConv3d(ch, 2 * cfg.latent_channels, (1, 3, 3))
        nn.init.zeros_(self.conv_out.conv.weight)
        nn.init.zeros_(self.conv_out.conv.bias)
        nn.init.constant_(self.conv_out.conv.bias[cfg.latent_channels:], LOGVAR_INIT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, T, H, W)
        h = self.patchify(x)                              # (B, wide, T/c, H/p, W/p)
        h = rearrange(self.mlp(rearrange(h, "b c t h w -> b t h w c")), "b t h w c -> b c t h w")
        h = self.blocks(h)                                # (B, ch, T/c, H/s, W/s)
        params = self.conv_out(F.silu(self.norm_out(h)))  # (B, 2 * latent, T/c, H/s, W/s)
        linear = F.conv3d(x, self.code_weight, self.code_bias, stride=self.code_stride)  # (B, latent, t, h, w)
        return params + F.pad(linear, (0, 0, 0, 0, 0, 0, 0, self.latent_channels))  # mean += linear


class Decoder(nn.Module):
    """Latent `(B, latent_channels, T/c, H/s, W/s)` -> clip `(B, 3, T, H, W)`, mirroring the encoder.

    The fixed linear path (`code_weight`, a transposed conv with kernel = stride = (c, s, s))
    paints each latent position's block of pixels from its own latent vector, the inverse of the
    encoder's linear code; the residual path (causal residual blocks, per-patch MLPs, a kernel = stride
    "unpatchify") adds what it cannot, and starts at zero.
    """

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        ch, c, s, wide = cfg.base_channels, cfg.temporal_compression, cfg.spatial_compression, cfg.patch_channels
        patch, n_down = _stages(s)
        self.code_stride = (c, s, s)
        self.register_buffer("code_weight", _default_code(cfg))      # (L, 3, c, s, s)
        self.register_buffer("code_bias", torch.zeros(cfg.in_channels))
        self.conv_in = CausalConv3d(cfg.latent_channels, ch, (1, 3, 3))
        layers: list[nn.Module] = [ResBlock3d(ch) for _ in range(cfg.num_res_blocks)]
        for _ in range(n_down):
            layers += [nn.ConvTranspose3d(ch, ch, (1, 2, 2), stride=(1, 2, 2)), ResBlock3d(ch)]
        self.blocks = nn.Sequential(*layers)
        self.mlp = nn.Sequential(nn.Linear(ch, wide), *[PatchMLP(wide) for _ in range(cfg.num_mlp_blocks)],
                                 nn.LayerNorm(wide))
        self.unpatchify = nn.ConvTranspose3d(wide, cfg.in_channels, (c, patch, patch), stride=(c, patch, patch))
        nn.init.zeros_(self.unpatchify.weight)
        nn.init.zeros_(self.unpatchify.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, latent, T/c, H/s, W/s)
        h = self.blocks(self.conv_in(z))                  # (B, ch, T/c, H/p, W/p)
        h = self.mlp(rearrange(h, "b c t h w -> b t h w c"))             # (B, T/c, H/p, W/p, wide)
        residual = self.unpatchify(rearrange(F.silu(h), "b t h w c -> b c t h w"))  # (B, 3, T, H, W)
        linear = F.conv_transpose3d(z, self.code_weight, self.code_bias, stride=self.code_stride)
        return linear + residual                          # (B, 3, T, H, W)


# ----------------------------------------------------------------------------------------------
# The posterior


class DiagonalGaussian:
    """The encoder's posterior q(z | x) = N(mean, exp(logvar)), per latent element."""

    def __init__(self, parameters: torch.Tensor):  # (B, 2 * latent, t, h, w)
        self.mean, logvar = parameters.chunk(2, dim=1)   # (B, latent, t, h, w) each
        self.logvar = logvar.clamp(*LOGVAR_RANGE)
        self.std = torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mean + std * eps, the reparameterization trick."""
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device,
                          dtype=self.mean.dtype)
        return self.mean + self.std * eps                 # (B, latent, t, h, w)

    def mode(self) -> torch.Tensor:
        return self.mean                                  # (B, latent, t, h, w)

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) per latent element, averaged over everything but the batch: (B,)."""
        mean, logvar = self.mean.float(), self.logvar.float()   # fp32 also under bf16 autocast
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)
        return kl.flatten(1).mean(1)


# ----------------------------------------------------------------------------------------------
# The model


class VideoVAE(nn.Module):
    """A KL-regularized causal video autoencoder: `encode(x) -> DiagonalGaussian`, `decode(z) -> x`.

    Latents are unscaled, as in the diffusers libraries: the diffusion model sees
    `z * config.scaling_factor` and hands back latents to divide by it before `decode`.
    Notebook 03 builds it; `soralite.train.vae_stage.train_vae` sets its linear code from data
    (`init_from_data`) and trains the rest.
    """

    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        self.config = config = dataclasses.replace(config) if config else VAEConfig()
        validate_config(config)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    # --- shapes ------------------------------------------------------------------------------
    @property
    def temporal_compression(self) -> int:
        return self.config.temporal_compression

    @property
    def spatial_compression(self) -> int:
        return self.config.spatial_compression

    def latent_frames(self, frames: int) -> int:
        """How many latent frames a clip of `frames` frames has (raises ValueError if not allowed)."""
        c = self.config.temporal_compression
        if frames == 1:
            return 1
        if frames < 1 or frames % c:
            raise ValueError(
                f"a clip of T={frames} frames cannot be encoded with temporal_compression={c}: "
                f"T must be 1 (an image) or a multiple of {c} ({', '.join(str(c * k) for k in range(1, 5))}, ...)")
        return frames // c

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """`(latent_channels, t, h, w)` of the latent of a `frames x height x width` clip."""
        s = self.config.spatial_compression
        if height % s or width % s:
            raise ValueError(f"height and width must be multiples of spatial_compression={s} "
                             f"(got {height} x {width})")
        return (self.config.latent_channels, self.latent_frames(frames), height // s, width // s)

    @property
    def encoder_context(self) -> int:
        """Latent frames of the past that one latent frame of the encoder depends on."""
        return sum(m.time_pad for m in self.encoder.modules() if isinstance(m, CausalConv3d))

    @property
    def decoder_context(self) -> int:
        """Latent frames of the past that one output group of the decoder depends on."""
        return sum(m.time_pad for m in self.decoder.modules() if isinstance(m, CausalConv3d))

    # --- encode / decode ---------------------------------------------------------------------
    def encode(self, x: torch.Tensor, chunk_frames: int | None = None) -> DiagonalGaussian:
        """Clip `(B, 3, T, H, W)` in [-1, 1] -> posterior over `(B, latent, T/c, H/s, W/s)`.

        `T = 1` is an image. Clips longer than `chunk_frames` (default `config.chunk_frames`;
        0 means never) are encoded chunk by chunk, each with its causal context.
        """
        if x.ndim != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"encode expects (B, {self.config.in_channels}, T, H, W); got {tuple(x.shape)}")
        B, _, T, H, W = x.shape
        self.latent_shape(T, H, W)                        # validates T, H, W
        c = self.config.temporal_compression
        if T == 1:
            x = x.expand(-1, -1, c, -1, -1)               # (B, 3, c, H, W): an image is a still clip
        chunk = self._chunk(chunk_frames)
        if not chunk or x.shape[2] <= chunk:
            return DiagonalGaussian(self.encoder(x))
        ctx = self.encoder_context * c                    # frames of context before each chunk
        params = []
        for start in range(0, x.shape[2], chunk):
            lo = max(0, start - ctx)
            p = self.encoder(x[:, :, lo:start + chunk])   # (B, 2 * latent, (start+chunk-lo)/c, h, w)
            params.append(p[:, :, (start - lo) // c:])
        return DiagonalGaussian(torch.cat(params, dim=2))  # (B, 2 * latent, T/c, h, w)

    def decode(self, z: torch.Tensor, num_frames: int | None = None,
               chunk_frames: int | None = None) -> torch.Tensor:
        """Latent `(B, latent, t, h, w)` -> clip `(B, 3, t * c, H, W)` (unclamped, about [-1, 1]).

        `num_frames=1` with a one-frame latent gives the image `(B, 3, 1, H, W)`.
        """
        if z.ndim != 5 or z.shape[1] != self.config.latent_channels:
            raise ValueError(f"decode expects (B, {self.config.latent_channels}, t, h, w); "
                             f"got {tuple(z.shape)}")
        c, t = self.config.temporal_compression, z.shape[2]
        if num_frames not in (None, t * c) and not (num_frames == 1 and t == 1):
            raise ValueError(f"num_frames={num_frames} does not fit {t} latent frames: "
                             f"allowed {t * c}" + (" or 1 (an image)" if t == 1 else ""))
        chunk = self._chunk(chunk_frames)
        if not chunk or t * c <= chunk:
            x = self.decoder(z)                           # (B, 3, t * c, H, W)
        else:
            step, ctx = chunk // c, self.decoder_context  # latent frames per chunk and of context
            parts = []
            for start in range(0, t, step):
                lo = max(0, start - ctx)
                y = self.decoder(z[:, :, lo:start + step])  # (B, 3, (start+step-lo) * c, H, W)
                parts.append(y[:, :, (start - lo) * c:])
            x = torch.cat(parts, dim=2)                   # (B, 3, t * c, H, W)
        return x[:, :, :1] if num_frames == 1 else x

    def forward(self, x: torch.Tensor, sample: bool = True,
                generator: torch.Generator | None = None,
                noise: torch.Tensor | None = None) -> tuple[torch.Tensor, DiagonalGaussian]:
        """Reconstruct a clip: `(recon (B, 3, T, H, W), posterior)`; `sample=False` uses the mean;
        `noise` (the latent's shape) is the reparameterization's eps, else drawn from `generator`."""
        posterior = self.encode(x, chunk_frames=0)
        if not sample:
            z = posterior.mode()
        elif noise is not None:
            z = posterior.mean + posterior.std * noise.to(posterior.mean)  # (B, latent, t, h, w)
        else:
            z = posterior.sample(generator)
        return self.decode(z, num_frames=x.shape[2], chunk_frames=0), posterior

    def _chunk(self, chunk_frames: int | None) -> int:
        chunk = self.config.chunk_frames if chunk_frames is None else chunk_frames
        c = self.config.temporal_compression
        if chunk < 0 or chunk % c:
            raise ValueError(f"chunk_frames must be 0 (no chunks) or a positive multiple of "
                             f"temporal_compression={c} (got {chunk})")
        return chunk

    # --- the linear code ---------------------------------------------------------------------
    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> dict[str, float]:
        """Set the fixed linear code to the whitened PCA of the patches of clips `x` `(N, 3, T, H, W)`.

        A linear autoencoder trained to convergence is PCA; starting there, the fresh VAE already
        reconstructs as well as the best linear code with `latent_channels` numbers per patch, and
        its latents have unit variance. Returns the share of patch variance that the code keeps.
        """
        c, s, L = self.config.temporal_compression, self.config.spatial_compression, self.config.latent_channels
        if x.shape[2] == 1:
            x = x.expand(-1, -1, c, -1, -1)                                    # images: still clips
        self.latent_shape(*x.shape[2:])                                        # validates T, H, W
        x = x.detach().float().cpu()
        patches = rearrange(x, "b k (t c) (h p) (w q) -> (b t h w) (k c p q)", c=c, p=s, q=s)
        colour_mean = x.mean(dim=(0, 2, 3, 4))                                 # (3,)
        mean = colour_mean.repeat_interleave(c * s * s)                        # (D,) in (k c p q) order
        centred = patches - mean                                               # (M, D)
        cov = centred.T @ centred / len(centred)                               # (D, D)
        evals, evecs = torch.linalg.eigh(cov.double())                         # ascending
        k = min(L, len(evals))
        lam = evals.flip(0)[:k].clamp_min(EIGEN_FLOOR).float()                 # (k,) largest first
        vecs = evecs.flip(1)[:, :k].float()                                    # (D, k)
        enc = torch.zeros(L, len(mean))
        dec = torch.zeros(L, len(mean))
        enc[:k] = (vecs / lam.sqrt()).T                                        # whiten: unit variance
        dec[:k] = (vecs * lam.sqrt()).T
        shape = (L, self.config.in_channels, c, s, s)
        dev = self.encoder.code_weight.device
        self.encoder.code_weight.copy_(enc.view(shape).to(dev))
        self.encoder.code_bias.copy_((-(enc @ mean.cpu())).to(dev))
        self.decoder.code_weight.copy_(dec.view(shape).to(dev))
        self.decoder.code_bias.copy_(colour_mean.to(dev))
        return {"explained_variance": float(lam.sum() / evals.clamp_min(0).sum())}

    # --- checkpoints -------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, meta: dict[str, Any] | None = None,
                        extra_tensors: dict[str, torch.Tensor] | None = None) -> Path:
        """Write `config.json` and `model.safetensors` to `directory`, atomically."""
        return save_pretrained(directory, dataclasses.asdict(self.config), self.state_dict(),
                               extra_tensors=extra_tensors, meta=meta, kind="vae")

    @classmethod
    def from_pretrained(cls, directory: str | Path, config: VAEConfig | None = None,
                        device: str | torch.device = "cpu") -> "VideoVAE":
        """Load a saved VAE. With `config`, its architecture fields must match the checkpoint's
        (a `ConfigMismatchError` names the ones that differ); the measured `scaling_factor`
        always comes from the checkpoint."""
        ckpt = load_pretrained(directory, load_extra=False)
        saved = _vae_config_from_dict(ckpt.config, directory)
        if config is not None:
            check_config(ckpt.config, dataclasses.asdict(config), directory, prefix="vae.",
                         ignore=NON_ARCH_FIELDS)
            saved = dataclasses.replace(config, scaling_factor=saved.scaling_factor)
        vae = cls(saved)
        load_state_dict_strict(vae, ckpt.state_dict, directory)
        return vae.to(device).eval()


def validate_config(cfg: VAEConfig) -> None:
    """Raise `ValueError` naming the VAE field that is out of range."""
    if cfg.temporal_compression not in TEMPORAL_COMPRESSIONS:
        raise ValueError(f"vae.temporal_compression must be one of {TEMPORAL_COMPRESSIONS} "
                         f"(got {cfg.temporal_compression})")
    if cfg.spatial_compression not in SPATIAL_COMPRESSIONS:
        raise ValueError(f"vae.spatial_compression must be one of {SPATIAL_COMPRESSIONS} "
                         f"(got {cfg.spatial_compression})")
    if cfg.latent_channels < 1 or cfg.in_channels < 1:
        raise ValueError(f"vae.latent_channels and vae.in_channels must be >= 1 "
                         f"(got {cfg.latent_channels}, {cfg.in_channels})")
    if cfg.base_channels < NORM_GROUPS or cfg.base_channels % NORM_GROUPS:
        raise ValueError(f"vae.base_channels must be a positive multiple of {NORM_GROUPS} "
                         f"(got {cfg.base_channels})")
    if cfg.num_res_blocks < 0:
        raise ValueError(f"vae.num_res_blocks must be >= 0 (got {cfg.num_res_blocks})")
    if cfg.chunk_frames < 0 or cfg.chunk_frames % cfg.temporal_compression:
        raise ValueError(f"vae.chunk_frames must be 0 or a multiple of temporal_compression="
                         f"{cfg.temporal_compression} (got {cfg.chunk_frames})")


def _vae_config_from_dict(d: dict[str, Any], directory: str | Path) -> VAEConfig:
    names = {f.name for f in dataclasses.fields(VAEConfig)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise CheckpointError(f"{Path(directory) / 'config.json'} is not a VAE config: "
                              f"unknown fields {', '.join(unknown)}")
    return VAEConfig(**d)
