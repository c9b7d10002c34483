"""Conditioning on frames: per-frame noise levels, given frames, and the tasks a model trains on (notebook 09).

One denoiser does every task of the Sora report (animate an image, extend a clip forward or
backward, connect two clips, fill missing frames, loop, edit, long videos) when each latent frame
has its own noise level (Diffusion Forcing, Chen et al. 2024; Open-Sora 1.2's per-frame
timesteps): a frame that is *given* sits at level 0 (clean) or a small level, the frames to make
run down the schedule, and the given frames are put back after every step. The DiT sees which
frames are given twice: in its per-frame level, and in a "given" channel of its patch embedding
(`soralite.models.dit`), so a given frame is never taken for a nearly finished one.

Training draws a *task* per sample (`draw_tasks`), with the weights of `train.tasks`:

| task | given latent frames | levels of the others |
| --- | --- | --- |
| `text` | none | one level for all (plain text to video) |
| `first` | the first k, k in 1 .. T/2 | one level |
| `last` | the last k, k in 1 .. T/2 | one level |
| `ends` | the first k1 and the last k2, each in 1 .. max(1, T/4) | one level |
| `random` | each frame with probability 1/2 (at least one of each) | one level |
| `independent` | none | a level per frame, drawn independently (Diffusion Forcing) |

Given frames are clean, or for a share `given_noise_share` of the samples lightly noised (a level
up to `given_noise_max`), which teaches the model to trust context that is itself generated (the
long-video windows); they are left out of the loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from soralite.config import TASKS, parse_tasks

GIVEN_NOISE_SHARE = 0.5           # share of conditioned samples whose given frames are lightly noised
GIVEN_NOISE_MAX = 0.1             # ... at a level drawn uniformly in (0, this]


@dataclass
class TaskBatch:
    """The tasks of a batch: `task (B,)` (index into `TASKS`), `given (B, T)` bool, the noise
    level of each given frame `given_level (B, T)` (0 where clean or not given), and which samples
    draw an independent level per frame, `independent (B,)`."""

    task: torch.Tensor
    given: torch.Tensor
    given_level: torch.Tensor
    independent: torch.Tensor

    def select(self, rows) -> "TaskBatch":
        """The tasks of some rows (a slice or an index tensor) of the batch."""
        return TaskBatch(self.task[rows], self.given[rows], self.given_level[rows], self.independent[rows])

    @property
    def loss_mask(self) -> torch.Tensor:
        """`(B, T)` True on the frames that count in the loss: the frames to make."""
        return ~self.given


def draw_tasks(batch: int, frames: int, weights: dict[str, float], generator: torch.Generator,
               given_noise_share: float = GIVEN_NOISE_SHARE,
               given_noise_max: float = GIVEN_NOISE_MAX) -> TaskBatch:
    """Draw a task for each of `batch` samples of `frames` latent frames (all on the CPU)."""
    names = [n for n in TASKS if weights.get(n, 0) > 0]
    probs = torch.tensor([weights[n] for n in names], dtype=torch.float64)
    pick = torch.multinomial(probs / probs.sum(), batch, replacement=True, generator=generator)
    task = torch.tensor([TASKS.index(names[i]) for i in pick.tolist()], dtype=torch.long)   # (B,)
    T = frames
    u = torch.rand(batch, 4, generator=generator)                          # (B, 4) per-sample draws
    coins = torch.rand(batch, T, generator=generator)                      # (B, T) for "random"
    given = torch.zeros(batch, T, dtype=torch.bool)
    if T > 1:
        half, quarter = max(1, T // 2), max(1, T // 4)
        k = 1 + (u[:, 0] * half).long().clamp(max=half - 1)               # (B,) in 1 .. T/2
        k1 = 1 + (u[:, 0] * quarter).long().clamp(max=quarter - 1)        # (B,) in 1 .. T/4
        k2 = 1 + (u[:, 1] * quarter).long().clamp(max=quarter - 1)
        k2 = torch.minimum(k2, T - 1 - k1)                                 # one frame left to make
        pos = torch.arange(T)[None]                                        # (1, T)
        rand = coins < 0.5
        rand[:, 0] |= ~rand.any(1)                                         # at least one given ...
        rand[:, -1] &= ~rand.all(1)                                        # ... and one to make
        rule = {"first": pos < k[:, None], "last": pos >= T - k[:, None],
                "ends": (pos < k1[:, None]) | (pos >= T - k2[:, None]), "random": rand}
        for name, mask in rule.items():
            rows = task == TASKS.index(name)
            given[rows] = mask.expand(batch, T)[rows]
    noisy = (u[:, 2] < given_noise_share) & given.any(1)                   # (B,)
    level = torch.where(noisy, u[:, 3].clamp_min(1e-3) * given_noise_max, torch.zeros(batch))
    given_level = torch.where(given, level[:, None], torch.zeros(batch, T))   # (B, T)
    return TaskBatch(task, given, given_level, task == TASKS.index("independent"))


def level_to_timestep(scheduler, level: torch.Tensor) -> torch.Tensor:
    """A noise level in [0, 1] as the scheduler's timestep: flow time itself; DDPM the integer
    timestep `round(level (N - 1))`."""
    level = torch.as_tensor(level, dtype=torch.float32)
    if hasattr(scheduler, "num_train_timesteps"):
        return (level * (scheduler.num_train_timesteps - 1)).round().long()
    return level


@dataclass
class Known:
    """What a sample is conditioned on: `latents (B, C, T, H, W)` whose frames with `mask (B, T)`
    True are given (the rest is ignored), shown to the model at noise `level` (0: clean)."""

    latents: torch.Tensor
    mask: torch.Tensor
    level: float = 0.0

    def __post_init__(self):
        B, _, T = self.latents.shape[:3]
        if self.latents.ndim != 5 or tuple(self.mask.shape) != (B, T):
            raise ValueError(f"known latents must be (B, C, T, H, W) with a mask (B, T); got "
                             f"{tuple(self.latents.shape)} and {tuple(self.mask.shape)}")
        if not 0 <= self.level < 1:
            raise ValueError(f"the level of given frames must be in [0, 1) (got {self.level})")
        self.mask = self.mask.to(torch.bool)


def next_window(known: torch.Tensor, window: int, overlap: int,
                direction: str = "forward") -> tuple[int, int]:
    """Where the next window of a rollout goes, `(start, end)` in latent frames, over a timeline
    whose frames `known (L,)` are given or already made. It holds the first frame still to make
    (the last, going `backward`) and:
    - a gap with known frames on both sides that fits with one on each side: the window is
      centred on it, so it sees both ends (connect, fill, loop);
    - else up to `overlap` known frames on the side it comes from (extend, long videos).
    Every unknown frame inside the window is made by it."""
    if direction not in ("forward", "backward"):
        raise ValueError(f"direction must be 'forward' or 'backward' (got {direction!r})")
    if not 0 <= overlap < window:
        raise ValueError(f"the overlap ({overlap}) must be in 0 .. window - 1 = {window - 1}")
    known = torch.as_tensor(known, dtype=torch.bool)
    L = len(known)
    W = min(window, L)
    todo = (~known).nonzero().flatten().tolist()
    if not todo:
        raise ValueError("every frame is known: there is nothing to make")
    u = v = todo[0] if direction == "forward" else todo[-1]
    while u > 0 and not known[u - 1]:
        u -= 1
    while v < L - 1 and not known[v + 1]:
        v += 1
    g = v - u + 1                                                  # the run of frames to make
    if u > 0 and v < L - 1 and g <= W - 2:
        start = u - (W - g) // 2
    elif direction == "forward":
        start = todo[0] - overlap
    else:
        start = todo[-1] + 1 + overlap - W
    start = max(0, min(start, L - W))
    return start, start + W


__all__ = ["TASKS", "parse_tasks", "TaskBatch", "draw_tasks", "level_to_timestep", "Known",
           "next_window", "GIVEN_NOISE_SHARE", "GIVEN_NOISE_MAX"]
