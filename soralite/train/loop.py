"""One fit loop for every training stage: threads, progress, learning rate, clipping, checkpoints, stopping (notebooks 03 and 06).

A stage (`soralite.train.vae_stage`, `soralite.train.denoiser_stage`) supplies what is its own:
the loss of step `k`, what to do after the optimizer stepped (an EMA, a log line), and how to save
itself. `fit` does the rest, the same way for every stage:

1. picks the CPU thread count (`soralite.train.threads`);
2. sets the learning rate: a linear warmup, then a cosine down to `min_ratio` of the base rate
   (`lr_at`);
3. backpropagates, clips the gradient norm, steps the optimizer;
4. saves every `checkpoint_every` steps and where it stops;
5. stops cleanly on Ctrl-C (SIGINT) and on SIGTERM (what `timeout`, `docker stop` and job
   schedulers send): the step under way finishes, the stage saves, and `KeyboardInterrupt` is
   raised, so at most the step under way is lost. A second signal stops at once.
"""
from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import torch
from tqdm.auto import tqdm

from soralite.runtime import Distributed
from soralite.train.threads import thread_tuner


def lr_at(step: int, total: int, base_lr: float, warmup: int, min_ratio: float = 0.0) -> float:
    """The learning rate of step `step` (0-based) of `total`: linear warmup over `warmup` steps,
    then a cosine from `base_lr` down to `base_lr * min_ratio` at `total`."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base_lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


class Stage(Protocol):
    """What a training stage gives `fit`."""

    def loss(self, step: int) -> tuple[torch.Tensor, dict]:
        """Forward pass of step `step` (0-based): the loss to backpropagate and anything the stage
        wants back in `after_step`."""

    def after_step(self, step: int, info: dict) -> dict | None:
        """Called once the optimizer stepped; `step` now counts the steps done, `info` is what
        `loss` returned plus `lr` and `grad_norm`. Returns the progress bar's postfix, if any."""

    def save(self, step: int, stopping: bool) -> None:
        """Save the training state at `step`; `stopping` where this call of `fit` ends there."""


@dataclass
class FitResult:
    step: int                  # steps done in all
    seconds: float             # wall time of this call
    interrupted: bool = False


class StopSignals:
    """While active, SIGINT and SIGTERM only ask the loop to stop (`requested`); a second signal
    raises `KeyboardInterrupt` at once. Outside the main thread it does nothing."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested: str | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.requested:                       # asked twice: stop now
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)


def fit(stage: Stage, model: torch.nn.Module, optimizer: torch.optim.Optimizer, *, start: int,
        stop: int, total: int, base_lr: float, warmup: int, min_lr_ratio: float = 0.0,
        grad_clip: float = 0.0, checkpoint_every: int = 0, device: torch.device,
        threads: int = 0, progress: bool = True, desc: str = "training", log=print,
        dist: Distributed | None = None) -> FitResult:
    """Train `model` with `stage` from step `start` to `stop` (of a run of `total` steps). Under
    several processes (`dist`), rank 0 alone saves and shows progress; the others wait for it."""
    t0 = time.perf_counter()
    dist = dist or Distributed()
    if start >= stop:
        return FitResult(start, 0.0)
    tuner = thread_tuner(device, threads)
    bar = (tqdm(total=total, initial=start, desc=desc, unit="step", dynamic_ncols=True)
           if progress and dist.main else None)

    def save(at: int, stopping: bool) -> None:
        if dist.main:
            stage.save(at, stopping=stopping)
        dist.barrier()
    step, k, saved_at = start, 0, start
    model.train()
    try:
        with StopSignals() as signals:
            while step < stop:
                if tuner is not None:
                    n_threads = tuner.threads_for(k)
                    torch.set_num_threads(n_threads)
                t_step = time.perf_counter()
                lr = lr_at(step, total, base_lr, warmup, min_lr_ratio)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                loss, info = stage.loss(step)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = (torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                             if grad_clip > 0 else torch.tensor(0.0))
                optimizer.step()
                step, k = step + 1, k + 1
                if tuner is not None:
                    tuner.record(n_threads, time.perf_counter() - t_step)
                postfix = stage.after_step(step, {**info, "loss": loss, "lr": lr, "grad_norm": grad_norm})
                if bar is not None:
                    bar.update(1)
                    if postfix:
                        bar.set_postfix(postfix)
                if step == stop or signals.requested:
                    break
                if checkpoint_every and step % checkpoint_every == 0:
                    save(step, stopping=False)
                    saved_at = step
        save(step, stopping=True)
        saved_at = step
        if signals.requested:
            log(f"{desc}: stopped by {signals.requested} at step {step}; saved, run the same "
                f"command again to resume")
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        # stopped in the middle of a step (a second Ctrl-C, or from outside the main thread):
        # the weights are those of the last finished step, so keep that one
        if saved_at != step and dist.main:
            stage.save(step, stopping=True)
        raise
    finally:
        if bar is not None:
            bar.close()
        if tuner is not None:
            tuner.close()
    return FitResult(step, time.perf_counter() - t0)


__all__ = ["lr_at", "Stage", "FitResult", "StopSignals", "fit"]
