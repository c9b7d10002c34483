"""Noise schedules and parametrizations: the forward process of diffusion (notebook 04).

Two families of forward process, both written `x_t = alpha_t * x0 + sigma_t * noise`:
- DDPM, variance preserving (Ho et al. 2020): `alpha_t = sqrt(alphas_cumprod[t])`,
  `sigma_t = sqrt(1 - alphas_cumprod[t])`, integer `t` in `[0, num_train_timesteps)`.
- Rectified flow (Liu et al. 2022; the convention of Esser et al. 2024, SD3): the straight path
  `x_t = (1 - t) * x0 + t * noise`, float `t` in `[0, 1]` (0 is data, 1 is noise), velocity
  target `noise - x0`.
Everything here is a small pure function; the schedulers that step along these paths are in
`soralite.diffusion.schedulers`.
"""
from __future__ import annotations

import math

import torch

DEFAULT_NUM_TRAIN_TIMESTEPS = 1000
LINEAR_BETA_START, LINEAR_BETA_END = 1e-4, 0.02        # Ho et al. 2020, section 4
COSINE_OFFSET = 0.008                                   # Nichol & Dhariwal 2021, eq. 17, `s`
SIGMOID_START, SIGMOID_END, SIGMOID_TAU = -3.0, 3.0, 1.0  # Jabri et al. 2022; Chen 2023, Algorithm 1
MAX_BETA = 0.999                                        # Nichol & Dhariwal 2021: avoid singularity at t = T
LOGIT_NORMAL_MEAN, LOGIT_NORMAL_STD = 0.0, 1.0          # Esser et al. 2024: "lognorm(0.00, 1.00)"
BASE_NUM_TOKENS = 16   # tokens at which the flow shift is 1: one 32x32 frame, 4x VAE, 2x2 patches
UNIFORM_T_EPS = 1e-5   # keeps uniform flow times inside (0, 1)


# ----------------------------------------------------------------------------------------------
# DDPM beta schedules: small pure functions, each returns float64 `betas` of shape (num_timesteps,)

def linear_beta_schedule(num_timesteps: int) -> torch.Tensor:
    """Linear betas from 1e-4 to 0.02 (Ho et al. 2020, "Denoising Diffusion Probabilistic Models",
    section 4), scaled by 1000 / num_timesteps so that other lengths trace the same curve."""
    scale = DEFAULT_NUM_TRAIN_TIMESTEPS / num_timesteps
    return torch.linspace(scale * LINEAR_BETA_START, scale * LINEAR_BETA_END, num_timesteps,
                          dtype=torch.float64)


def cosine_beta_schedule(num_timesteps: int, s: float = COSINE_OFFSET) -> torch.Tensor:
    """Cosine schedule (Nichol & Dhariwal 2021, "Improved DDPM", eq. 17):
    `alphas_cumprod(t) = cos((t/T + s) / (1 + s) * pi/2)^2`, betas clipped at 0.999."""
    t = torch.linspace(0, 1, num_timesteps + 1, dtype=torch.float64)          # (T+1,)
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    alphas_cumprod = f / f[0]
    return (1 - alphas_cumprod[1:] / alphas_cumprod[:-1]).clamp(0, MAX_BETA)  # eq. 17 -> betas


def sigmoid_beta_schedule(num_timesteps: int, start: float = SIGMOID_START, end: float = SIGMOID_END,
                          tau: float = SIGMOID_TAU) -> torch.Tensor:
    """Sigmoid schedule (Jabri et al. 2022, "Scalable Adaptive Computation for Iterative
    Generation"; the function of Chen 2023, "On the Importance of Noise Scheduling", Algorithm 1):
    `alphas_cumprod` follows a rescaled, flipped sigmoid of t."""
    t = torch.linspace(0, 1, num_timesteps + 1, dtype=torch.float64)          # (T+1,)
    v_start, v_end = torch.tensor(start / tau).sigmoid(), torch.tensor(end / tau).sigmoid()
    f = (v_end - ((t * (end - start) + start) / tau).sigmoid()) / (v_end - v_start)
    alphas_cumprod = f / f[0]
    return (1 - alphas_cumprod[1:] / alphas_cumprod[:-1]).clamp(0, MAX_BETA)


BETA_SCHEDULES = {"linear": linear_beta_schedule, "cosine": cosine_beta_schedule,
                  "sigmoid": sigmoid_beta_schedule}


def get_betas(name: str, num_timesteps: int = DEFAULT_NUM_TRAIN_TIMESTEPS) -> torch.Tensor:
    """`betas` of the named schedule; `ValueError` for a name not in `BETA_SCHEDULES`."""
    if name not in BETA_SCHEDULES:
        raise ValueError(f"unknown beta schedule {name!r}; allowed: {', '.join(BETA_SCHEDULES)}")
    if num_timesteps < 1:
        raise ValueError(f"num_timesteps must be >= 1 (got {num_timesteps})")
    return BETA_SCHEDULES[name](num_timesteps)


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    """`alphas_cumprod[t] = prod_{s<=t} (1 - beta_s)` (Ho et al. 2020, eq. 4: `q(x_t|x_0)`)."""
    return torch.cumprod(1 - betas, dim=0)


def snr(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio `alpha_t^2 / sigma_t^2 = ab / (1 - ab)` (Kingma et al. 2021, VDM)."""
    return alphas_cumprod / (1 - alphas_cumprod)


# ----------------------------------------------------------------------------------------------
# Parametrizations for `x_t = alpha * x0 + sigma * eps`; alpha, sigma are scalars or (B,)

def expand_to(a: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """A scalar, a `(B,)` tensor or a per-frame `(B, T)` tensor reshaped to broadcast against `x`
    `(B, C, T, H, W)`: `(B,) -> (B, 1, 1, 1, 1)`, `(B, T) -> (B, 1, T, 1, 1)`."""
    a = torch.as_tensor(a, dtype=x.dtype, device=x.device)
    if a.ndim == 2 and x.ndim == 5:
        return a[:, None, :, None, None]                    # (B, T) -> (B, 1, T, 1, 1)
    return a.reshape(a.shape + (1,) * (x.ndim - a.ndim))   # (B,) -> (B, 1, 1, 1, 1)


def x0_from_eps(x_t, eps, alpha, sigma):
    """x0 from the noise: `(x_t - sigma * eps) / alpha` (Ho et al. 2020, eq. 15)."""
    return (x_t - expand_to(sigma, x_t) * eps) / expand_to(alpha, x_t)


def eps_from_x0(x_t, x0, alpha, sigma):
    """The noise from x0: `(x_t - alpha * x0) / sigma`."""
    return (x_t - expand_to(alpha, x_t) * x0) / expand_to(sigma, x_t)


def v_from_x0_eps(x0, eps, alpha, sigma):
    """v-prediction target `alpha * eps - sigma * x0` (Salimans & Ho 2022, "Progressive
    Distillation for Fast Sampling of Diffusion Models", section 4)."""
    return expand_to(alpha, x0) * eps - expand_to(sigma, x0) * x0


def x0_from_v(x_t, v, alpha, sigma):
    """x0 from v: `(alpha * x_t - sigma * v) / (alpha^2 + sigma^2)`; the denominator is 1 for
    DDPM (Salimans & Ho 2022: `x0 = alpha * x_t - sigma * v`) and keeps it exact on any path."""
    a, s = expand_to(alpha, x_t), expand_to(sigma, x_t)
    return (a * x_t - s * v) / (a ** 2 + s ** 2)


def eps_from_v(x_t, v, alpha, sigma):
    """The noise from v: `(sigma * x_t + alpha * v) / (alpha^2 + sigma^2)`."""
    a, s = expand_to(alpha, x_t), expand_to(sigma, x_t)
    return (s * x_t + a * v) / (a ** 2 + s ** 2)


def velocity_from_x0_eps(x0, eps):
    """Rectified-flow velocity `d x_t / dt = noise - x0` (Liu et al. 2022, "Flow Straight and
    Fast"; with data at t = 0 as in Esser et al. 2024)."""
    return eps - x0


def x0_from_velocity(x_t, velocity, t):
    """x0 from the flow velocity: `x_t - t * velocity`."""
    return x_t - expand_to(t, x_t) * velocity


def eps_from_velocity(x_t, velocity, t):
    """The noise from the flow velocity: `x_t + (1 - t) * velocity`."""
    return x_t + (1 - expand_to(t, x_t)) * velocity


# ----------------------------------------------------------------------------------------------
# Rectified flow time: the path, its SNR, the resolution shift, logit-normal sampling

def flow_alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`(alpha_t, sigma_t) = (1 - t, t)` on the straight path (Esser et al. 2024, "Scaling
    Rectified Flow Transformers", section 3.1)."""
    return 1 - t, t


def flow_snr(t: torch.Tensor) -> torch.Tensor:
    """SNR of the straight path: `((1 - t) / t)^2`; log-SNR is `2 * log((1 - t) / t)`."""
    return ((1 - t) / t) ** 2


def shift_timesteps(t: torch.Tensor, shift: float) -> torch.Tensor:
    """Resolution-dependent shift (Esser et al. 2024, section 5.3.2):
    `t' = shift * t / (1 + (shift - 1) * t)`; maps 0 -> 0 and 1 -> 1, and `shift > 1` moves every
    time towards noise: more tokens carry more redundant signal, so they need more noise."""
    if shift <= 0:
        raise ValueError(f"shift must be > 0 (got {shift})")
    return shift * t / (1 + (shift - 1) * t)


def resolution_shift(num_tokens: int, base_num_tokens: int = BASE_NUM_TOKENS) -> float:
    """`sqrt(num_tokens / base_num_tokens)`: the shift that keeps the SNR per token comparable
    across sizes (Esser et al. 2024, section 5.3.2, `sqrt(m / n)` with m, n counts of values)."""
    if num_tokens < 1 or base_num_tokens < 1:
        raise ValueError(f"token counts must be >= 1 (got {num_tokens}, {base_num_tokens})")
    return math.sqrt(num_tokens / base_num_tokens)


def randn_like(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal noise shaped like `x`, drawn on the generator's device (seeded on CPU)."""
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


def logit_normal_timesteps(batch: int, mean: float = LOGIT_NORMAL_MEAN, std: float = LOGIT_NORMAL_STD,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """`t = sigmoid(mean + std * n)`, `n ~ N(0, 1)`: puts training where the velocity is hardest
    to learn, the middle of the path (Esser et al. 2024, section 3.1). Median `sigmoid(mean)`."""
    n = torch.randn(batch, generator=generator, device=generator.device if generator else None)  # (B,)
    return torch.sigmoid(mean + std * n)


__all__ = ["DEFAULT_NUM_TRAIN_TIMESTEPS", "LINEAR_BETA_START", "LINEAR_BETA_END", "COSINE_OFFSET",
           "SIGMOID_START", "SIGMOID_END", "SIGMOID_TAU", "MAX_BETA", "LOGIT_NORMAL_MEAN",
           "LOGIT_NORMAL_STD", "BASE_NUM_TOKENS", "UNIFORM_T_EPS", "linear_beta_schedule",
           "cosine_beta_schedule", "sigmoid_beta_schedule", "BETA_SCHEDULES", "get_betas",
           "alphas_cumprod", "snr", "expand_to", "x0_from_eps", "eps_from_x0", "v_from_x0_eps",
           "x0_from_v", "eps_from_v", "velocity_from_x0_eps", "x0_from_velocity",
           "eps_from_velocity", "flow_alpha_sigma", "flow_snr", "shift_timesteps",
           "resolution_shift", "randn_like", "logit_normal_timesteps"]
