"""`soralite bench`: speed benchmarks, printed as JSON (README, "Results").

Timings on shared machines are noisy, so every figure is the median of several repeats, and
figures that are compared are measured side by side in one run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def _median_rate(fn, items: int, repeats: int) -> float:
    fn()                                                    # warm up
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        rates.append(items / (time.perf_counter() - t))
    return statistics.median(rates)


def bench_world(n: int = 256, repeats: int = 5, sizes=((16, 32, 32), (16, 64, 64))) -> dict:
    """Clips per second that the toy world renders (scene sampling + rendering), per clip size,
    for the default world (1-3 objects, every motion) and for the `tiny` world (one object)."""
    from soralite.config import WorldConfig, get_config
    from soralite.world import generate

    out = {}
    for T, H, W in sizes:
        for name, base in (("default world", WorldConfig()), ("tiny world", get_config("tiny").world)):
            w = base.__class__(**{**base.__dict__, "frames": T, "height": H, "width": W})
            rate = _median_rate(lambda: generate(w, n, seed=0), n, repeats)
            out[f"{name}, {T}x{H}x{W}"] = round(rate, 1)
    return {"clips_per_second": out, "n": n, "repeats": repeats}


def machine() -> dict:
    import platform

    import torch

    return {"cpu_count": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


BENCHES = {"world": bench_world}


def register_cli(sub, add_config_args) -> None:
    p = sub.add_parser("bench", help="speed benchmarks, as JSON",
                       description="Measure how fast the parts of the kit run on this machine "
                                   "(medians of several repeats) and print JSON. "
                                   f"Benchmarks: {', '.join(BENCHES)}.")
    p.add_argument("--only", action="append", choices=sorted(BENCHES), help="run only these")
    p.add_argument("--repeats", type=int, default=5, help="repeats a figure (median is reported)")
    add_config_args(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    report = {"machine": machine()}
    for name in args.only or BENCHES:
        report[name] = BENCHES[name](repeats=args.repeats)
    print(json.dumps(report, indent=2))
    return 0
