"""Every task of the Sora report from one denoiser: animate, extend, connect, fill, loop, edit (notebook 09).

Each verb puts what it is given (an image, a clip, two clips) on a *timeline* of latent frames,
marks which frames are known, and lets `Pipeline.fill_latents` make the rest window by window,
each window conditioned on the known frames it holds (`soralite.diffusion.conditioning`). The
clips come back as `uint8 (N, T, H, W, 3)` with the frames that were given put back exactly as
given (`exact=False` returns what the decoder makes of them, which is how their quality is
measured). `edit` is SDEdit instead:
the clip is noised to a share `strength` of the schedule and that share is re-run with the new
prompt. The `Pipeline` methods of the same names call these.
"""
from __future__ import annotations

import numpy as np
import torch

from soralite.config import size_problem
from soralite.language import turned_round
from soralite.models import latent_shape
from soralite.video import resize_clip

DIRECTIONS = ("forward", "backward")


# ----------------------------------------------------------------------------------------------
# Inputs: clips and images of the checkpoint's size, prompts for each


def as_clips(pipe, clips, what: str = "clips", resize: bool = False, allow_images: bool = False,
             height: int | None = None, width: int | None = None) -> np.ndarray:
    """Clips as `uint8 (N, T, H, W, 3)`: one clip may be `(T, H, W, 3)`, (with `allow_images`) an
    image `(H, W, 3)` or images `(N, H, W, 3)` become one-frame clips. Any size the model can cut
    is kept (native sizes, notebook 10); with `resize` they are resized (cover, then centre-crop)
    to `height x width` (default the checkpoint's). A size the patch does not divide, or a frame
    count the VAE cannot split, is an error that says what works."""
    x = np.asarray(clips)
    if x.dtype != np.uint8:
        raise ValueError(f"{what} must be uint8 (0..255); got {x.dtype} (convert model tensors "
                         f"with soralite.video.to_uint8)")
    if allow_images and x.ndim == 3:
        x = x[None, None]                                                   # (1, 1, H, W, 3)
    elif allow_images and x.ndim == 4:
        x = x[:, None]                                                      # (N, 1, H, W, 3)
    elif x.ndim == 4:
        x = x[None]                                                         # (1, T, H, W, 3)
    shapes = "(H, W, 3) or (N, H, W, 3)" if allow_images else "(T, H, W, 3) or (N, T, H, W, 3)"
    if x.ndim != 5 or x.shape[-1] != 3:
        raise ValueError(f"{what} must be {shapes}; got shape {np.asarray(clips).shape}")
    if 0 in x.shape:
        raise ValueError(f"{what} hold no frames (shape {np.asarray(clips).shape})")
    H = pipe.config.world.height if height is None else height
    W = pipe.config.world.width if width is None else width
    if resize and x.shape[2:4] != (H, W):
        x = np.stack([resize_clip(c, H, W) for c in x])
    frames = 1 if allow_images else x.shape[1]
    problem = size_problem(pipe.config, frames, x.shape[2], x.shape[3])
    if problem:
        spatial = size_problem(pipe.config, 1, x.shape[2], x.shape[3]) is not None
        raise ValueError(f"{what} of {frames} x {x.shape[2]} x {x.shape[3]} (frames x height x "
                         f"width): {problem}" + (f"; or pass resize=True (--resize) to cover and "
                                                 f"centre-crop them to {H} x {W}"
                                                 if spatial and not resize else ""))
    return x


def prompts_for(pipe, prompts, n: int) -> list[str]:
    """The checked prompts, one per clip: a single prompt is used for all `n`."""
    prompts = pipe.check_prompts(prompts)
    if len(prompts) == 1 and n > 1:
        prompts = prompts * n
    if len(prompts) != n:
        raise ValueError(f"{len(prompts)} prompts for {n} clips; give one prompt, or one per clip")
    return prompts


def _frames(pipe, frames, what: str = "frames") -> int:
    """New frames as latent frames: at least one latent frame, a multiple of the compression."""
    c = pipe.vae.temporal_compression
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < c or frames % c:
        raise ValueError(f"{what} must be a positive multiple of the VAE's temporal compression "
                         f"{c} (got {frames!r}): {c}, {2 * c}, {3 * c}, ...")
    return frames // c


def _run(pipe, timeline, known, prompts, seed, steps, guidance, direction="forward", progress=False):
    seed, steps, guidance, scheduler = pipe._sampling(seed, steps, guidance, None)
    generator = torch.Generator().manual_seed(seed)
    return pipe.fill_latents(timeline, known, prompts, generator, steps, guidance, scheduler,
                             direction=direction, progress=progress)


def _timeline(pipe, n: int, frames: int, clips: np.ndarray | None = None) -> torch.Tensor:
    """Zeros `(n, C, frames, h, w)` at the latent size of `clips` (default the training size)."""
    size = None if clips is None else (1, clips.shape[2], clips.shape[3])
    C, _, h, w = latent_shape(pipe.config, size)
    return torch.zeros(n, C, frames, h, w)


# ----------------------------------------------------------------------------------------------
# The verbs


def animate(pipe, images, prompts, seed: int = 0, frames: int | None = None, steps=None,
            guidance=None, resize: bool = False, progress: bool = False,
            exact: bool = True, height: int | None = None, width: int | None = None) -> np.ndarray:
    """Clips whose first frame is the image: `images (H, W, 3)` or `(N, H, W, 3)` -> `(N, T, H, W, 3)`.
    The image is encoded as a still (the VAE's image convention) and given as the first latent
    frame; `frames` (default the training length) may be longer (a sliding window). The clip
    has the image's size (or, with `resize`, `height x width`)."""
    imgs = as_clips(pipe, images, "images", resize, allow_images=True, height=height, width=width)
    prompts = prompts_for(pipe, prompts, len(imgs))
    T = pipe.latent_frames(frames)
    timeline = _timeline(pipe, len(imgs), T, imgs)
    timeline[:, :, :1] = pipe.encode_clips(imgs)                           # (N, C, 1, h, w)
    known = torch.zeros(T, dtype=torch.bool)
    known[0] = True
    z = _run(pipe, timeline, known, prompts, seed, steps, guidance, progress=progress)
    clips = pipe.decode_latents(z)
    if exact:
        clips[:, 0] = imgs[:, 0]                                            # the image, exactly
    return clips


def extend(pipe, clips, prompts, frames: int, direction: str = "forward", seed: int = 0,
           steps=None, guidance=None, resize: bool = False, progress: bool = False,
           exact: bool = True) -> np.ndarray:
    """`(N, T, H, W, 3)` -> `(N, T + frames, H, W, 3)`: the clip first and `frames` new frames after
    it (`direction="forward"`), or the new frames first, leading into it (`"backward"`)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)} (got {direction!r})")
    x = as_clips(pipe, clips, "clips", resize)
    prompts = prompts_for(pipe, prompts, len(x))
    n = _frames(pipe, frames)
    z = pipe.encode_clips(x)                                                # (N, C, Tl, h, w)
    Tl = z.shape[2]
    timeline = _timeline(pipe, len(x), Tl + n, x)
    known = torch.zeros(Tl + n, dtype=torch.bool)
    given = slice(0, Tl) if direction == "forward" else slice(n, n + Tl)
    timeline[:, :, given], known[given] = z, True
    out = pipe.decode_latents(_run(pipe, timeline, known, prompts, seed, steps, guidance,
                                   direction, progress))
    c = pipe.vae.temporal_compression
    if exact:
        out[:, given.start * c: given.stop * c] = x                         # the clip, exactly
    return out


def connect(pipe, clips_a, clips_b, prompts, frames: int, seed: int = 0, steps=None,
            guidance=None, resize: bool = False, progress: bool = False,
            exact: bool = True) -> np.ndarray:
    """`(N, Ta + frames + Tb, H, W, 3)`: clip A, then `frames` new frames that lead from A's end
    into B's start, then clip B."""
    a = as_clips(pipe, clips_a, "clips_a", resize)
    b = as_clips(pipe, clips_b, "clips_b", resize)
    if len(a) != len(b):
        raise ValueError(f"connect needs as many clips B as clips A (got {len(a)} and {len(b)})")
    if a.shape[2:4] != b.shape[2:4]:
        raise ValueError(f"clips A are {a.shape[2]} x {a.shape[3]} pixels and clips B "
                         f"{b.shape[2]} x {b.shape[3]}: connect needs one size (or resize=True)")
    prompts = prompts_for(pipe, prompts, len(a))
    n = _frames(pipe, frames)
    za, zb = pipe.encode_clips(a), pipe.encode_clips(b)                    # (N, C, Ta', h, w), ...
    Ta, Tb = za.shape[2], zb.shape[2]
    timeline = _timeline(pipe, len(a), Ta + n + Tb, a)
    timeline[:, :, :Ta], timeline[:, :, Ta + n:] = za, zb
    known = torch.ones(Ta + n + Tb, dtype=torch.bool)
    known[Ta:Ta + n] = False
    out = pipe.decode_latents(_run(pipe, timeline, known, prompts, seed, steps, guidance,
                                   progress=progress))
    c = pipe.vae.temporal_compression
    if exact:
        out[:, :Ta * c], out[:, (Ta + n) * c:] = a, b                       # A and B, exactly
    return out


def fill(pipe, clips, known, prompts, seed: int = 0, steps=None, guidance=None,
         resize: bool = False, progress: bool = False, exact: bool = True) -> np.ndarray:
    """Clips where the frames with `known[t]` False are new: `known (T,)` bool, the same for every
    clip. A latent frame is given when all the frames it holds are known; known frames come back
    exactly."""
    x = as_clips(pipe, clips, "clips", resize)
    known = np.asarray(known, dtype=bool).reshape(-1)
    T, c = x.shape[1], pipe.vae.temporal_compression
    if len(known) != T:
        raise ValueError(f"known must have one entry per frame: {T} (got {len(known)})")
    if not known.any():
        raise ValueError("known marks no frame as known; use generate for a clip from the prompt alone")
    prompts = prompts_for(pipe, prompts, len(x))
    given = torch.as_tensor(known.reshape(-1, c).all(1))                    # (T / c,)
    z = pipe.encode_clips(x)                                                # (N, C, T / c, h, w)
    out = x.copy()
    if not bool(given.all()):
        out = pipe.decode_latents(_run(pipe, z, given, prompts, seed, steps, guidance,
                                       progress=progress))
    if exact:
        out[:, known] = x[:, known]                                         # known frames, exactly
    return out


def loop(pipe, prompts, frames: int | None = None, seed: int = 0, steps=None, guidance=None,
         progress: bool = False, height: int | None = None, width: int | None = None) -> np.ndarray:
    """A clip of `frames` frames (default the training length) whose last frame leads into its
    first: a first part from the prompt, then a transition of about half the clip made, as
    `connect` makes one, from the first part's end into its own start. Within one clip a mover
    that goes one way can only get back to where it started by turning round, so the transition
    is sampled from the prompt turned round (`soralite.language.turned_round`: "moving left"
    becomes "moving right"; other motions are kept): the loop goes there and back."""
    prompts = pipe.check_prompts(prompts)
    L = pipe.latent_frames(frames)
    W = pipe.window
    if L < 2:
        raise ValueError("a loop needs at least two latent frames (frames >= 2 x the VAE's "
                         "temporal compression)")
    g = max(1, min(L // 2, W - 2))                                          # the transition
    head = min(2, L - g, max(1, (W - g) // 2))                              # start frames it leads into
    c = pipe.vae.temporal_compression
    base = pipe.generate_latents(prompts, seed, steps, guidance, frames=max(L - g, W) * c,
                                 height=height, width=width)[:, :, :L - g]  # (N, C, L - g, h, w)
    seed, steps_, guidance_, scheduler = pipe._sampling(seed, steps, guidance, None)
    generator = torch.Generator().manual_seed(seed + 1)
    timeline = torch.cat([base, torch.zeros_like(base[:, :, :g]), base[:, :, :head]], dim=2)
    known = torch.ones(timeline.shape[2], dtype=torch.bool)
    known[L - g:L] = False
    back = [turned_round(p) for p in prompts]
    z = pipe.fill_latents(timeline, known, back, generator, steps_, guidance_, scheduler,
                          progress=progress)
    return pipe.decode_latents(z[:, :, :L])


def edit(pipe, clips, prompts, strength: float | None = None, seed: int = 0, steps=None,
         guidance=None, resize: bool = False, progress: bool = False) -> np.ndarray:
    """Clips re-made from the prompt (SDEdit): each clip is noised to the `strength` share of the
    schedule (default `train.edit_strength`) and that share is re-run with the new prompt; 0
    keeps the clip, 1 is a new sample that only shares the noise."""
    x = as_clips(pipe, clips, "clips", resize)
    prompts = prompts_for(pipe, prompts, len(x))
    strength = pipe.config.train.edit_strength if strength is None else strength
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 1:
        raise ValueError(f"strength must be a number in [0, 1], the share of the schedule that is "
                         f"re-run (got {strength!r})")
    W = pipe.window
    z = pipe.encode_clips(x)                                                # (N, C, T / c, h, w)
    if z.shape[2] > W:
        raise ValueError(f"edit takes clips of up to {W * pipe.vae.temporal_compression} frames "
                         f"(the longest training clips); got {x.shape[1]}")
    seed, steps, guidance, scheduler = pipe._sampling(seed, steps, guidance, None)
    generator = torch.Generator().manual_seed(seed)
    out = pipe.sample_latents(prompts, z.shape[2], generator, steps, guidance, scheduler,
                              strength=float(strength), init=z, progress=progress)
    return pipe.decode_latents(out)


__all__ = ["as_clips", "prompts_for", "animate", "extend", "connect", "fill", "loop", "edit",
           "DIRECTIONS"]
