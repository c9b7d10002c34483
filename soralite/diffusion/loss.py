"""The denoising objective: the loss of one batch, and its report per noise level (notebook 06).

Each sample draws a noise level `t` from the scheduler (rectified flow: logit-normal, shifted for
the number of tokens, Esser et al. 2024; DDPM: uniform integers) and the noise, and the model
regresses the scheduler's `training_target` (the velocity `noise - x0` for flow; epsilon, v or x0
for DDPM) with a mean squared error. The loss is also reported per bucket of `t` (minRF does
this: it shows which noise levels the model finds hard).
"""
from __future__ import annotations

import torch

from soralite.diffusion.conditioning import TaskBatch, level_to_timestep
from soralite.diffusion.schedulers import model_time
from soralite.diffusion.schedules import randn_like
from soralite.models.packing import packed_forward


def diffusion_loss(model, scheduler, x0: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
                   generator: torch.Generator, autocast=None, tasks: TaskBatch | None = None,
                   shard: slice | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The denoising loss of one batch: mean over the batch, per-sample losses `(B,)` and `t (B,)`.

    `model(x_t, t, ids, mask, given, given_mask)` is a `Denoiser`; `x0 (B, C, T, h, w)` are clean
    latents; noise and noise levels come from `generator`. With `tasks` (notebook 09) every latent
    frame has its own level: given frames sit at their `given_level` and count for nothing in the
    loss, the others at the sample's `t` (or, for `independent` samples, a `t` of their own);
    the per-sample loss is the mean over the frames to make. `shard` (several processes): the
    noise and levels of the whole global batch are drawn, as one process would, and only this
    process's share of it is computed, so the processes together compute what one would."""
    B = x0.shape[0]
    t = scheduler.sample_timesteps(B, generator=generator).to(x0.device)    # (B,)
    noise = randn_like(x0, generator)                                       # (B, C, T, h, w)
    own = scheduler.sample_timesteps(B * x0.shape[2], generator=generator).to(x0.device) \
        if tasks is not None else None                                      # (B T,) independent
    if shard is not None:
        x0, ids, mask, t, noise = x0[shard], ids[shard], mask[shard], t[shard], noise[shard]
        if tasks is not None:
            tasks = tasks.select(shard)
            own = own.view(B, -1)[shard].reshape(-1)
        B = x0.shape[0]
    if tasks is None:
        x_t = scheduler.add_noise(x0, noise, t).to(x0.dtype)                # (B, C, T, h, w)
        target = scheduler.training_target(x0, noise, t).to(x0.dtype)       # (B, C, T, h, w)
        with autocast if autocast is not None else torch.autocast(x0.device.type, enabled=False):
            pred = model(x_t, model_time(scheduler, t).to(x0.device), ids, mask)   # (B, C, T, h, w)
        per_sample = (pred.float() - target).pow(2).mean(dim=(1, 2, 3, 4))     # (B,)
        return per_sample.mean(), per_sample.detach(), t.detach()
    T = x0.shape[2]
    own = own.view(B, T)                                                    # (B, T)
    given = tasks.given.to(x0.device)                                       # (B, T)
    levels = torch.where(tasks.independent.to(x0.device)[:, None], own, t[:, None].to(own.dtype))
    given_t = level_to_timestep(scheduler, tasks.given_level).to(x0.device, levels.dtype)
    levels = torch.where(given, given_t, levels)                            # (B, T)
    x_t = scheduler.add_noise(x0, noise, levels).to(x0.dtype)               # (B, C, T, h, w)
    target = scheduler.training_target(x0, noise, levels).to(x0.dtype)      # (B, C, T, h, w)
    with autocast if autocast is not None else torch.autocast(x0.device.type, enabled=False):
        pred = model(x_t, model_time(scheduler, levels).to(x0.device), ids, mask,
                     given=x_t, given_mask=given)                            # (B, C, T, h, w)
    per_frame = (pred.float() - target).pow(2).mean(dim=(1, 3, 4))          # (B, T)
    keep = (~given).float()                                                 # (B, T)
    per_sample = (per_frame * keep).sum(1) / keep.sum(1).clamp_min(1)       # (B,)
    return per_sample.mean(), per_sample.detach(), t.detach()


def packed_diffusion_loss(model, schedulers: list, x0s: list[torch.Tensor], ids: torch.Tensor,
                          mask: torch.Tensor, plan, generator: torch.Generator, autocast=None,
                          tasks: list[TaskBatch | None] | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The loss of clips of different sizes packed into sequences (notebook 10): `x0s[i]
    (C, T_i, h_i, w_i)` with `schedulers[i]` (each size has its own flow shift), prompts `ids,
    mask (K, L)`, `plan` a `soralite.models.packing.PackPlan`, `tasks[i]` a one-sample
    `TaskBatch` or None. Every clip counts once, whatever its size: returns the mean, the
    per-clip losses `(K,)` and each clip's `t (K,)`."""
    xs, levels, targets, given, given_mask, keeps, ts = [], [], [], [], [], [], []
    for i, (x0, sch) in enumerate(zip(x0s, schedulers)):
        t = sch.sample_timesteps(1, generator=generator).to(x0.device)     # (1,)
        noise = randn_like(x0[None], generator)                            # (1, C, T, h, w)
        T = x0.shape[1]
        task = tasks[i] if tasks is not None else None
        if task is None:
            lv = t.expand(T)[None]                                         # (1, T)
            g = torch.zeros(1, T, dtype=torch.bool, device=x0.device)
        else:
            own = sch.sample_timesteps(T, generator=generator).to(x0.device)[None]   # (1, T)
            g = task.given.to(x0.device)
            lv = torch.where(task.independent.to(x0.device)[:, None], own, t[:, None].to(own.dtype))
            lv = torch.where(g, level_to_timestep(sch, task.given_level).to(x0.device, lv.dtype), lv)
        x_t = sch.add_noise(x0[None], noise, lv).to(x0.dtype)              # (1, C, T, h, w)
        xs.append(x_t[0])
        levels.append(model_time(sch, lv[0]).to(x0.device))                # (T,)
        targets.append(sch.training_target(x0[None], noise, lv).to(x0.dtype)[0])
        given.append(x_t[0] if bool(g.any()) else None)
        given_mask.append(g[0])
        keeps.append((~g[0]).float())
        ts.append(t[0])
    with autocast if autocast is not None else torch.autocast(ids.device.type, enabled=False):
        text, text_mask = model.text_encoder(ids, mask)                     # (K, L, text_dim)
        preds = packed_forward(model.dit, xs, levels, text, text_mask, plan, given, given_mask)
    per_clip = []
    for pred, target, keep in zip(preds, targets, keeps):
        per_frame = (pred.float() - target).pow(2).mean(dim=(0, 2, 3))   # (T,)
        per_clip.append((per_frame * keep).sum() / keep.sum().clamp_min(1))
    per_clip = torch.stack(per_clip)                                        # (K,)
    return per_clip.mean(), per_clip.detach(), torch.stack(ts).detach()


def bucket_index(level: torch.Tensor, buckets: int) -> torch.Tensor:
    """Noise levels in [0, 1] `(B,)` -> bucket indices `(B,)` in `0 .. buckets - 1`."""
    return (level * buckets).long().clamp(0, buckets - 1)


def bucket_names(buckets: int) -> list[str]:
    return [f"t{k / buckets:.1f}-{(k + 1) / buckets:.1f}" for k in range(buckets)]


__all__ = ["diffusion_loss", "packed_diffusion_loss", "bucket_index", "bucket_names"]
