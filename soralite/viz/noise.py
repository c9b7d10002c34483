"""Noise, latents, samples and sampling trajectories, drawn (notebooks 04, 06, 07 and 08)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from soralite.diffusion import alphas_cumprod, get_betas, shift_timesteps
from soralite.video import to_uint8
from soralite.studies.attention import _np
from soralite.viz.frames import (FRAME_INCHES, TEXT_SIZE, _as_clip, _frame_axes, _pick_frames,
                                 frame_strip, new_figure)

NOISE_SCHEDULES = ("linear", "cosine", "sigmoid", "flow")   # DDPM beta schedules and the straight path
SCHEDULE_STEPS = 1000       # DDPM timesteps behind a noise level u in [0, 1]
LOG_SNR_CLIP = 1e-6         # u is kept inside [clip, 1 - clip] where log-SNR is drawn
LATENT_CMAP = "RdBu_r"      # latent channels: signed values, symmetric colour scale


def schedule_alpha_sigma(schedule: str, u: float, num_timesteps: int = SCHEDULE_STEPS,
                         shift: float = 1.0) -> tuple[float, float]:
    """`(alpha, sigma)` of `x_t = alpha x0 + sigma eps` at noise level `u` in [0, 1]: DDPM
    schedules at timestep `round(u (N - 1))`, the straight path ("flow") at time `u` shifted."""
    if schedule not in NOISE_SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; allowed: {', '.join(NOISE_SCHEDULES)}")
    if not 0 <= u <= 1:
        raise ValueError(f"noise level u must be in [0, 1] (got {u})")
    if schedule == "flow":
        t = float(shift_timesteps(torch.tensor(float(u), dtype=torch.float64), shift))
        return 1 - t, t
    ab = float(alphas_cumprod(get_betas(schedule, num_timesteps))[round(u * (num_timesteps - 1))])
    return ab ** 0.5, (1 - ab) ** 0.5


def noisy_clip(clip: np.ndarray, u: float, schedule: str = "cosine", seed: int = 0,
               noise: np.ndarray | None = None) -> np.ndarray:
    """The clip noised to level `u` under `schedule` (pixels, as notebook 04 does), uint8
    `(T, H, W, 3)`: `alpha x0 + sigma eps` in [-1, 1], clipped. Noise from `seed` unless given."""
    clip = _as_clip(clip)
    x0 = clip.astype(np.float64) / 127.5 - 1                            # (T, H, W, 3) in [-1, 1]
    eps = np.random.default_rng(seed).standard_normal(x0.shape) if noise is None else np.asarray(noise)
    alpha, sigma = schedule_alpha_sigma(schedule, u)
    x_t = alpha * x0 + sigma * eps                                      # (T, H, W, 3)
    return np.round((np.clip(x_t, -1, 1) + 1) * 127.5).astype(np.uint8)


def plot_noisy_clip(clip: np.ndarray, u: float, schedule: str = "cosine", seed: int = 0,
                    frames: Sequence[int] | None = None, scale: float = FRAME_INCHES) -> Figure:
    """A frame strip of the clip noised to level `u` under `schedule`, titled with alpha, sigma
    and log-SNR (notebook 04's slider; `explore.noise_explorer`)."""
    alpha, sigma = schedule_alpha_sigma(schedule, u)
    snr = "inf" if sigma == 0 else ("-inf" if alpha == 0 else f"{2 * np.log(alpha / sigma):+.2f}")
    return frame_strip(noisy_clip(clip, u, schedule, seed), frames, scale,
                       title=f"{schedule}, u={u:.2f}: alpha={alpha:.3f}, sigma={sigma:.3f}, log-SNR {snr}")


def plot_noise_schedules(schedules: Sequence[str] = NOISE_SCHEDULES, shifts: Sequence[float] = (1.0,),
                         num_timesteps: int = SCHEDULE_STEPS) -> Figure:
    """`alphas_cumprod` and log-SNR against the noise level `u = t / N` (notebook 04): each DDPM
    schedule, and the straight path once per flow shift. For flow, the left panel shows the
    signal's share of the variance, `alpha^2 / (alpha^2 + sigma^2) = SNR / (1 + SNR)`, which is
    `alphas_cumprod` for a variance-preserving schedule."""
    bad = [s for s in schedules if s not in NOISE_SCHEDULES]
    if bad:
        raise ValueError(f"unknown schedules {bad}; allowed: {', '.join(NOISE_SCHEDULES)}")
    u = np.linspace(LOG_SNR_CLIP, 1 - LOG_SNR_CLIP, 400)
    fig = new_figure(9.0, 3.2)
    ax_ab, ax_snr = fig.subplots(1, 2)
    for name in schedules:
        for shift in (shifts if name == "flow" else (1.0,)):
            a, s = np.array([schedule_alpha_sigma(name, v, num_timesteps, shift) for v in u]).T  # (400,) x 2
            label = name if name != "flow" or len(shifts) == 1 else f"flow, shift {shift:g}"
            ax_ab.plot(u, a ** 2 / (a ** 2 + s ** 2), label=label)
            ax_snr.plot(u, 2 * np.log(np.maximum(a, LOG_SNR_CLIP) / np.maximum(s, LOG_SNR_CLIP)), label=label)
    ax_ab.set_ylabel("alphas_cumprod = SNR / (1 + SNR)", fontsize=TEXT_SIZE)
    ax_snr.set_ylabel("log-SNR", fontsize=TEXT_SIZE)
    for ax in (ax_ab, ax_snr):
        ax.set_xlabel("noise level u = t / N", fontsize=TEXT_SIZE)
        ax.tick_params(labelsize=TEXT_SIZE - 1)
        ax.legend(fontsize=TEXT_SIZE - 1)
    return fig


def plot_latent_channels(z, frames: Sequence[int] | None = None, scale: float = FRAME_INCHES / 1.5) -> Figure:
    """A latent `(C, t, h, w)` as images: one row per channel, one column per latent frame, each
    channel on its own symmetric colour scale (blue negative, red positive)."""
    z = _np(z)
    if z.ndim != 4:
        raise ValueError(f"a latent must be (C, t, h, w) (index the batch first); got shape {z.shape}")
    C, t, h, w = z.shape
    frames = _pick_frames(t, frames)
    fig = new_figure(scale * len(frames) + 0.6, scale * C * h / w + 0.4)
    axes = fig.subplots(C, len(frames), squeeze=False)
    for c in range(C):
        top = float(np.abs(z[c]).max()) or 1.0
        for k, f in enumerate(frames):
            ax = axes[c, k]
            ax.imshow(z[c, f], cmap=LATENT_CMAP, vmin=-top, vmax=top, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_title(f"t={f}", fontsize=TEXT_SIZE)
        axes[c, 0].set_ylabel(f"ch {c}\n|z|<={top:.2f}", fontsize=TEXT_SIZE - 1)
    return fig


def plot_samples(clips: np.ndarray, captions: Sequence[str], frames: Sequence[int] | None = None,
                 scale: float = FRAME_INCHES) -> Figure:
    """A sheet of samples, one row per clip (uint8 `(N, T, H, W, 3)`), titled with its caption:
    a still companion to `video.show(clips, captions)`, which animates them."""
    clips = np.asarray(clips)
    if clips.ndim != 5:
        raise ValueError(f"clips must be uint8 (N, T, H, W, 3); got shape {clips.shape}")
    if len(captions) != len(clips):
        raise ValueError(f"{len(clips)} clips but {len(captions)} captions; give one caption a clip")
    N, T, H, W, _ = clips.shape
    frames = _pick_frames(T, frames)
    fig = new_figure(scale * len(frames), N * (scale * H / W + 0.3))
    rows = fig.subfigures(N, 1, squeeze=False)[:, 0]
    for row, clip, text in zip(rows, clips, captions):
        for ax, f in zip(row.subplots(1, len(frames), squeeze=False)[0], frames):
            _frame_axes(ax, _as_clip(clip)[f])
        row.suptitle(text, fontsize=TEXT_SIZE)
    return fig


def trajectory_clips(trajectory, decode=None, sample: int = 0,
                     which: str = "pred_original_samples") -> np.ndarray:
    """A sampler `Trajectory` as one clip per step, uint8 `(S, T, H, W, 3)`: the model's guess of
    x0 at each step (`which="pred_original_samples"`) or the noisy `x_t` (`"samples"`). `decode`
    maps latents `(S, C, t, h, w)` to uint8 clips (e.g. `pipe.decode_latents`); None: pixels."""
    if which not in ("pred_original_samples", "samples"):
        raise ValueError(f"which must be 'pred_original_samples' or 'samples' (got {which!r})")
    steps = torch.stack([x[sample] for x in getattr(trajectory, which)])   # (S, C, t, h, w)
    return np.asarray(decode(steps)) if decode is not None else to_uint8(steps)


def steps_animation(step_clips: np.ndarray, frames: Sequence[int] | None = None, pad: int = 2) -> np.ndarray:
    """Sampling as an animation: frame k of the result is step k's clip laid out as a row of its
    frames, uint8 `(S, H, n (W + pad) - pad, 3)`; feed it to `video.show`."""
    step_clips = np.asarray(step_clips)
    if step_clips.ndim != 5 or step_clips.dtype != np.uint8:
        raise ValueError(f"step_clips must be uint8 (S, T, H, W, 3); "
                         f"got {step_clips.dtype} {step_clips.shape}")
    S, T, H, W, _ = step_clips.shape
    frames = _pick_frames(T, frames)
    out = np.full((S, H, len(frames) * (W + pad) - pad, 3), 255, np.uint8)
    for k, f in enumerate(frames):
        out[:, :, k * (W + pad):k * (W + pad) + W] = step_clips[:, f]
    return out



__all__ = ["NOISE_SCHEDULES", "SCHEDULE_STEPS", "schedule_alpha_sigma", "noisy_clip",
           "plot_noisy_clip", "plot_noise_schedules", "plot_latent_channels", "plot_samples",
           "trajectory_clips", "steps_animation"]
