"""Adherence on fresh seeds: generate clips for prompts no run trained on and score them (notebooks 06 and 07).

`evaluate(pipe)` draws in-distribution prompts the way the world draws captions and held-out
prompts (the colour-shape pairs training never shows), from the `eval` seed stream
(`soralite.seeds`), generates a clip for each and scores it with the tracker. It is what
`soralite quickstart` writes to `report.json`.
"""
from __future__ import annotations

import time

from soralite.pipeline import Pipeline
from soralite.seeds import stream_seed
from soralite.world import eval_prompts, score_clips

SUMMARY_KEYS = ("n", "adherence", "colour", "shape", "size", "motion", "no_extra",
                "count_consistency", "shape_stability")


def _summary(report: dict) -> dict:
    return {k: report.get(k) for k in SUMMARY_KEYS}


def evaluate(pipe: Pipeline, n: int | None = None, n_held_out: int | None = None,
             seed: int | None = None, steps: int | None = None, guidance: float | None = None,
             progress: bool = False) -> dict:
    """Generate clips for fresh prompts and noise and score them with the tracker.

    Returns `adherence_in_distribution`, `adherence_held_out` and each set's per-attribute summary."""
    cfg, tc = pipe.config, pipe.config.train
    n = tc.eval_clips if n is None else n
    n_held_out = tc.eval_held_out_clips if n_held_out is None else n_held_out
    seed = stream_seed(cfg.seed, "eval") if seed is None else seed
    ind, held = eval_prompts(cfg.world, n, n_held_out, seed)
    prompts = ind + held
    t0 = time.perf_counter()
    clips = pipe.generate(prompts, seed=seed, steps=steps, guidance=guidance, progress=progress)
    t_sample = time.perf_counter() - t0
    report = {"seed": seed, "steps": steps or tc.sample_steps,
              "guidance": tc.guidance_scale if guidance is None else guidance,
              "sample_seconds": round(t_sample, 1)}
    for name, rows in (("in_distribution", slice(0, len(ind))), ("held_out", slice(len(ind), None))):
        if rows.stop == 0 or not prompts[rows]:
            report[name] = None
            continue
        scores = score_clips(clips[rows], prompts[rows])
        report[name] = _summary(scores)
        report[name]["failures"] = _failures(scores["per_clip"])
    report["adherence_in_distribution"] = (report["in_distribution"] or {}).get("adherence")
    report["adherence_held_out"] = (report["held_out"] or {}).get("adherence")
    return report


def _failures(per_clip: list[dict]) -> dict:
    """How often each attribute was wrong, among the clips that did not adhere."""
    bad = [r for r in per_clip if not r["adheres"]]
    return {k: sum(1 for r in bad if r[k] is False) for k in ("colour", "shape", "motion", "no_extra")}


__all__ = ["evaluate", "SUMMARY_KEYS"]
