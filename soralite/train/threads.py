"""CPU threads for the training loops: a fixed count, so that a run is reproducible.

The order of a floating-point sum depends on how many threads share it, so the same run with
another thread count gives other weights. By default (`train.threads = 0`) a run therefore trains
with a fixed count: the cores this process was given at start (`DEFAULT_THREADS`, which
`OMP_NUM_THREADS` sets), recorded in the run. `train.threads = N` fixes N. `train.threads = -1`
lets `ThreadTuner` choose between one thread and all of them, re-timing both every few hundred
steps: faster on a CPU that other programs share (where two threads can be several times slower
than one), but no longer reproducible.
"""
from __future__ import annotations

import torch

THREAD_PERIOD, THREAD_PROBE = 200, 3   # adaptive threads: re-chosen every 200 steps from 3 timed steps each
ADAPTIVE = -1                          # train.threads value that asks for the adaptive choice
DEFAULT_THREADS = torch.get_num_threads()   # the cores this process was given at start


class ThreadTuner:
    """Picks the number of CPU threads as training goes: every `period` steps it times `probe`
    steps at each candidate count and keeps the fastest for the rest of the period (load changes,
    so the choice is made again every period)."""

    def __init__(self, candidates: list[int], period: int = THREAD_PERIOD, probe: int = THREAD_PROBE):
        self.candidates, self.period, self.probe = candidates, period, probe
        self.times: dict[int, list[float]] = {}
        self.best = candidates[-1]
        self.initial = torch.get_num_threads()

    def threads_for(self, k: int) -> int:
        """The thread count for the k-th step of this run (0-based)."""
        i = k % self.period
        if i < self.probe * len(self.candidates):
            if i == 0:
                self.times = {}
            return self.candidates[i // self.probe]
        if self.times:
            self.best = min(self.times, key=lambda n: sorted(self.times[n])[len(self.times[n]) // 2])
        return self.best

    def record(self, threads: int, seconds: float) -> None:
        self.times.setdefault(threads, []).append(seconds)

    def close(self) -> None:
        torch.set_num_threads(self.initial)


def resolved_threads(device: torch.device, threads: int = 0) -> int | str | None:
    """What `train.threads` means on `device`, as a run records it: the fixed count, "adaptive",
    or None on a GPU."""
    if device.type != "cpu":
        return None
    if threads == ADAPTIVE:
        return "adaptive"
    return threads if threads > 0 else DEFAULT_THREADS


def thread_tuner(device: torch.device, threads: int = 0) -> ThreadTuner | None:
    """The thread choice for a training loop on `device`: None on a GPU; a fixed count for
    `threads >= 0` (0: `DEFAULT_THREADS`); for `threads = -1`, a choice between 1 and
    `DEFAULT_THREADS` re-timed as it trains."""
    n = resolved_threads(device, threads)
    if n is None:
        return None
    if n == "adaptive":
        return ThreadTuner([1, DEFAULT_THREADS]) if DEFAULT_THREADS > 1 else ThreadTuner([1])
    return ThreadTuner([n])


__all__ = ["ThreadTuner", "thread_tuner", "resolved_threads", "THREAD_PERIOD", "THREAD_PROBE",
           "ADAPTIVE", "DEFAULT_THREADS"]
