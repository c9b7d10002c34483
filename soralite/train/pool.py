"""The latent pool: world clips encoded once by the VAE, what the denoiser trains on (notebook 06).

The denoiser learns on VAE latents, never on pixels: a fixed *pool* of world clips is rendered and
encoded once (the posterior's mode, times the per-channel latent scale) and cached in the run
folder as `latents.safetensors`, so no VAE runs inside the training loop. With `train.data` the
clips are a folder's (`soralite.train.folder`); with `train.captions` the captions are written
descriptively, by the run's captioner or from the truth (`soralite.train.captions`, notebook 12).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from soralite.config import LATENT_SCALINGS, Config
from soralite.models import decoder_gains, encode_clips
from soralite.models.latents import ENCODE_BATCH
from soralite.runs import LATENTS_FILE
from soralite.seeds import stream_seed
from soralite.train.captions import captioner_fingerprint, pool_captioner, pool_captions
from soralite.train.folder import clips_for, fingerprint

GAIN_CLIPS = 32                    # clips the decoder gains are measured on
GAIN_FLOOR = 1e-3                  # a channel the decoder ignores still gets a finite scale


@dataclass
class LatentPool:
    """World clips encoded once: `latents (N, C, t, h, w)` (scaled by `scale (C,)`), captions and
    their token ids."""

    latents: torch.Tensor
    captions: list[str]
    ids: torch.Tensor                     # (N, L) long
    mask: torch.Tensor                    # (N, L) bool
    scale: torch.Tensor | None = None     # (C,) the latent scale the latents were multiplied by

    def __len__(self) -> int:
        return len(self.captions)


@torch.no_grad()
def latent_scale(cfg: Config, vae, device=None) -> torch.Tensor:
    """The per-channel factors `(C,)` that take the VAE's latents to the DiT's.

    `train.latent_scaling = "global"`: every channel times `vae.config.scaling_factor` (1 / std),
    as latent diffusion does. `"decoder_gain"`: each channel also weighted by its decoder gain,
    then all scaled to unit std, so that the noise added to each channel costs the same in pixels
    and channels that move pixels a lot (where the object is) outlast the noise longer than fine
    detail does; for a VAE whose channels are whitened principal components (equal variance, very
    unequal importance) this is the difference between shapes that hold together and fragments.
    """
    C = cfg.vae.latent_channels
    if cfg.train.latent_scaling not in LATENT_SCALINGS:
        raise ValueError(f"train.latent_scaling must be one of {LATENT_SCALINGS} "
                         f"(got {cfg.train.latent_scaling!r})")
    if cfg.train.latent_scaling == "global":
        return torch.full((C,), float(vae.config.scaling_factor))
    device = torch.device(device or next(vae.parameters()).device)
    x = clips_for(cfg, GAIN_CLIPS, seed=stream_seed(cfg.seed, "gain"), captions=False).videos.to(device)
    gains = decoder_gains(vae, x).clamp_min(GAIN_FLOOR)                     # (C,)
    z = vae.encode(x).mode().float().cpu() * gains.view(1, -1, 1, 1, 1)     # (B, C, t, h, w)
    return gains / z.std()                                                  # (C,)


def square_crop(clips):
    """The centre square of clips `(N, T, H, W, 3)`: `(N, T, m, m, 3)`, m = min(H, W) (the framing
    experiment of notebook 10: what a model trained on square crops of wide clips sees)."""
    H, W = clips.shape[2:4]
    m = min(H, W)
    top, left = (H - m) // 2, (W - m) // 2
    return clips[:, :, top:top + m, left:left + m]


def vae_fingerprint(vae) -> str:
    """A short hash of the VAE's weights and scaling factor: a cached pool belongs to one VAE."""
    h = hashlib.sha256(repr(vae.config.scaling_factor).encode())
    for k, v in sorted(vae.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def build_pool(cfg: Config, vae, tokenizer, out: Path | None = None, progress: bool = False,
               size: tuple[int, int, int] | None = None, n: int | None = None, epoch: int = 0,
               scale: torch.Tensor | None = None) -> LatentPool:
    """Render `n` (default `train.pool_clips`) world clips, encode them with `vae`, tokenize their
    captions. `size = (frames, height, width)` renders them at that size natively (the world's
    own by default; notebook 10), from world epoch `epoch`, with the latent `scale` (default
    measured here).

    With `out`, the latents are cached in `out/latents.safetensors` (or `latents-FxHxW...` for
    another size), with the fingerprint of the VAE and the world, and read back from there when
    they still match. Latents are kept in float16, the same whether fresh or read back, so that
    a resumed run sees the same data."""
    n, seed = (cfg.train.pool_clips if n is None else n), stream_seed(cfg.seed, "pool")
    if n < 1:
        raise ValueError(f"train.pool_clips must be >= 1 (got {n})")
    world = cfg.world
    if size is not None and tuple(size) != (world.frames, world.height, world.width):
        world = dataclasses.replace(world, frames=size[0], height=size[1], width=size[2])
    key = {"world": dataclasses.asdict(world), "n": n, "seed": seed, "epoch": epoch,
           "vae": vae_fingerprint(vae), "scaling": cfg.train.latent_scaling, "crop": cfg.train.crop}
    captioner = None
    if cfg.train.captions != "standard":        # recaptioned (notebook 12): whose captions
        captioner = pool_captioner(cfg, out, progress=progress)
        key.update(captions=cfg.train.captions, captioner=captioner_fingerprint(captioner))
    if cfg.train.data:                          # a folder's clips: which files, as they are now
        key.update(data=str(Path(cfg.train.data).resolve()), files=fingerprint(cfg.train.data))
    key = json.dumps(key, sort_keys=True)
    name = LATENTS_FILE if world is cfg.world else f"latents-{world.frames}x{world.height}x{world.width}.safetensors"
    path = Path(out) / name if out is not None else None
    latents = captions = None
    if path is not None and path.exists():
        try:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
            if meta.get("key") == key:
                cached = load_file(str(path))
                latents, scale = cached["latents"], cached["scale"]
                captions = json.loads(meta["captions"])
        except Exception:  # noqa: BLE001 -- a bad cache is rebuilt, never trusted
            latents = captions = None
    if latents is None:
        scale = latent_scale(cfg, vae) if scale is None else scale          # (C,)
        chunks, captions = [], []
        todo = range(0, n, ENCODE_BATCH)
        if progress:
            todo = tqdm(todo, desc="encoding the latent pool", unit="batch", leave=False)
        for start in todo:
            batch = clips_for(cfg, min(ENCODE_BATCH, n - start), seed=seed, start=start, epoch=epoch,
                              world=world)                                  # the world's or train.data's
            clips = square_crop(batch.clips) if cfg.train.crop == "square" else batch.clips
            chunks.append(encode_clips(vae, clips, scale=scale))            # (b, C, t, h, w)
            captions += pool_captions(cfg, batch, captioner)
        latents = torch.cat(chunks).half()                                  # (N, C, t, h, w)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            save_file({"latents": latents.contiguous(), "scale": scale.float()}, str(tmp),
                      metadata={"key": key, "captions": json.dumps(captions)})
            tmp.replace(path)
    ids, mask = tokenizer.encode(captions, cfg.dit.text_max_length)         # (N, L), (N, L)
    return LatentPool(latents.float(), captions, ids, mask, scale.float())


__all__ = ["LatentPool", "latent_scale", "vae_fingerprint", "build_pool", "square_crop",
           "LATENT_SCALINGS"]
