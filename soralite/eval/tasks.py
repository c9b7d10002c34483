"""Every task of one model, measured with the tracker on fresh seeds (notebook 09; `soralite eval-tasks`).

Each measure renders world clips from the `tasks` seed stream (clips no training drew), hands the
model what the task gives it (a first frame, a clip's first or second half, the two ends of a
path, a clip to re-prompt), and compares what it makes with what the world would have shown: the
scene truth continues every straight path, so "goes on at its velocity" and "follows the path"
are distances in pixels. Every function returns a JSON-ready dict.
"""
from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import torch

from soralite.eval.adherence import share_of
from soralite.language import HeldOutWarning
from soralite.pipeline import Pipeline
from soralite.seeds import stream_seed
from soralite.world import (clear_of_frame, clip_rng, generate, majority, parse_prompt, render, sample_scene,
                            score_clips, track_clip)

EDIT_STRENGTHS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)
SEAM_FRAMES = 4                    # new frames next to a seam that are held to the straight path
ON_PATH_PX = 1.0                   # within this many pixels of the truth
EDIT_PATH_PX = 1.5                 # an edit keeps the source trajectory within this
LONG_TIMES = 10                    # long videos: this many times the training length


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2) / 255.0 ** 2
    return float("inf") if mse == 0 else float(-10 * math.log10(mse))


def _scenes(pipe: Pipeline, n: int, frames: int, seed: int, stream: str = "tasks"):
    """`n` scenes of the checkpoint's world with `frames` frames, and their clips and captions."""
    world = dataclasses.replace(pipe.config.world, frames=frames)
    base = stream_seed(seed, stream) if stream != "raw" else seed
    scenes = [sample_scene(world, clip_rng(base, i)) for i in range(n)]
    return scenes, np.stack([render(s) for s in scenes]), [s.caption for s in scenes]


def _centroids(clip: np.ndarray, colour: str) -> np.ndarray:
    """`(T, 2)` the tracker's centroid of `colour` in every frame (nan where it is not seen)."""
    tracks = track_clip(clip).tracks
    if colour not in tracks:
        return np.full((len(clip), 2), np.nan)
    return tracks[colour].centroid


def _truth(scene) -> np.ndarray:
    o = scene.objects[0]
    return np.stack([o.cx, o.cy], axis=1)                                  # (T, 2)


def _share(flags) -> dict:
    return share_of(flags)


def _path_error(clip, scene, frames, colour) -> float:
    """Mean distance in pixels between the tracked centroid and the truth over `frames`
    (measured against the tracker's own reading of the world's clip, so its bias cancels)."""
    seen = _centroids(clip, colour)[frames]
    truth = _centroids(render(scene), colour)[frames]
    d = np.linalg.norm(seen - truth, axis=1)
    return float(np.nanmean(d)) if np.isfinite(d).any() else float("inf")


def _speed_ratio(clip, colour, given: int, direction: str, frames: int = 8) -> float:
    """The object's speed over the `frames` new frames next to the seam over its speed in the
    `frames` given frames next to it (tracked in `clip`; nan where it is not seen or still)."""
    c = _centroids(clip, colour)
    k = min(frames, given)
    if direction == "forward":
        old, new = c[given - k:given], c[given:given + k]
    else:
        old, new = c[len(c) - given:len(c) - given + k], c[len(c) - given - k:len(c) - given]
    v_old = _speed(old)
    return float(_speed(new) / v_old) if np.isfinite(v_old) and v_old > 0.1 else float("nan")


def _speed(points) -> float:
    """Pixels a frame from the first of `points (T, 2)` to the last (nan where either is)."""
    return float(np.linalg.norm(points[-1] - points[0]) / max(1, len(points) - 1))


def _adheres(clips, captions) -> list[bool]:
    return [r["adheres"] for r in score_clips(clips, captions)["per_clip"]]


def _no_extra(clips, captions) -> list[bool]:
    return [r["no_extra"] and r["count_consistency"] == 1.0
            for r in score_clips(clips, captions)["per_clip"]]


# ----------------------------------------------------------------------------------------------
# The tasks


def measure_animate(pipe: Pipeline, n: int = 48, seed: int = 0) -> dict:
    """First frame given as an image: its PSNR after the model (decoded, not pasted), adherence
    to the prompt, and how far the object starts from where the image has it."""
    T = pipe.config.world.frames
    scenes, clips, captions = _scenes(pipe, n, T, seed)
    out = pipe.animate(clips[:, 0], captions, seed=seed, exact=False)
    start = [np.linalg.norm(_centroids(o[:1], s.objects[0].colour)[0] - _centroids(c[:1], s.objects[0].colour)[0])
             for o, c, s in zip(out, clips, scenes)]
    start = np.nan_to_num(np.array(start), nan=np.inf)
    return {"n": n, "first_frame_psnr_db": round(float(np.mean([_psnr(o[0], c[0]) for o, c in zip(out, clips)])), 2),
            "adherence": _share(_adheres(out, captions)),
            "start_within_1px": _share(start <= ON_PATH_PX),
            "start_error_px_median": round(float(np.median(start)), 3)}


def measure_extend(pipe: Pipeline, n: int = 48, seed: int = 0, frames: int | None = None) -> dict:
    """Half of a longer world clip given, the other half made, forward and backward: the given
    frames' PSNR, the new frames next to the seam against the straight-line truth, the object's
    speed after the seam over its speed before it (1: the motion goes on), no object from
    nowhere, adherence of the whole; and whether the made speed follows the given one over
    clips of many speeds (`speed_read`: the slope of one on the other)."""
    T = pipe.config.world.frames
    new = frames or T
    scenes, clips, captions = _scenes(pipe, n, T + new, seed)
    report = {"n": n, "new_frames": new}
    for direction in ("forward", "backward"):
        given = slice(0, T) if direction == "forward" else slice(new, new + T)
        made = (np.arange(T, T + SEAM_FRAMES) if direction == "forward"
                else np.arange(new - SEAM_FRAMES, new))
        out = pipe.extend(clips[:, given], captions, new, direction=direction, seed=seed, exact=False)
        errors = np.array([_path_error(o, s, made, s.objects[0].colour) for o, s in zip(out, scenes)])
        ratio = np.array([_speed_ratio(o, s.objects[0].colour, T, direction) for o, s in zip(out, scenes)])
        report[direction] = {
            "given_psnr_db": round(float(np.mean([_psnr(o[given], c[given]) for o, c in zip(out, clips)])), 2),
            "seam_error_px_median": round(float(np.median(errors)), 3),
            "seam_within_1px": _share(errors <= ON_PATH_PX),
            "new_over_given_speed_median": round(float(np.nanmedian(ratio)), 3) if np.isfinite(ratio).any() else None,
            "no_object_from_nowhere": _share(_no_extra(out, captions)),
            "adherence": _share(_adheres(out, captions))}
    report["speed_read"] = _speed_read(pipe, n, seed)
    return report


def speed_fit(true, made) -> dict:
    """The made speeds against the true ones (px a frame, one pair a clip; pairs with a nan left
    out): the least-squares line `made = slope x true + intercept` (slope 1: the speed is read;
    0: one speed whatever was given), the correlation, and the median error. None where fewer
    than three pairs are left or the true speeds do not vary."""
    true, made = np.asarray(true, float), np.asarray(made, float)
    ok = np.isfinite(true) & np.isfinite(made)
    true, made = true[ok], made[ok]
    if len(true) < 3 or np.ptp(true) == 0:
        return {"pairs": int(len(true)), "slope": None, "intercept": None, "correlation": None,
                "error_median": None}
    slope, intercept = np.polyfit(true, made, 1)
    corr = np.corrcoef(true, made)[0, 1] if np.ptp(made) > 0 else 0.0
    return {"pairs": int(len(true)), "slope": round(float(slope), 3), "intercept": round(float(intercept), 3),
            "correlation": round(float(corr), 3), "error_median": round(float(np.median(np.abs(made - true))), 3)}


def _speed_read(pipe: Pipeline, n: int, seed: int) -> dict:
    """Does extension read the speed it is given? World clips of the training length, whose
    speeds span the world's range: the first half given, the second made in one window; the
    made speed against the true one (`speed_fit`)."""
    T, c = pipe.config.world.frames, pipe.vae.temporal_compression
    half = max(c, T // c // 2 * c)
    if T - half < 2:                                                    # nothing to read a speed over
        return {"given_frames": half, **speed_fit([], []), "true_mean": None, "made_mean": None}
    scenes, clips, captions = _scenes(pipe, n, T, seed)                  # animate's scenes
    out = pipe.extend(clips[:, :half], captions, T - half, seed=seed, exact=False)
    true = [_speed(_centroids(x, s.objects[0].colour)[half:]) for x, s in zip(clips, scenes)]
    made = [_speed(_centroids(o, s.objects[0].colour)[half:]) for o, s in zip(out, scenes)]
    return {"given_frames": half, **speed_fit(true, made),
            "true_mean": round(float(np.nanmean(true)), 3), "made_mean": round(float(np.nanmean(made)), 3)}


def measure_connect(pipe: Pipeline, n: int = 48, seed: int = 0, gap: int = 8) -> dict:
    """Clip A's end and clip B's start, `gap` frames apart on one object's path: the frames made
    between them against the path, and the object present in every one."""
    T = pipe.config.world.frames
    side = T // 2
    scenes, clips, captions = _scenes(pipe, n, 2 * side + gap, seed)
    a, b = clips[:, :side], clips[:, side + gap:]
    out = pipe.connect(a, b, captions, gap, seed=seed)
    between = np.arange(side, side + gap)
    errors = np.array([_path_error(o, s, between, s.objects[0].colour) for o, s in zip(out, scenes)])
    present = [bool(track_clip(o[between]).tracks.get(s.objects[0].colour) is not None and
                    track_clip(o[between]).tracks[s.objects[0].colour].present.all())
               for o, s in zip(out, scenes)]
    return {"n": n, "gap_frames": gap, "path_error_px_mean": round(float(np.mean(errors)), 3),
            "path_error_px_median": round(float(np.median(errors)), 3),
            "on_path_within_1px": _share(errors <= ON_PATH_PX),
            "present_in_every_frame": _share(present)}


def _swap(caption: str, world, attribute: str, k: int) -> str:
    """The caption with its object's colour (or shape) replaced by another of the world's."""
    o = parse_prompt(caption).objects[0]
    held = set(map(tuple, world.held_out))
    if attribute == "colour":
        options = [c for c in world.colours if c != o.colour and (c, o.shape) not in held]
        return caption.replace(f" {o.colour} ", f" {options[k % len(options)]} ", 1)
    options = [s for s in world.shapes if s != o.shape and (o.colour, s) not in held]
    return caption.replace(f" {o.shape} ", f" {options[k % len(options)]} ", 1)


def measure_edit(pipe: Pipeline, n: int = 48, seed: int = 0, strengths=EDIT_STRENGTHS) -> dict:
    """World clips re-prompted with another colour (and, apart, another shape) at each strength:
    the share that takes the new attribute, and the share that keeps the source trajectory
    (mean centroid error at most `EDIT_PATH_PX`), and the strength where both are best."""
    T = pipe.config.world.frames
    scenes, clips, captions = _scenes(pipe, n, T, seed)
    world = pipe.config.world
    curves = {}
    for attribute in ("colour", "shape"):
        if len(getattr(world, attribute + "s")) < 2:
            continue
        targets = [_swap(c, world, attribute, k) for k, c in enumerate(captions)]
        rows = []
        for strength in strengths:
            out = pipe.edit(clips, targets, strength=strength, seed=seed)
            scores = score_clips(out, targets)["per_clip"]
            took = [r[attribute] if attribute == "colour" else r["shape"] for r in scores]
            kept = []
            for o, s, target in zip(out, scenes, targets):
                colour = parse_prompt(target).objects[0].colour
                seen = _centroids(o, colour)
                truth = _centroids(render(s), s.objects[0].colour)
                d = np.linalg.norm(seen - truth, axis=1)
                kept.append(bool(np.isfinite(d).any() and np.nanmean(d) <= EDIT_PATH_PX))
            both = [t and k for t, k in zip(took, kept)]
            rows.append({"strength": strength, "takes_new": _share(took)["share"],
                         "keeps_trajectory": _share(kept)["share"], "both": _share(both)["share"]})
        curves[attribute] = rows
    best = {a: max(rows, key=_balance)["strength"] for a, rows in curves.items()}
    return {"n": n, "curves": curves, "best_strength": best,
            "best_strength_overall": best_overall(curves),
            "default_strength": pipe.config.train.edit_strength}


def _balance(row: dict) -> tuple[float, float]:
    """How good one strength is: the smaller of the shares that take the new attribute and keep
    the trajectory, then the share that does both."""
    return min(row["takes_new"], row["keeps_trajectory"]), row["both"]


def best_overall(curves: dict) -> float | None:
    """The one strength best for every attribute's edit at once: the largest worst `_balance`
    over the attributes (then the largest mean share doing both); what `train.edit_strength`,
    one default for every edit, is measured against."""
    if not curves:
        return None
    def score(rows) -> tuple[float, float]:
        return min(_balance(r)[0] for r in rows), sum(r["both"] for r in rows) / len(rows)
    per_strength = list(zip(*curves.values()))             # per strength, one row an attribute
    return max(per_strength, key=score)[0]["strength"]


def _steps(clip: np.ndarray, colour: str) -> np.ndarray:
    c = _centroids(clip, colour)
    return np.linalg.norm(np.diff(c, axis=0), axis=1)                      # (T - 1,)


def measure_loop(pipe: Pipeline, n: int = 48, seed: int = 0) -> dict:
    """Loops: the step from the last frame to the first against a typical step inside the clip."""
    prompts = generate(pipe.config.world, n, seed=stream_seed(seed, "tasks") + 1).captions
    out = pipe.loop(prompts, seed=seed)
    wrap, inside = [], []
    for clip, p in zip(out, prompts):
        colour = parse_prompt(p).objects[0].colour
        steps = _steps(np.concatenate([clip, clip[:1]]), colour)
        wrap.append(steps[-1])
        inside.append(np.nanmedian(steps[:-1]) if np.isfinite(steps[:-1]).any() else np.nan)
    wrap, inside = np.array(wrap), np.array(inside)
    ok = np.isfinite(wrap) & np.isfinite(inside) & (wrap <= np.maximum(inside, 1.0) * 1.5)
    return {"n": n, "wrap_step_px_median": round(float(np.nanmedian(wrap)), 3),
            "inside_step_px_median": round(float(np.nanmedian(inside)), 3),
            "wrap_no_larger_than_1_5x_typical": _share(ok),
            "adherence": _share(_adheres(out, prompts))}


def measure_long(pipe: Pipeline, n: int = 24, seed: int = 0, frames: int | None = None) -> dict:
    """Videos of `frames` frames (default 10x the training length) by the sliding window:
    identity (colour and shape) wherever the object is seen whole (clear of the frame's edges:
    the tracker reads the shape of a cut object from its visible part, see `long_row`; the
    reading of every frame, cut ones included, is reported too; so are the first window alone and
    the reading window by window, `long_row`), objects from nowhere, the step
    at each window seam against a typical step, and what happens once the object reaches an
    edge: it leaves, or it is held there to the end."""
    prompts = generate(pipe.config.world, n, seed=stream_seed(seed, "tasks") + 2).captions
    frames = frames or LONG_TIMES * pipe.config.world.frames
    out = pipe.generate(prompts, seed=seed, frames=frames)
    W, c = pipe.window, pipe.vae.temporal_compression
    o = pipe.config.train.window_overlap
    seams = [(W + k * (W - o)) * c for k in range(frames // c) if (W + k * (W - o)) * c < frames]
    rows, nowhere, seam_ratio = [], [], []
    for clip, p in zip(out, prompts):
        colour = parse_prompt(p).objects[0].colour
        ct = track_clip(clip)
        tr = ct.tracks.get(colour)
        others = [k for k, t in ct.tracks.items() if k != colour and t.present.mean() > 0.05]
        nowhere.append(bool(others))
        row = long_row(tr, clip.shape[1:3], W * c)
        rows.append(row)
        if tr is None:
            continue
        steps = np.linalg.norm(np.diff(tr.centroid, axis=0), axis=1)
        typical = np.nanmedian(steps) if np.isfinite(steps).any() else np.nan
        at = [steps[s - 1] for s in seams if s - 1 < len(steps) and np.isfinite(steps[s - 1])]
        if at and np.isfinite(typical):
            seam_ratio.append(float(np.median(at)) / max(typical, 0.5))
    seen = [r for r in rows if r["seen"]]
    gone = [r["gone_at_the_end"] for r in seen]
    return {"n": n, "frames": frames, "windows": 1 + len(seams),
            "identity_kept": _share(r["same_whole"] for r in rows),
            "identity_kept_first_window": _share(r["same_whole_first_window"] for r in rows),
            "identity_kept_by_window": _share(r["same_by_window"] for r in rows),
            "identity_kept_every_frame": _share(r["same_every_frame"] for r in rows),
            "object_from_nowhere": _share(nowhere),
            "seam_step_over_typical_median": round(float(np.median(seam_ratio)), 3) if seam_ratio else None,
            "frames_without_the_object_at_the_end_median": int(np.median(gone)) if gone else None,
            "reappears_after_an_absence": _share(r["back"] for r in seen),
            "held_at_an_edge": _share(r["held_at_an_edge"] for r in seen)}


def _same_shape(shapes) -> bool:
    """One shape in at least 95% of the readings (or none read at all)."""
    shapes = [s for s in shapes if s]
    return len(set(shapes)) <= 1 or shapes.count(majority(shapes)) >= 0.95 * len(shapes)


def long_row(track, hw: tuple[int, int], window: int) -> dict:
    """One long video's object (`track`, the tracker's track of the prompt's colour, or None):
    the same shape in the frames where it is whole (its box touches no edge of the frame,
    `clear_of_frame`; False where it never is) and in every frame; whether it is gone at the end and for how many frames, or
    came back after an absence; and whether it is held at an edge, in view and cut by the
    frame in each of the last `window` frames. Two readings that part what the length does from
    what one window does: the same rule over the first `window` frames alone (one ordinary
    sample: `same_whole_first_window`), and `same_by_window`, one shape for every stretch of
    `window` frames in which the object is in view, each stretch read by the majority of its
    frames, cut ones too (after an object reaches an edge it is never whole again)."""
    if track is None:
        return {"seen": False, "same_whole": False, "same_whole_first_window": False,
                "same_by_window": False, "same_every_frame": False, "gone_at_the_end": None,
                "back": False, "held_at_an_edge": False}
    whole = clear_of_frame(track, *hw)                                      # (T,)
    seen = np.flatnonzero(track.present)
    tail = slice(len(track.present) - window, None)
    first = whole[:window]
    stretches = [[s for s in track.shapes[k:k + window] if s] for k in range(0, len(whole), window)]
    return {"seen": bool(len(seen)),
            "same_whole": bool(whole.any()) and _same_shape(s for s, w in zip(track.shapes, whole) if w),
            "same_whole_first_window": bool(first.any()) and _same_shape(
                s for s, w in zip(track.shapes[:window], first) if w),
            "same_by_window": len({majority(r) for r in stretches if r}) == 1,
            "same_every_frame": _same_shape(track.shapes),
            "gone_at_the_end": int(len(track.present) - 1 - seen[-1]) if len(seen) else None,
            "back": bool(len(seen) and (np.diff(seen) > 4).any()),         # gone a while, then back
            "held_at_an_edge": bool(track.present[tail].all() and not whole[tail].any())}


MEASURES = {"animate": measure_animate, "extend": measure_extend, "connect": measure_connect,
            "edit": measure_edit, "loop": measure_loop, "long": measure_long}


def evaluate_tasks(pipe: Pipeline, names=None, n: int = 48, seed: int = 0, log=print) -> dict:
    """Every measure of `MEASURES` (or those named), as one JSON-ready dict."""
    report = {}
    # the world's own captions are measured: the usage policy (notebook 13) is for requests
    with warnings.catch_warnings(), np.errstate(invalid="ignore"), pipe.policy_suspended():
        warnings.simplefilter("ignore", HeldOutWarning)
        warnings.simplefilter("ignore", RuntimeWarning)           # nan means of clips with no object
        for name in names or MEASURES:
            if name not in MEASURES:
                raise ValueError(f"unknown task measure {name!r}; measures: {', '.join(MEASURES)}")
            torch.manual_seed(seed)
            report[name] = MEASURES[name](pipe, n=n if name != "long" else max(1, n // 2), seed=seed)
            log(f"[eval-tasks] {name} done")
    return report


__all__ = ["MEASURES", "evaluate_tasks", "measure_animate", "measure_extend", "measure_connect",
           "measure_edit", "best_overall", "speed_fit", "measure_loop", "measure_long", "long_row",
           "EDIT_STRENGTHS", "LONG_TIMES"]
