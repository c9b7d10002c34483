"""Adherence on fresh seeds: generate clips for prompts no run trained on and score them (notebooks 06 and 07).

`evaluate(pipe)` draws in-distribution prompts the way the world draws captions and held-out
prompts (the colour-shape pairs training never shows), from the `eval` seed stream
(`soralite.seeds`), generates a clip for each and scores it with the tracker. It is what
`soralite quickstart` writes to `report.json`.
"""
from __future__ import annotations

import math
import time
import warnings

import numpy as np

from soralite.language import HeldOutWarning
from soralite.pipeline import Pipeline
from soralite.seeds import stream_seed
from soralite.world import eval_prompts, render_prompt, score_clips
from soralite.world.scenes import LayoutError

FLOOR_CLIPS = 64                   # world clips rendered for the prompts, to read the tracker's floor
Z_95 = 1.959964                    # the normal quantile of a two-sided 95% interval

SUMMARY_KEYS = ("n", "adherence", "colour", "shape", "size", "motion", "no_extra",
                "count_consistency", "shape_stability")


def _summary(report: dict) -> dict:
    return {k: report.get(k) for k in SUMMARY_KEYS}


def evaluate(pipe: Pipeline, n: int | None = None, n_held_out: int | None = None,
             seed: int | None = None, steps: int | None = None, guidance: float | None = None,
             progress: bool = False) -> dict:
    """Generate clips for fresh prompts and noise and score them with the tracker.

    Returns `adherence_in_distribution`, `adherence_held_out` (each with a 95% Wilson interval,
    `..._ci`), each set's per-attribute summary, and `tracker_floor`: the tracker's adherence on
    clips the world itself renders for the same prompts (the best a model can score here; at the
    `smoke` preset's 16 px clips it is far below 1, which is why smoke figures read nothing)."""
    cfg, tc = pipe.config, pipe.config.train
    n = tc.eval_clips if n is None else n
    n_held_out = tc.eval_held_out_clips if n_held_out is None else n_held_out
    seed = stream_seed(cfg.seed, "eval") if seed is None else seed
    ind, held = eval_prompts(cfg.world, n, n_held_out, seed)
    prompts = ind + held
    t0 = time.perf_counter()
    with warnings.catch_warnings(), pipe.policy_suspended():   # the world's own prompts, measured
        warnings.simplefilter("ignore", HeldOutWarning)      # held-out prompts are asked on purpose
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
    for name in ("in_distribution", "held_out"):
        part = report[name]
        report[f"adherence_{name}"] = part and part["adherence"]
        report[f"adherence_{name}_ci"] = part and wilson_interval(round(part["adherence"] * part["n"]),
                                                                  part["n"])
    report["tracker_floor"] = tracker_floor(pipe.config.world, prompts[:FLOOR_CLIPS], seed)
    return report


def wilson_interval(successes: int, n: int, z: float = Z_95) -> list[float] | None:
    """The Wilson score interval of a share `successes / n` (95% by default), as `[low, high]`."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def share_of(flags, digits: int | None = None) -> dict:
    """True `flags` as `{"share", "n", "ci95"}` (the 95% Wilson interval), the share rounded to
    `digits` where given: how every measure of the kit reports a share of clips."""
    flags = [bool(f) for f in flags]
    k, n = sum(flags), len(flags)
    share = (k / n if digits is None else round(k / n, digits)) if n else None
    return {"share": share, "n": n, "ci95": wilson_interval(k, n)}


def counted_share(flags) -> dict:
    """True `flags` as a share with its count and 95% Wilson interval: `{"share", "k", "n", "ci95"}`.
    Notebooks 07 and 08 print every adherence so, e.g. of `[r["adheres"] for r in scores["per_clip"]]`."""
    flags = [bool(f) for f in flags]
    return {**share_of(flags), "k": sum(flags)}


def format_share(share: dict) -> str:
    """A `counted_share` as text: `"41% (13 of 32; 95% interval 26% to 58%)"`."""
    if not share["n"]:
        return "no clips (0 of 0)"
    lo, hi = share["ci95"]
    return f"{share['share']:.0%} ({share['k']} of {share['n']}; 95% interval {lo:.0%} to {hi:.0%})"


FLOOR_LAYOUT_TRIES = 8             # seeds tried for a prompt whose drawn sizes cannot be laid out


def tracker_floor(world, prompts: list[str], seed: int) -> float | None:
    """The tracker's adherence on clips the world renders for `prompts` (its floor at this size);
    a prompt the world cannot lay out in `FLOOR_LAYOUT_TRIES` draws is left out."""
    if not prompts:
        return None
    clips, kept = [], []
    for i, p in enumerate(prompts):
        for k in range(FLOOR_LAYOUT_TRIES):       # a caption leaves sizes open: some draws do not fit
            try:
                clips.append(render_prompt(p, world, seed=seed + i + k * len(prompts))[0])
                kept.append(p)
                break
            except LayoutError:
                continue
    return score_clips(np.stack(clips), kept)["adherence"] if kept else None


def _failures(per_clip: list[dict]) -> dict:
    """How often each attribute was wrong, among the clips that did not adhere."""
    bad = [r for r in per_clip if not r["adheres"]]
    return {k: sum(1 for r in bad if r[k] is False) for k in ("colour", "shape", "motion", "no_extra")}


__all__ = ["evaluate", "wilson_interval", "share_of", "counted_share", "format_share", "tracker_floor", "SUMMARY_KEYS"]
