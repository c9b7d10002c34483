"""CPU threads for the training loops: one thread or all, whichever is faster right now.

On a CPU that other programs share, torch's threads wait on each other and two threads can be
several times slower than one; on an idle CPU, all cores are faster. `thread_tuner` gives the
fit loop (`soralite.train.loop`) a `ThreadTuner` that re-times both choices every few hundred
steps.
"""
from __future__ import annotations

import torch

THREAD_PERIOD, THREAD_PROBE = 200, 3   # CPU threads: re-chosen every 200 steps from 3 timed steps each


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


def thread_tuner(device: torch.device, threads: int = 0) -> ThreadTuner | None:
    """The tuner for a training loop on `device`: None on a GPU; `threads > 0` fixes the count;
    `threads = 0` chooses between 1 and all of torch's threads (None where there is only one)."""
    if device.type != "cpu":
        return None
    if threads > 0:
        return ThreadTuner([threads])
    n = torch.get_num_threads()
    return ThreadTuner([1, n]) if n > 1 else None


__all__ = ["ThreadTuner", "thread_tuner", "THREAD_PERIOD", "THREAD_PROBE"]
