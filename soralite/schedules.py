"""Noise schedules, parametrizations and schedulers: the forward process of diffusion (notebook 04).

Two families of forward process, both written `x_t = alpha_t * x0 + sigma_t * noise`:
- DDPM, variance preserving (Ho et al. 2020): `alpha_t = sqrt(alphas_cumprod[t])`,
  `sigma_t = sqrt(1 - alphas_cumprod[t])`, integer `t` in `[0, num_train_timesteps)`.
- Rectified flow (Liu et al. 2022; the convention of Esser et al. 2024, SD3): the straight path
  `x_t = (1 - t) * x0 + t * noise`, float `t` in `[0, 1]` (0 is data, 1 is noise), velocity
  target `noise - x0`.
The schedulers use the verbs that diffusion libraries made familiar (`set_timesteps`, `timesteps`,
`step`, `add_noise`) and add `sample_timesteps` and `training_target` for training. The model
sees the scheduler's own timestep as a float: `0 .. num_train_timesteps - 1` for DDPM and DDIM,
`[0, 1]` for flow.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

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
    """A scalar or `(B,)` tensor reshaped to broadcast against `x` `(B, C, T, H, W)`."""
    a = torch.as_tensor(a, dtype=x.dtype, device=x.device)
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


# ----------------------------------------------------------------------------------------------
# Schedulers

@dataclass
class SchedulerOutput:
    """What `step` returns, as in the familiar scheduler API: the next sample and the current guess of x0."""

    prev_sample: torch.Tensor             # (B, C, T, H, W)
    pred_original_sample: torch.Tensor    # (B, C, T, H, W)


PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


def _grid_index(grid: torch.Tensor | None, timestep) -> int:
    """Where `timestep` sits on a scheduler's grid of timesteps, with clear errors."""
    if grid is None:
        raise ValueError("call set_timesteps(num_inference_steps) before step()")
    hits = (grid == torch.as_tensor(timestep).flatten()[0].to(grid.dtype).cpu()).nonzero()
    if len(hits) == 0:
        raise ValueError(f"timestep {float(timestep)} is not on the grid {grid.tolist()}")
    return int(hits[0])


class DDPMScheduler:
    """Ancestral DDPM sampling (Ho et al. 2020, Algorithm 2) on a strided grid of timesteps."""

    init_noise_sigma = 1.0
    state_in_first_order = True           # every call to `step` completes a step

    def __init__(self, beta_schedule: str = "linear",
                 num_train_timesteps: int = DEFAULT_NUM_TRAIN_TIMESTEPS,
                 prediction_type: str = "epsilon"):
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"unknown prediction_type {prediction_type!r}; "
                             f"allowed: {', '.join(PREDICTION_TYPES)}")
        self.beta_schedule, self.prediction_type = beta_schedule, prediction_type
        self.num_train_timesteps = num_train_timesteps
        self.betas = get_betas(beta_schedule, num_train_timesteps)            # (N,) float64
        self.alphas_cumprod = alphas_cumprod(self.betas)                      # (N,) float64
        self.timesteps: torch.Tensor | None = None
        self.num_inference_steps: int | None = None

    def set_timesteps(self, num_inference_steps: int) -> None:
        """Evenly spaced integer timesteps from `N - 1` down to 0 ("trailing" spacing, so that
        sampling starts at the noisiest step; Lin et al. 2024, "Common Diffusion Noise Schedules
        and Sample Steps Are Flawed")."""
        if not 1 <= num_inference_steps <= self.num_train_timesteps:
            raise ValueError(f"num_inference_steps must be in 1..{self.num_train_timesteps} "
                             f"(got {num_inference_steps})")
        grid = torch.linspace(self.num_train_timesteps - 1, 0, num_inference_steps, dtype=torch.float64)
        self.timesteps = grid.round().long()                                   # (S,)
        self.num_inference_steps = num_inference_steps

    def alpha_sigma(self, timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(sqrt(ab_t), sqrt(1 - ab_t))` as float64 `(B,)`; `t = -1` means clean data (ab = 1)."""
        ab = self._ab(timesteps)
        return ab.sqrt(), (1 - ab).sqrt()

    def _ab(self, timesteps) -> torch.Tensor:
        t = torch.as_tensor(timesteps).long().cpu()
        ab = self.alphas_cumprod[t.clamp(min=0)]
        return torch.where(t < 0, torch.ones_like(ab), ab)

    def add_noise(self, original_samples, noise, timesteps):
        """`q(x_t | x_0) = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps` (Ho et al. 2020, eq. 4)."""
        alpha, sigma = self.alpha_sigma(timesteps)
        return expand_to(alpha, noise) * original_samples + expand_to(sigma, noise) * noise

    def training_target(self, x0, noise, t):
        """What the model learns to output at `t` under `prediction_type`."""
        if self.prediction_type == "epsilon":
            return noise                                                         # Algorithm 1, line 5
        if self.prediction_type == "sample":
            return x0
        return v_from_x0_eps(x0, noise, *self.alpha_sigma(t))

    def sample_timesteps(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Uniform integer timesteps `(B,)` in `[0, N)` (Algorithm 1, line 3)."""
        device = generator.device if generator is not None else None
        return torch.randint(0, self.num_train_timesteps, (batch,), generator=generator, device=device)

    def predict_x0_eps(self, model_output, timestep, sample):
        """`(x0, eps)` implied by the model's output under `prediction_type`."""
        alpha, sigma = self.alpha_sigma(timestep)
        if self.prediction_type == "epsilon":
            return x0_from_eps(sample, model_output, alpha, sigma), model_output
        if self.prediction_type == "sample":
            return model_output, eps_from_x0(sample, model_output, alpha, sigma)
        return x0_from_v(sample, model_output, alpha, sigma), eps_from_v(sample, model_output, alpha, sigma)

    def previous_timestep(self, timestep) -> int:
        """The next timestep on the grid towards data, or -1 after the last."""
        i = _grid_index(self.timesteps, timestep)
        return int(self.timesteps[i + 1]) if i + 1 < len(self.timesteps) else -1

    def step(self, model_output, timestep, sample, generator=None) -> SchedulerOutput:
        """One ancestral step: sample the posterior `q(x_prev | x_t, x0_hat)` (Ho et al. 2020,
        eq. 6-7), with `beta` taken between the two grid points so that strided grids work."""
        prev_t = self.previous_timestep(timestep)
        ab_t, ab_prev = self._ab(timestep).item(), self._ab(prev_t).item()
        beta = 1 - ab_t / ab_prev                                                # beta over the stride
        x0, _ = self.predict_x0_eps(model_output, timestep, sample)              # (B, C, T, H, W)
        coef_x0 = math.sqrt(ab_prev) * beta / (1 - ab_t)                         # eq. 7, mu~ first term
        coef_xt = math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab_t)               # eq. 7, mu~ second term
        mean = coef_x0 * x0 + coef_xt * sample
        if prev_t < 0:
            return SchedulerOutput(mean, x0)
        variance = (1 - ab_prev) / (1 - ab_t) * beta                             # eq. 7, beta~
        return SchedulerOutput(mean + math.sqrt(variance) * randn_like(sample, generator), x0)


class DDIMScheduler(DDPMScheduler):
    """DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models"): the same training as DDPM,
    a non-Markovian sampler; `eta = 0` is deterministic, `eta = 1` matches DDPM's variance."""

    def __init__(self, beta_schedule: str = "linear",
                 num_train_timesteps: int = DEFAULT_NUM_TRAIN_TIMESTEPS,
                 prediction_type: str = "epsilon", eta: float = 0.0):
        super().__init__(beta_schedule, num_train_timesteps, prediction_type)
        if eta < 0:
            raise ValueError(f"eta must be >= 0 (got {eta})")
        self.eta = eta

    def step(self, model_output, timestep, sample, generator=None) -> SchedulerOutput:
        """Song et al. 2021, eq. 12: x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - s^2) eps + s z."""
        prev_t = self.previous_timestep(timestep)
        ab_t, ab_prev = self._ab(timestep).item(), self._ab(prev_t).item()
        x0, eps = self.predict_x0_eps(model_output, timestep, sample)            # (B, C, T, H, W)
        s = self.eta * math.sqrt((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev))  # eq. 16
        prev = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - s ** 2, 0.0)) * eps
        if s > 0:
            prev = prev + s * randn_like(sample, generator)
        return SchedulerOutput(prev, x0)


TIME_SAMPLINGS = ("logit_normal", "uniform")


class FlowMatchEulerScheduler:
    """Rectified flow (Liu et al. 2022) sampled with Euler steps on `dx/dt = v(x, t)` from t = 1
    (noise) to t = 0 (data); the model predicts the velocity `noise - x0` (Esser et al. 2024)."""

    init_noise_sigma = 1.0
    prediction_type = "flow"
    state_in_first_order = True

    def __init__(self, shift: float = 1.0, time_sampling: str = "logit_normal",
                 logit_mean: float = LOGIT_NORMAL_MEAN, logit_std: float = LOGIT_NORMAL_STD):
        if time_sampling not in TIME_SAMPLINGS:
            raise ValueError(f"unknown time_sampling {time_sampling!r}; allowed: {', '.join(TIME_SAMPLINGS)}")
        if shift <= 0:
            raise ValueError(f"shift must be > 0 (got {shift})")
        self.shift, self.time_sampling = shift, time_sampling
        self.logit_mean, self.logit_std = logit_mean, logit_std
        self.timesteps: torch.Tensor | None = None
        self.sigmas: torch.Tensor | None = None   # the full grid, timesteps plus the final 0

    def set_timesteps(self, num_inference_steps: int) -> None:
        """`num_inference_steps` Euler steps on a uniform grid in t, shifted by `shift`."""
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1 (got {num_inference_steps})")
        grid = torch.linspace(1, 0, num_inference_steps + 1, dtype=torch.float64)   # (S+1,)
        self.sigmas = shift_timesteps(grid, self.shift).float()
        self.timesteps = self.sigmas[:-1]                                            # (S,)
        self.num_inference_steps = num_inference_steps

    def alpha_sigma(self, timesteps) -> tuple[torch.Tensor, torch.Tensor]:
        return flow_alpha_sigma(torch.as_tensor(timesteps, dtype=torch.float64))

    def add_noise(self, original_samples, noise, timesteps):
        """The straight path `x_t = (1 - t) x0 + t noise`."""
        t = expand_to(timesteps, noise)                                              # (B, 1, 1, 1, 1)
        return (1 - t) * original_samples + t * noise

    def training_target(self, x0, noise, t):
        """The velocity `noise - x0`, the same at every t."""
        return velocity_from_x0_eps(x0, noise)

    def sample_timesteps(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Training times `(B,)` in (0, 1): logit-normal or uniform, then shifted by `shift`."""
        if self.time_sampling == "logit_normal":
            t = logit_normal_timesteps(batch, self.logit_mean, self.logit_std, generator)
        else:
            device = generator.device if generator is not None else None
            t = torch.rand(batch, generator=generator, device=device).clamp(UNIFORM_T_EPS, 1 - UNIFORM_T_EPS)
        return shift_timesteps(t, self.shift)

    def step(self, model_output, timestep, sample, generator=None) -> SchedulerOutput:
        """Euler: `x_next = x_t + (t_next - t) * v` (exact on a straight path)."""
        i = _grid_index(self.timesteps, timestep)
        t, t_next = self.sigmas[i].item(), self.sigmas[i + 1].item()
        return SchedulerOutput(sample + (t_next - t) * model_output,
                               x0_from_velocity(sample, model_output, t))


class FlowMatchHeunScheduler(FlowMatchEulerScheduler):
    """Heun's second-order method (Karras et al. 2022, "Elucidating the Design Space",
    Algorithm 1): an Euler predictor, then the average of the slopes at both ends. As in the
    familiar scheduler API, `timesteps` repeats each inner time (`t0, t1, t1, t2, t2, ...`): the
    model is called twice per step but the last, `2 * steps - 1` calls in all, and
    `state_in_first_order` is False between a step's two calls."""

    def set_timesteps(self, num_inference_steps: int) -> None:
        super().set_timesteps(num_inference_steps)
        inner = self.sigmas[1:-1].repeat_interleave(2)                              # (2S-2,)
        self.timesteps = torch.cat([self.sigmas[:1], inner])                         # (2S-1,)
        self._step_index, self._saved = 0, None

    @property
    def state_in_first_order(self) -> bool:
        return getattr(self, "_saved", None) is None

    def step(self, model_output, timestep, sample, generator=None) -> SchedulerOutput:
        if self.timesteps is None or self._step_index >= len(self.sigmas) - 1:
            raise ValueError("call set_timesteps(num_inference_steps) before step(), "
                             "and again after the last step")
        i = self._step_index
        t, t_next = self.sigmas[i].item(), self.sigmas[i + 1].item()
        expected = t if self._saved is None else t_next
        if abs(float(timestep) - expected) > 1e-6:
            raise ValueError(f"Heun expects timestep {expected} next (got {float(timestep)}); "
                             "step through .timesteps in order")
        if self._saved is None:                                   # Algorithm 1, line 3: the slope
            x0 = x0_from_velocity(sample, model_output, t)
            x_next = sample + (t_next - t) * model_output         # line 4: Euler predictor
            if t_next == 0:                                       # line 5: no correction at t = 0
                self._step_index += 1
            else:
                self._saved = (sample, model_output)
            return SchedulerOutput(x_next, x0)
        x_t, d = self._saved                                      # lines 6-7: the corrector
        d_mean = (d + model_output) / 2
        self._saved, self._step_index = None, i + 1
        return SchedulerOutput(x_t + (t_next - t) * d_mean, x0_from_velocity(x_t, d_mean, t))


SCHEDULERS = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler,
              "flow_euler": FlowMatchEulerScheduler, "flow_heun": FlowMatchHeunScheduler}


def get_scheduler(name: str, **kwargs) -> DDPMScheduler | FlowMatchEulerScheduler:
    """A scheduler by name (`ddpm`, `ddim`, `flow_euler`, `flow_heun`), keyword arguments passed on."""
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; allowed: {', '.join(SCHEDULERS)}")
    return SCHEDULERS[name](**kwargs)
