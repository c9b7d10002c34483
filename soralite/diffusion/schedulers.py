"""Schedulers: the reverse process, one step at a time (notebooks 04 and 07).

DDPM and DDIM (Ho et al. 2020; Song et al. 2021) step along the variance-preserving path; the
flow Euler and Heun schedulers along the straight path of rectified flow. They use the verbs that
diffusion libraries made familiar (`set_timesteps`, `timesteps`, `step`, `add_noise`) and add
`sample_timesteps` and `training_target` for training. The model sees the scheduler's own
timestep as a float: `0 .. num_train_timesteps - 1` for DDPM and DDIM, `[0, 1]` for flow.
`make_scheduler(cfg)` builds the one a config trains or samples with.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from soralite.config import OBJECTIVES, PREDICTION_TYPES, TIME_SAMPLINGS, Config
from soralite.diffusion.schedules import (DEFAULT_NUM_TRAIN_TIMESTEPS, LOGIT_NORMAL_MEAN,
                                          LOGIT_NORMAL_STD, UNIFORM_T_EPS, alphas_cumprod,
                                          eps_from_v, eps_from_x0, expand_to, flow_alpha_sigma,
                                          get_betas, logit_normal_timesteps, randn_like,
                                          resolution_shift, shift_timesteps, v_from_x0_eps,
                                          velocity_from_x0_eps, x0_from_eps, x0_from_v,
                                          x0_from_velocity)
from soralite.models.latents import num_tokens

# Schedulers

@dataclass
class SchedulerOutput:
    """What `step` returns, as in the familiar scheduler API: the next sample and the current guess of x0."""

    prev_sample: torch.Tensor             # (B, C, T, H, W)
    pred_original_sample: torch.Tensor    # (B, C, T, H, W)




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


# ----------------------------------------------------------------------------------------------
# The scheduler of a config, and the model's time input



def make_scheduler(cfg: Config, for_sampling: bool = False, size=None):
    """The training scheduler of `cfg.train.objective`, or (`for_sampling`) its sampler.

    Flow: `FlowMatchEulerScheduler` with the shift `train.flow_shift` (0 = `resolution_shift`
    of the token count of the world's clips, or of a clip of `size = (frames, height, width)`:
    more tokens, more shift). DDPM: `DDPMScheduler` for training; DDIM for sampling unless
    `train.sampler` names another scheduler.
    """
    tc = cfg.train
    if tc.objective not in OBJECTIVES:
        raise ValueError(f"train.objective must be one of {OBJECTIVES} (got {tc.objective!r})")
    if tc.objective == "flow":
        shift = tc.flow_shift if tc.flow_shift > 0 else resolution_shift(num_tokens(cfg, size))
        name = "flow_euler" if not for_sampling or tc.sampler == "auto" else tc.sampler
        if not name.startswith("flow"):
            raise ValueError(f"train.sampler={tc.sampler!r} does not fit objective 'flow'; "
                             f"allowed: auto, flow_euler, flow_heun")
        return get_scheduler(name, shift=shift, time_sampling=tc.time_sampling)
    name = "ddpm" if not for_sampling else ("ddim" if tc.sampler == "auto" else tc.sampler)
    if name.startswith("flow"):
        raise ValueError(f"train.sampler={tc.sampler!r} does not fit objective 'ddpm'; "
                         f"allowed: auto, ddpm, ddim")
    return get_scheduler(name, beta_schedule=tc.beta_schedule, prediction_type=tc.prediction_type)


def model_time(scheduler, t: torch.Tensor) -> torch.Tensor:
    """The scheduler's timestep `(B,)` as the DiT's time in [0, 1] (DDPM: `t / num_train_timesteps`)."""
    t = torch.as_tensor(t).float()
    if isinstance(scheduler, DDPMScheduler):
        return t / scheduler.num_train_timesteps
    return t


def noise_level(scheduler, t: torch.Tensor) -> torch.Tensor:
    """Where `t (B,)` sits between data (0) and noise (1): flow time itself, DDPM `t / N`."""
    return model_time(scheduler, t).clamp(0, 1)


__all__ = ["SchedulerOutput", "PREDICTION_TYPES", "DDPMScheduler", "DDIMScheduler", "TIME_SAMPLINGS",
           "FlowMatchEulerScheduler", "FlowMatchHeunScheduler", "SCHEDULERS", "get_scheduler",
           "OBJECTIVES", "make_scheduler", "model_time", "noise_level"]
