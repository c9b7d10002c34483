"""The sampling loop: from noise to a clip with any scheduler and classifier-free guidance (notebook 07).

`sample(model_fn, scheduler, shape, cond, ...)` works with every scheduler of `soralite.diffusion`
(DDPM, DDIM, flow Euler, flow Heun) and any denoiser written as

    model_fn(x_t, t, cond) -> prediction      # (B, C, T, H, W), (B,) float, cond -> (B, C, T, H, W)

where `t` is the scheduler's own timestep as a float and the prediction is in the scheduler's
parametrization (epsilon, v or x0 for DDPM and DDIM; the velocity for flow).

`cond` (and `uncond`) is a tensor, a dict of tensors (nested dicts allowed) or None, batched along
dim 0. With guidance the model sees one doubled batch, `uncond` first, then `cond`, joined along
dim 0 (dict entries key by key), and the two halves of its output are combined.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from soralite.diffusion.conditioning import Known, level_to_timestep
from soralite.diffusion.schedules import randn_like

DEFAULT_NUM_STEPS = 50   # used when neither `steps` nor an earlier `set_timesteps` chose a grid

Cond = Any   # a tensor, a dict of tensors (batched along dim 0), or None


@dataclass
class Trajectory:
    """The path a sample took: `samples` holds x_t before each step and the final x0
    (`steps + 1` entries); `pred_original_samples` holds the model's guess of x0 at each step
    (`steps` entries); `timesteps` holds the time of each entry of `samples` but the last."""

    samples: list[torch.Tensor] = field(default_factory=list)                # each (B, C, T, H, W)
    pred_original_samples: list[torch.Tensor] = field(default_factory=list)  # each (B, C, T, H, W)
    timesteps: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)


def cfg_combine(pred_uncond: torch.Tensor, pred_cond: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022, eq. 6): `uncond + s * (cond - uncond)`;
    `s = 1` is the conditional model, `s = 0` the unconditional one."""
    return pred_uncond + guidance_scale * (pred_cond - pred_uncond)


def concat_cond(uncond: Cond, cond: Cond) -> Cond:
    """`uncond` and `cond` joined along dim 0 (dicts key by key), in that order."""
    if cond is None and uncond is None:
        return None
    if torch.is_tensor(cond) and torch.is_tensor(uncond):
        return torch.cat([uncond, cond], dim=0)                          # (2B, ...)
    if isinstance(cond, dict) and isinstance(uncond, dict):
        if set(cond) != set(uncond):
            raise ValueError(f"cond and uncond need the same keys; got {sorted(cond)} and {sorted(uncond)}")
        return {k: concat_cond(uncond[k], cond[k]) for k in cond}
    raise ValueError("cond and uncond must both be tensors, both dicts of tensors, or both None; "
                     f"got {type(cond).__name__} and {type(uncond).__name__}")


def _check_batch(c: Cond, batch: int, name: str) -> None:
    """Raise a clear error where a conditioning tensor is not batched like the sample."""
    if torch.is_tensor(c):
        if c.ndim == 0 or c.shape[0] != batch:
            raise ValueError(f"{name} has shape {tuple(c.shape)}; its dim 0 must be the batch size {batch}")
    elif isinstance(c, dict):
        for k, v in c.items():
            _check_batch(v, batch, f"{name}[{k!r}]")
    elif c is not None:
        raise ValueError(f"{name} must be a tensor, a dict of tensors or None; got {type(c).__name__}")


def _first_device(c: Cond) -> torch.device | None:
    if torch.is_tensor(c):
        return c.device
    if isinstance(c, dict):
        return next((d for d in map(_first_device, c.values()) if d is not None), None)
    return None


def guided_prediction(model_fn: Callable, x_t: torch.Tensor, t: torch.Tensor, cond: Cond,
                      uncond: Cond = None, guidance_scale: float = 1.0) -> torch.Tensor:
    """The model's output at `(x_t, t)`, guided when `guidance_scale != 1`: one call on the
    doubled batch `[uncond, cond]`, split in two and combined by `cfg_combine`."""
    if guidance_scale == 1.0 or uncond is None:
        return model_fn(x_t, t, cond)                                    # (B, C, T, H, W)
    x_in = torch.cat([x_t, x_t], dim=0)                                  # (2B, C, T, H, W)
    t_in = torch.cat([t, t], dim=0)                                      # (2B,)
    pred_uncond, pred_cond = model_fn(x_in, t_in, concat_cond(uncond, cond)).chunk(2, dim=0)
    return cfg_combine(pred_uncond, pred_cond, guidance_scale)          # (B, C, T, H, W)


def _frame_guided(model_fn, scheduler, x, t, timestep, cond, uncond, guidance_scale, clean, noise, m,
                  given_scale: float | None = None):
    """History guidance. One weight (`given_scale` None): on the text and the given frames
    together, the unconditional branch seeing neither (its given frames noised to the current
    level, like the frames it makes, and unmarked): `u + s (c_text_frames - u)`. With
    `given_scale`: on the given frames alone, the branch without them keeping the text, as
    History-Guided Video Diffusion's history guidance: `c_text + s_given (c_text_frames -
    c_text)`; the text itself is not pushed."""
    B = x.shape[0]
    now = torch.as_tensor(timestep).reshape(1).expand(B).to(x.device)   # (B,) the scheduler's dtype
    x_u = torch.where(m, scheduler.add_noise(clean, noise, now).to(x.dtype), x)
    t_u = torch.full_like(t, float(timestep))                           # one level for every frame
    without = uncond if given_scale is None else cond
    without = {**without, "given": torch.zeros_like(without["given"]),
               "given_mask": torch.zeros_like(without["given_mask"])}
    pred_without, pred_c = model_fn(torch.cat([x_u, x]), torch.cat([t_u, t]),
                                    concat_cond(without, cond)).chunk(2)
    return cfg_combine(pred_without, pred_c, guidance_scale if given_scale is None else given_scale)


@torch.no_grad()
def sample(model_fn: Callable, scheduler, shape: tuple[int, ...], cond: Cond = None,
           uncond: Cond = None, guidance_scale: float = 1.0, steps: int | None = None,
           generator: torch.Generator | None = None, seed: int | None = None,
           noise: torch.Tensor | None = None, device: str | torch.device | None = None,
           return_trajectory: bool = False, progress: bool = False, known: Known | None = None,
           strength: float | None = None, init: torch.Tensor | None = None,
           guide_given: bool = False, given_scale: float | None = None):
    """Run the reverse process from pure noise to a sample of `shape` `(B, C, T, H, W)`.

    - `steps`: the scheduler's grid (`set_timesteps(steps)`); None keeps the number of steps
      already set on the scheduler, else `DEFAULT_NUM_STEPS`.
    - `generator` or `seed`: the randomness of the start noise and of stochastic steps (DDPM,
      DDIM with eta > 0); the same seed gives the same output (bitwise on a CPU). `noise`, if
      given, is the start x_T itself.
    - `guidance_scale != 1` needs `uncond` (e.g. the empty caption's embedding), batched like `cond`.
    - `device`: where to sample; None takes the device of `noise` or of the first tensor in `cond`.
    - `known` (notebook 09): latent frames that are given. Before every model call and after
      every step they are put back (at `known.level`, 0 = exactly as given); the model sees a
      level per frame, `t (B, T)`, the given frames at `known.level`, and `cond["given"]`,
      `cond["given_mask"]` mark them. The result holds the given frames exactly.
    - `guide_given` with `known` and guidance (history guidance: "History-Guided Video
      Diffusion", Song et al. 2025): the unconditional branch sees neither the text nor the
      given frames (they are noised to the current level, like the frames it makes, and left
      unmarked), so that guidance pushes towards the given frames as well as towards the text.
      With `given_scale`, guidance on the given frames alone in a window that has them: the
      branch without them keeps the text, and the text is not pushed there (`guidance_scale`
      still guides windows with nothing given).
    - `strength` with `init` (SDEdit, Meng et al. 2022): start from `init` noised to the
      `strength` share of the schedule and re-run only that share (0 returns `init`, 1 is a
      fresh sample); first-order schedulers only.
    Returns the final sample `(B, C, T, H, W)`, or `(sample, Trajectory)` with `return_trajectory`.
    """
    if guidance_scale != 1.0 and uncond is None:
        raise ValueError(f"guidance_scale={guidance_scale} needs uncond (the unconditional input); "
                         "pass uncond, or guidance_scale=1.0 for no guidance")
    if generator is not None and seed is not None:
        raise ValueError("pass generator or seed, not both")
    batch = shape[0]
    _check_batch(cond, batch, "cond")
    _check_batch(uncond, batch, "uncond")
    if device is None:
        device = noise.device if noise is not None else (_first_device(cond) or torch.device("cpu"))
    if seed is not None:
        generator = torch.Generator(device="cpu").manual_seed(seed)
    scheduler.set_timesteps(steps or scheduler.num_inference_steps or DEFAULT_NUM_STEPS)  # resets state

    if noise is None:
        noise = randn_like(torch.empty(shape, device=device), generator)  # (B, C, T, H, W)
    elif tuple(noise.shape) != tuple(shape):
        raise ValueError(f"noise has shape {tuple(noise.shape)}; expected {tuple(shape)}")
    noise = noise.to(device)
    x = noise * scheduler.init_noise_sigma                                 # x_T
    timesteps = scheduler.timesteps
    if strength is not None:                                               # SDEdit: re-run a share
        if init is None or tuple(init.shape) != tuple(shape):
            raise ValueError(f"strength needs init latents of shape {tuple(shape)}")
        if not 0 <= strength <= 1:
            raise ValueError(f"strength must be in [0, 1] (got {strength})")
        if len(timesteps) != scheduler.num_inference_steps:               # Heun calls twice a step
            raise ValueError("strength (an edit) needs a first-order scheduler: ddpm, ddim or flow_euler")
        start = len(timesteps) - round(strength * len(timesteps))
        timesteps = timesteps[start:]
        if len(timesteps) == 0:
            return (init.to(device), Trajectory()) if return_trajectory else init.to(device)
        t0 = torch.full((batch,), float(timesteps[0]))
        x = scheduler.add_noise(init.to(device), noise, t0.to(device)).to(noise.dtype)
    given = None
    if known is not None:
        if tuple(known.latents.shape) != tuple(shape):
            raise ValueError(f"known latents have shape {tuple(known.latents.shape)}; expected {tuple(shape)}")
        mask = known.mask.to(device)                                        # (B, T)
        m = mask[:, None, :, None, None]                                    # (B, 1, T, 1, 1)
        clean = known.latents.to(device, noise.dtype)
        level_t = level_to_timestep(scheduler, torch.tensor(known.level)).item()
        context_noise = randn_like(clean, generator)                       # one draw, kept
        given = clean if known.level == 0 else scheduler.add_noise(
            clean, context_noise, torch.full((batch,), float(level_t), device=device)).to(noise.dtype)
        cond = {**(cond if isinstance(cond, dict) else {"cond": cond}), "given": given, "given_mask": mask}
        if uncond is not None:
            uncond = {**(uncond if isinstance(uncond, dict) else {"cond": uncond}), "given": given,
                      "given_mask": mask}
        x = torch.where(m, given, x)
    trajectory = Trajectory()
    record = (lambda v: v.detach().cpu().clone()) if return_trajectory else None

    if progress:
        timesteps = tqdm(timesteps, desc="sampling", leave=False)
    for timestep in timesteps:
        if record and scheduler.state_in_first_order:
            trajectory.samples.append(record(x))
            trajectory.timesteps.append(float(timestep))
        t = torch.full((batch,), float(timestep), device=device)          # (B,)
        if given is not None:                                               # a level per frame
            t = torch.where(mask, torch.full_like(mask, level_t, dtype=t.dtype), t[:, None])   # (B, T)
        if given is not None and guide_given and (guidance_scale != 1.0 or given_scale not in (None, 1.0)):
            pred = _frame_guided(model_fn, scheduler, x, t, timestep, cond, uncond, guidance_scale,
                                 clean, context_noise, m, given_scale)
        else:
            pred = guided_prediction(model_fn, x, t, cond, uncond, guidance_scale)
        out = scheduler.step(pred, timestep, x, generator=generator)
        x = out.prev_sample                                                 # (B, C, T, H, W)
        if given is not None:
            x = torch.where(m, given, x)                                    # the given frames back
        if record and scheduler.state_in_first_order:
            trajectory.pred_original_samples.append(record(out.pred_original_sample))
    if given is not None:
        x = torch.where(m, clean, x)                                        # exactly as given
    if record:
        trajectory.samples.append(record(x))
        return x, trajectory
    return x


__all__ = ["Trajectory", "cfg_combine", "concat_cond", "guided_prediction", "sample", "DEFAULT_NUM_STEPS"]
