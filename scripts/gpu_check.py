"""The GPU figures of the README ("On one GPU") in one timed run, for a machine with a GPU and
little time on it.

    python scripts/gpu_check.py --out DIR [--runs DIR] [--seconds 545] [--small tiny] [--big workshop]

In order, each stage guarded (a stage that fails or runs out of time is recorded and the next one
runs): the machine; DiT training throughput, MFU and peak memory at `--big` in fp32 and bf16
(`soralite.bench.bench_dit`); a whole `--small` quickstart (time per stage, adherence, VAE PSNR);
`--big`'s quickstart shortened to the time left (its VAE and denoiser steps chosen from their
measured speeds, one third of the time for the VAE), scored the same way; the peer benchmark
(`bench_peer`, needs the `bench` extra); the many-objects and morphing probes on the shortened
`--big` model; the DiT under `torch.compile`. What it measured is in `DIR/gpu.json`, written
after every stage, with the run folders' `samples.gif` and `log.jsonl` beside it. After
`--seconds` (plus 10) a SIGINT stops whatever trains, as Ctrl-C would: saved and resumable.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import traceback
from pathlib import Path

import torch

from soralite.bench import bench_dit, bench_peer, machine
from soralite.config import get_config, runs_dir
from soralite.eval.vae_quality import evaluate_vae
from soralite.pipeline import Pipeline
from soralite.quickstart import quickstart
from soralite.studies.probes import run_probe
from soralite.train import train_vae
from soralite.train.denoiser_stage import load_vae_for

STAGES = ("info", "dit_fp32", "dit_bf16", "quickstart_small", "vae_rate", "quickstart_big",
          "peer_bf16", "probes_big", "dit_bf16_compile")
RESERVE_S = 230        # kept from the shortened run: pool, samples, evaluation, PSNR, then the benches
DENOISER_OVERHEAD = 1.2  # a real denoiser step over the benchmark's (EMA, task drawing, the pool)


class Check:
    """The results so far, written to `out/gpu.json` after every stage, and the time left."""

    def __init__(self, out: Path, seconds: float, skip=()):
        self.out, self.seconds, self.t0 = out, seconds, time.perf_counter()
        self.skip = set(skip)
        self.results: dict = {"seconds": seconds}
        self.cuda = torch.cuda.is_available()
        out.mkdir(parents=True, exist_ok=True)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.seconds - self.elapsed()

    def save(self) -> None:
        tmp = self.out / "gpu.json.tmp"
        tmp.write_text(json.dumps(self.results, indent=1, default=str))
        tmp.replace(self.out / "gpu.json")

    def stage(self, name: str, fn, need: float = 0.0):
        """`fn()` recorded under `name` with its wall time and peak GPU memory; skipped where
        fewer than `need` seconds are left or where it was asked to be."""
        if name in self.skip:
            self.results[name] = {"skipped": "asked to (--skip)"}
            self.save()
            return None
        if self.left() < need:
            self.results[name] = {"skipped": f"{self.left():.0f} s left, needs {need:.0f}"}
            self.save()
            return None
        print(f"=== {name} at {self.elapsed():.1f} s ({self.left():.0f} s left)", flush=True)
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        try:
            result = fn()
        except BaseException as e:       # a failure, or the SIGINT at the deadline: keep the rest
            result = None
            self.results[name] = {"error": f"{type(e).__name__}: {e}",
                                  "trace": traceback.format_exc()[-3000:]}
        else:
            self.results[name] = result
        self.results[f"{name}_wall_s"] = round(time.perf_counter() - t, 1)
        self.results[f"{name}_peak_gib"] = (round(torch.cuda.max_memory_allocated() / 2**30, 3)
                                            if self.cuda else None)
        self.save()
        print(f"=== {name}: {json.dumps(self.results[name], default=str)[:1500]}", flush=True)
        return result

    def stop_at_deadline(self) -> threading.Timer:
        """A SIGINT 10 s after the deadline: training stops as at Ctrl-C (saved, resumable).
        Returns the timer, to cancel when the check ends in time."""
        timer = threading.Timer(max(1.0, self.seconds + 10 - self.elapsed()),
                                os.kill, (os.getpid(), signal.SIGINT))
        timer.daemon = True
        timer.start()
        return timer


def machine_info() -> dict:
    smi = (subprocess.run(["nvidia-smi"], capture_output=True, text=True).stdout
           if torch.cuda.is_available() and shutil.which("nvidia-smi") else "")
    return {"machine": machine(), "nvidia_smi": smi[-2500:],
            "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None}


def dit_bench(preset: str, precision: str, compile: bool = False, peer: bool = False):
    cfg = get_config(preset, [f"train.precision={precision}", f"train.compile={str(compile).lower()}"])
    return lambda: (bench_peer(repeats=3, cfg=cfg, steps=3) if peer
                    else bench_dit(repeats=3, cfg=cfg, steps=5))


def quickstart_run(preset: str, run: Path, out: Path, overrides=()):
    """A quickstart of `preset` (with `overrides`) into `run`: its report's times and adherence,
    and the VAE's PSNR on 128 held-out clips; its samples and log copied into `out`."""
    def go():
        cfg = get_config(preset, list(overrides))
        report = quickstart(cfg, run, progress=False, provenance=False)
        evaluation = report.get("evaluation", {})
        for name in ("samples.gif", "log.jsonl"):
            if (run / name).exists():
                shutil.copy(run / name, out / f"{run.name}_{name}")
        return {"overrides": list(overrides), "seconds": report.get("seconds"),
                "adherence_in_distribution": report.get("adherence_in_distribution"),
                "adherence_held_out": report.get("adherence_held_out"),
                "ci": {k: v for k, v in evaluation.items() if k.endswith("_ci")},
                "tracker_floor": evaluation.get("tracker_floor"), "settings": report.get("settings"),
                "vae_quality": evaluate_vae(load_vae_for(cfg, run), cfg.world, n=128)}
    return go


def vae_seconds_per_step(preset: str, run: Path):
    """Seconds a VAE training step takes at `preset`: steps 5 to 25 of a throwaway run."""
    def go():
        cfg = get_config(preset)
        train_vae(cfg, run, progress=False, max_steps=5, log=lambda *a: None)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        train_vae(cfg, run, progress=False, max_steps=25, log=lambda *a: None)
        return {"s_per_step": (time.perf_counter() - t) / 20}
    return go


def shortened_steps(check: Check, preset: str, vae_s: float, dit_s: float) -> tuple[int, int]:
    """VAE and denoiser steps of `preset` that fit the time left less `RESERVE_S`, a third of it
    for the VAE; at most the preset's own, at least 100 and 200, in hundreds."""
    budget = max(0.0, check.left() - RESERVE_S)
    full = get_config(preset).train
    vae_steps = min(full.vae_steps, max(100, int(budget / 3 / vae_s) // 100 * 100))
    steps = min(full.steps, max(200, int(budget * 2 / 3 / (DENOISER_OVERHEAD * dit_s)) // 100 * 100))
    return vae_steps, steps


def probes(run: Path, names, n: int):
    def go():
        pipe = Pipeline.from_pretrained(run)
        return {name: run_probe(pipe, name, n=n) for name in names}
    return go


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="where gpu.json and the copies go")
    ap.add_argument("--runs", type=Path, default=None, help="run folders (default: a gpu-check "
                    "folder in the runs dir)")
    ap.add_argument("--seconds", type=float, default=545.0, help="the time the whole check may take")
    ap.add_argument("--small", default="tiny", help="the preset run whole")
    ap.add_argument("--big", default="workshop", help="the preset benchmarked and run shortened")
    ap.add_argument("--steps", default=None, help="VAE,denoiser steps of the shortened run "
                    "instead of fitting them to the time left")
    ap.add_argument("--probe-clips", type=int, default=48)
    ap.add_argument("--skip", default="", help=f"stages not to run, comma-separated: {', '.join(STAGES)}")
    args = ap.parse_args(argv)
    skip = {s for s in args.skip.split(",") if s}
    if skip - set(STAGES):
        ap.error(f"unknown stages {', '.join(sorted(skip - set(STAGES)))}; stages: {', '.join(STAGES)}")
    if args.steps and not re.fullmatch(r"[1-9][0-9]*,[1-9][0-9]*", args.steps):
        ap.error(f"--steps takes VAE and denoiser steps as two positive integers, 'V,D' (got {args.steps!r})")
    runs = args.runs or Path(runs_dir()) / "gpu-check"
    check = Check(args.out, args.seconds, skip)
    timer = check.stop_at_deadline()
    try:
        run_stages(check, args, runs)
    finally:
        timer.cancel()
    return 0


def run_stages(check: Check, args, runs: Path) -> None:
    check.stage("info", machine_info)
    check.stage("dit_fp32", dit_bench(args.big, "fp32"))
    bf16 = check.stage("dit_bf16", dit_bench(args.big, "bf16"))
    check.stage("quickstart_small", quickstart_run(args.small, runs / "small", args.out), need=60)
    vae = check.stage("vae_rate", vae_seconds_per_step(args.big, runs / "vae-rate"),
                      need=0 if args.steps else 200)
    if args.steps:
        vae_steps, steps = (int(s) for s in args.steps.split(","))
    elif vae and bf16 and "seconds_per_step" in bf16:
        vae_steps, steps = shortened_steps(check, args.big, vae["s_per_step"], bf16["seconds_per_step"])
    else:
        vae_steps = steps = None
    if vae_steps is not None:
        full = get_config(args.big).train
        check.results["big_plan"] = {"vae_steps": vae_steps, "steps": steps,
                                     "full_vae_steps": full.vae_steps, "full_steps": full.steps}
        check.stage("quickstart_big", quickstart_run(
            args.big, runs / "big", args.out,
            [f"train.vae_steps={vae_steps}", f"train.steps={steps}"]), need=90)
    check.stage("peer_bf16", dit_bench(args.big, "bf16", peer=True), need=45)
    if (runs / "big" / "report.json").exists():
        check.stage("probes_big", probes(runs / "big", ["many_objects", "morphing"],
                                         args.probe_clips), need=70)
    check.stage("dit_bf16_compile", dit_bench(args.big, "bf16", compile=True), need=60)
    check.results["total_s"] = round(check.elapsed(), 1)
    check.save()


if __name__ == "__main__":
    raise SystemExit(main())
