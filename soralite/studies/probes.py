"""World-simulation probes: is the model a simulator of its world? (notebook 11; `soralite probe NAME`)

The Sora report claims object permanence, plausible motion and shapes that hold, and lists where
that breaks: objects from nowhere in scenes with many entities, morphing, implausible physics.
In the toy world each is a number. Every probe renders world clips from the `probes` seed stream
(clips no training drew), gives the model what the probe conditions on (the first frames of a
clip, through `Pipeline.fill`, or a prompt), tracks what it makes, and returns a JSON-ready dict
with the same measure on the world's own clips (`floor`: what a perfect model scores, read by the
same tracker). Speeds are in units of min(H, W) per frame, as in docs/world.md.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from soralite.eval.adherence import share_of
from soralite.language import HeldOutWarning
from soralite.pipeline import Pipeline
from soralite.seeds import stream_seed
from soralite.world import (ObjectSpec, PromptSpec, clear_of_wall, clip_rng, majority, render,
                            sample_scene, score_clips, track_clip)

EXIT_FRAMES = 2                    # permanence: out within this many frames of when the truth comes out
GIVEN_SHARE = 0.25                 # probes give the model this share of a clip's frames (at least one latent)
OOD_SPEEDS = (0.06, 0.08)          # physics out of distribution: speeds above training's [0.02, 0.04]
MINUTE_FRAMES = 480                # 60 s at 8 frames per second
SPEED_TOLERANCE = 0.2              # a minute of video: speed within 20% of the start
EDGE_PX = 2                        # a turn with the object this close to an edge is a bounce off it
STILL_PX = 0.5                     # a centroid step below this has no direction (tracker jitter)


def _share(flags) -> dict:
    return share_of(flags, digits=4)


def _world(pipe: Pipeline, **changes):
    return dataclasses.replace(pipe.config.world, **changes)


def _scenes(world, n: int, seed: int, spec_of=None, salt: int = 0):
    """`n` scenes of `world` from the probes stream (each drawn to `spec_of(rng)` where given)."""
    scenes = []
    for i in range(n):
        rng = clip_rng(stream_seed(seed, "probes") + salt, i)
        try:
            scenes.append(sample_scene(world, rng, spec_of(rng) if spec_of else None))
        except ValueError:                       # a layout this world's size cannot hold
            continue
    if not scenes:
        raise ProbeError(f"no {world.frames}x{world.height}x{world.width} scene can hold what this "
                         f"probe needs; probe a larger world (the `world` preset)")
    return scenes


class ProbeError(ValueError):
    """A probe that this world or model cannot run (said why)."""


def _given(pipe: Pipeline, frames: int) -> np.ndarray:
    """`(frames,)` bool: the first frames a probe gives, whole latent frames, at least one."""
    c = pipe.vae.temporal_compression
    k = max(c, int(round(GIVEN_SHARE * frames / c)) * c)
    known = np.zeros(frames, dtype=bool)
    known[:k] = True
    return known


def _continue(pipe: Pipeline, clips: np.ndarray, captions, seed: int) -> np.ndarray:
    """The model's continuation of each clip from its first frames (`_given`), at the clip's length."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HeldOutWarning)
        return pipe.fill(clips, _given(pipe, clips.shape[1]), list(captions), seed=seed)


def _both(pipe, scenes, seed):
    """The world's clips of `scenes` and the model's continuations of them."""
    clips = np.stack([render(s) for s in scenes])
    return clips, _continue(pipe, clips, [s.caption for s in scenes], seed)


# ----------------------------------------------------------------------------------------------
# Permanence


def _exit_frame(track, wall, after: int) -> int | None:
    """The first frame after `after` at which the track is seen clear of the wall."""
    for t in range(after + 1, len(track.present)):
        if track.valid[t]:
            return t
    return None


def _permanence(clip, scene, reference: dict | None = None) -> dict | None:
    """For the first object that goes behind the wall and should come out: does it, with its colour
    and shape, within `EXIT_FRAMES` of when it comes out of the world's own clip? `reference` is
    that clip's reading (the tracker sees an object clear of the wall a few frames before or after
    the geometry says, so the model is held to the same tracker's reading of the truth); without
    it, the geometric exit is the reference."""
    if scene.wall is None:
        return None
    for o in scene.objects:
        clear = clear_of_wall(o, scene.wall)
        hidden = np.flatnonzero(~clear)
        if not len(hidden) or hidden[0] == 0:
            continue
        out = np.flatnonzero(clear & (np.arange(len(clear)) > hidden[0]))
        if not len(out):
            continue                                                       # still behind at the end
        truth_exit, enter = int(out[0]), int(hidden[0])
        if reference is not None and reference.get("seen") is not None:
            truth_exit = reference["seen"]
        tr = track_clip(clip).tracks.get(o.colour)
        if tr is None:
            return {"back": False, "on_time": False, "same_shape": False, "seen": None}
        seen = _exit_frame(tr, scene.wall, enter)
        shapes_after = [s for t, s in enumerate(tr.shapes) if s and t >= (seen or len(clip))]
        shape_after = majority(shapes_after) if shapes_after else None
        return {"back": seen is not None,
                "on_time": seen is not None and abs(seen - truth_exit) <= EXIT_FRAMES,
                "same_shape": shape_after == o.shape, "seen": seen}
    return None


def probe_permanence(pipe: Pipeline, n: int = 48, seed: int = 0) -> dict:
    """Objects that pass behind the wall: the model is given the first frames (before the wall) of
    a clip twice the training length and continues it; does the object come out, with its colour
    and shape, when the world's own clip says (within `EXIT_FRAMES` of the tracker's reading of it)?
    Beside it the same reading of the world's own clips against the geometry (the floor)."""
    # twice the training length: at the world's speeds an object needs about that long to pass
    # wholly behind the wall and come out (the model makes it with the sliding window)
    world = _world(pipe, wall_prob=1.0, max_objects=1, min_objects=1,
                   frames=2 * pipe.config.world.frames)
    sideways = [m for m in ("moving left", "moving right") if m in world.motions]
    if not sideways:
        return {"n": 0, "note": "this world has no sideways motion, so nothing passes behind a wall"}
    pairs = [(c, s) for c in world.colours for s in world.shapes
             if (c, s) not in set(map(tuple, world.held_out)) or not world.exclude_held_out]

    def spec(rng):
        c, s = pairs[rng.integers(len(pairs))]
        return PromptSpec([ObjectSpec(c, s, sideways[rng.integers(len(sideways))],
                                      world.sizes[rng.integers(len(world.sizes))])], wall=True)
    scenes = _scenes(world, n, seed, spec)
    clips, made = _both(pipe, scenes, seed)
    floor = [_permanence(c, s) for c, s in zip(clips, scenes)]
    rows = {"model": [_permanence(m, s, f) for m, s, f in zip(made, scenes, floor)],
            "floor": floor}
    out = {"n": n}
    for who, res in rows.items():
        res = [r for r in res if r is not None]
        out[who] = {"expected_to_come_out": len(res),
                    "reappears": _share(r["back"] for r in res),
                    "on_time_within_2_frames": _share(r["on_time"] for r in res),
                    "same_colour_and_shape": _share(r["back"] and r["same_shape"] for r in res)}
    return out


# ----------------------------------------------------------------------------------------------
# Many objects, morphing


def probe_many_objects(pipe: Pipeline, n: int = 48, seed: int = 0) -> dict:
    """By number of objects (1, 2, 3 where the world shows them): the share of clips in which an
    object appears from nowhere or vanishes (the tracker's count is not steady; the wall is
    excused) and adherence, for text to video and for continuations of first frames."""
    out = {}
    w = pipe.config.world
    for k in range(w.min_objects, w.max_objects + 1):
        world = _world(pipe, min_objects=k, max_objects=k)
        scenes = _scenes(world, n, seed, salt=k)
        captions = [s.caption for s in scenes]
        clips, made = _both(pipe, scenes, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", HeldOutWarning)
            t2v = pipe.generate(captions, seed=seed)
        row = {}
        for who, cl in (("text_to_video", t2v), ("continued", made), ("floor", clips)):
            per = score_clips(cl, captions)["per_clip"]
            row[who] = {"appears_or_vanishes": _share(r["count_consistency"] < 1.0 for r in per),
                        "adherence": _share(r["adheres"] for r in per)}
        out[f"{k}_objects"] = row
    return {"n": n, **out}


def morphs(clip: np.ndarray, colours) -> list[bool]:
    """Per object: whether its shape changes over the clip (its majority shape in the first
    third of its clear frames differs from the last third's)."""
    tracks = track_clip(clip).tracks
    flags = []
    for colour in colours:
        tr = tracks.get(colour)
        shapes = [s for s in (tr.shapes if tr else []) if s]
        if len(shapes) < 3:
            continue
        third = max(1, len(shapes) // 3)
        first, last = shapes[:third], shapes[-third:]
        flags.append(majority(first) != majority(last))
    return flags


def probe_morphing(pipe: Pipeline, n: int = 48, seed: int = 0) -> dict:
    """The share of objects whose shape changes over the clip, continued from first frames and
    from text alone, against the world's own clips."""
    scenes = _scenes(pipe.config.world, n, seed, salt=7)
    captions = [s.caption for s in scenes]
    clips, made = _both(pipe, scenes, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HeldOutWarning)
        t2v = pipe.generate(captions, seed=seed)
    out = {"n": n}
    for who, cl in (("continued", made), ("text_to_video", t2v), ("floor", clips)):
        flags = [f for c, s in zip(cl, scenes) for f in morphs(c, [o.colour for o in s.objects])]
        out[who] = {"objects_morphing": _share(flags)}
    return out


# ----------------------------------------------------------------------------------------------
# Physics


def _fit_fall(track, m: int, gravity: float, restitution: float) -> dict | None:
    """Gravity fitted to a falling track before its first bounce (units of m per frame^2), and the
    restitution: the upward speed just after the bounce over the downward speed just before, each
    from a parabola fitted to its side of the bounce and read at the bounce."""
    if track is None:
        return None
    y = track.centroid[:, 1]
    ok = np.isfinite(y)
    if ok.sum() < 5:
        return None
    v = np.diff(y)
    bounce = next((i for i in range(1, len(v)) if v[i - 1] > 0 and v[i] < 0), None)
    pre = np.flatnonzero(ok[: bounce + 1 if bounce else len(y)])
    if len(pre) < 4:
        return None
    a, b_, _ = np.polyfit(pre, y[pre], 2)                                  # y = a t^2 + b t + c
    e = None
    if bounce is not None:
        post = np.flatnonzero(ok & (np.arange(len(y)) > bounce + 1))
        if len(post) >= 4:
            a2, b2, _ = np.polyfit(post, y[post], 2)
            tb = bounce + 0.5                                              # the bounce, between frames
            down, up = 2 * a * tb + b_, 2 * a2 * tb + b2
            if down > 0.5:
                e = float(abs(up) / down)
    return {"gravity": float(2 * a / m), "restitution": e}


def _velocity_error(clip, scene, frames) -> float | None:
    """Mean |tracked velocity - true velocity| over `frames`, in units of m per frame."""
    m = min(clip.shape[1:3])
    errs = []
    tracks = track_clip(clip).tracks
    for o in scene.objects:
        tr = tracks.get(o.colour)
        if tr is None:
            continue
        seen = np.diff(tr.centroid[frames], axis=0)                        # (K, 2) px per frame
        truth = np.diff(np.stack([o.cx, o.cy], axis=1)[frames], axis=0)
        d = np.linalg.norm(seen - truth, axis=1)
        errs.extend(d[np.isfinite(d)] / m)
    return float(np.mean(errs)) if errs else None


def _median(values) -> float | None:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return round(float(np.median(values)), 5) if values else None


def probe_physics(pipe: Pipeline, n: int = 48, seed: int = 0) -> dict:
    """In distribution: falling objects' fitted gravity against the world's (0.004) and their
    bounce restitution against 0.8; moving objects' velocity error in the frames the model made,
    against the tracker's floor on the world's own clips (phyworld's metric)."""
    w = pipe.config.world
    out = {"n": n, "world_gravity": w.gravity, "world_restitution": w.restitution}
    if "falling" in w.motions:                     # twice the training length: time to bounce
        world = _world(pipe, motions=("falling",), min_objects=1, max_objects=1, wall_prob=0.0,
                       frames=2 * w.frames)
        scenes = _scenes(world, n, seed, salt=11)
        clips, made = _both(pipe, scenes, seed)
        for who, cl in (("model", made), ("floor", clips)):
            fits = [_fit_fall(track_clip(c).tracks.get(s.objects[0].colour), min(c.shape[1:3]),
                              w.gravity, w.restitution) for c, s in zip(cl, scenes)]
            fits = [f for f in fits if f]
            g = _median([f["gravity"] for f in fits])
            out[f"falling_{who}"] = {"fitted": len(fits), "gravity_median": g,
                                     "gravity_ratio": round(g / w.gravity, 3) if g else None,
                                     "restitution_median": _median([f["restitution"] for f in fits])}
    linear = [m for m in w.motions if m.startswith("moving")]
    if linear:
        world = _world(pipe, motions=tuple(linear), min_objects=1, max_objects=1, wall_prob=0.0)
        scenes = _scenes(world, n, seed, salt=13)
        clips, made = _both(pipe, scenes, seed)
        new = np.flatnonzero(~_given(pipe, clips.shape[1]))
        frames = np.concatenate([[new[0] - 1], new])                       # from the last given frame
        out["velocity_error_model"] = _median(_velocity_error(m, s, frames) for m, s in zip(made, scenes))
        out["velocity_error_floor"] = _median(_velocity_error(c, s, frames) for c, s in zip(clips, scenes))
    return out


def _speed(clip, colour) -> float | None:
    tr = track_clip(clip).tracks.get(colour)
    if tr is None:
        return None
    step = np.linalg.norm(np.diff(tr.centroid, axis=0), axis=1)
    step = step[np.isfinite(step)]
    return float(np.median(step)) / min(clip.shape[1:3]) if len(step) else None


def probe_physics_ood(pipe: Pipeline, n: int = 48, seed: int = 0) -> dict:
    """Out of distribution (phyworld's study, through conditioning): first frames given at speeds
    the world never trains on (`OOD_SPEEDS`) and with doubled gravity; does the continuation keep
    the given speed, or pull it back into the training range? Velocity errors in and out of
    distribution side by side."""
    w = pipe.config.world
    linear = tuple(m for m in w.motions if m.startswith("moving")) or w.motions
    rows = {}
    cases = [("in_distribution", w.speed_range, w.gravity)] + [
        (f"speed_{v:g}", (v, v), w.gravity) for v in OOD_SPEEDS]
    if "falling" in w.motions:
        cases.append(("gravity_x2", w.speed_range, 2 * w.gravity))
    for name, speeds, gravity in cases:
        motions = ("falling",) if name == "gravity_x2" else linear
        world = _world(pipe, speed_range=tuple(speeds), gravity=gravity, motions=motions,
                       min_objects=1, max_objects=1, wall_prob=0.0)
        T = world.frames
        scenes = _scenes(world, n, seed, salt=17)
        clips, made = _both(pipe, scenes, seed)
        new = np.flatnonzero(~_given(pipe, T))
        frames = np.concatenate([[new[0] - 1], new])
        row = {"given_speed": list(speeds) if name != "gravity_x2" else None,
               "velocity_error_model": _median(_velocity_error(m, s, frames) for m, s in zip(made, scenes)),
               "velocity_error_floor": _median(_velocity_error(c, s, frames) for c, s in zip(clips, scenes))}
        if name != "gravity_x2":
            ratios = [(_speed(m[frames], s.objects[0].colour) or np.nan) / max(s.objects[0].speed, 1e-9)
                      for m, s in zip(made, scenes)]
            row["made_over_given_speed_median"] = _median(ratios)
        else:
            fits = [_fit_fall(track_clip(m).tracks.get(s.objects[0].colour), min(m.shape[1:3]), gravity,
                              w.restitution) for m, s in zip(made, scenes)]
            g = _median([f["gravity"] for f in fits if f])
            row["gravity_ratio_to_given"] = round(g / gravity, 3) if g else None
        rows[name] = row
    return {"n": n, **rows}


def turns(track, height: int, width: int) -> tuple[int, int]:
    """Reversals of a track's direction in x and in y: `(at_edges, elsewhere)`. A reversal is a
    sign change between successive centroid steps of at least `STILL_PX` (smaller steps have no
    direction); it is a bounce when the object's box is within `EDGE_PX` of the edge on that axis
    at the turn, and otherwise a turn the world never makes (a bouncing object only reverses at an
    edge)."""
    at_edges = elsewhere = 0
    steps = np.diff(track.centroid, axis=0)                     # (T-1, 2) px; step k: frame k to k+1
    for axis, size in ((0, width), (1, height)):
        moving = np.flatnonzero(np.abs(np.nan_to_num(steps[:, axis])) >= STILL_PX)
        sign = np.sign(steps[moving, axis])
        for k in moving[1:][sign[1:] != sign[:-1]]:             # step k reversed: frame k is the turn
            near = min(track.bbox[k, axis], size - track.bbox[k, axis + 2]) <= EDGE_PX
            at_edges, elsewhere = at_edges + near, elsewhere + (not near)
    return int(at_edges), int(elsewhere)


def minute_row(clip: np.ndarray, obj, frames: int) -> dict:
    """One clip of the minute probe, for its object `obj`: identity, speed over the first and last
    `frames` and whether it drifted, bounces at the edges and turns elsewhere, another object."""
    ct = track_clip(clip)
    tr = ct.tracks.get(obj.colour)
    row = {"from_nowhere": any(c != obj.colour and t.present.mean() > 0.05 for c, t in ct.tracks.items()),
           "identity": False, "speed_ok": False, "start": None, "end": None,
           "edge_bounces": 0, "turns_elsewhere": 0}
    if tr is None:
        return row
    shapes = [x for x in tr.shapes if x]
    row["identity"] = bool(shapes) and shapes.count(obj.shape) >= 0.9 * len(shapes)
    row["start"], row["end"] = _speed(clip[:frames], obj.colour), _speed(clip[-frames:], obj.colour)
    row["speed_ok"] = bool(row["start"] and row["end"]
                           and abs(row["end"] - row["start"]) <= SPEED_TOLERANCE * row["start"])
    row["edge_bounces"], row["turns_elsewhere"] = turns(tr, *clip.shape[1:3])
    return row


def _minute_shares(rows: list[dict]) -> dict:
    return {"identity_kept": _share(r["identity"] for r in rows),
            "speed_within_20pct_of_start": _share(r["speed_ok"] for r in rows),
            "edge_bounces_per_clip_median": float(np.median([r["edge_bounces"] for r in rows])),
            "turns_elsewhere_per_clip_median": float(np.median([r["turns_elsewhere"] for r in rows])),
            "object_from_nowhere": _share(r["from_nowhere"] for r in rows)}


def probe_minute(pipe: Pipeline, n: int = 8, seed: int = 0, frames: int = MINUTE_FRAMES) -> dict:
    """A minute of video (480 frames at 8 fps) of a bouncing object through the sliding window,
    continued from the first frames of a world clip: identity kept, speed within 20% of the
    start, bounces at the edges and turns away from them (`turns`), no object from nowhere;
    `floor` is the same read of the world's own minute of the same scenes."""
    w = pipe.config.world
    if "bouncing" not in w.motions:
        return {"n": 0, "note": "this world has no bouncing motion"}
    world = _world(pipe, motions=("bouncing",), min_objects=1, max_objects=1, wall_prob=0.0)
    scenes = _scenes(world, n, seed, salt=19)
    long = _scenes(dataclasses.replace(world, frames=frames), n, seed, salt=19)
    clips = np.stack([render(s) for s in scenes])
    T = world.frames
    given = _given(pipe, T).sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HeldOutWarning)
        made = pipe.extend(clips[:, :given], [s.caption for s in scenes], frames - int(given), seed=seed)
    rows = [minute_row(clip, s.objects[0], T) for clip, s in zip(made, scenes)]
    floor = [minute_row(render(s), s.objects[0], T) for s in long]
    return {"n": n, "frames": frames, **_minute_shares(rows), "floor": _minute_shares(floor)}


PROBES = {"permanence": probe_permanence, "many_objects": probe_many_objects,
          "morphing": probe_morphing, "physics": probe_physics, "physics_ood": probe_physics_ood,
          "minute": probe_minute}


def run_probe(pipe: Pipeline, name: str, n: int | None = None, seed: int = 0) -> dict:
    """The probe `name` of `PROBES` as a JSON-ready dict."""
    if name not in PROBES:
        raise ValueError(f"unknown probe {name!r}; probes: {', '.join(PROBES)}")
    kwargs = {} if n is None else {"n": n}
    # the world's own scenes are probed: the usage policy (notebook 13) is for requests
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"), pipe.policy_suspended():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return {"probe": name, **PROBES[name](pipe, seed=seed, **kwargs)}
        except ProbeError as e:
            return {"probe": name, "n": 0, "note": str(e)}


__all__ = ["PROBES", "ProbeError", "run_probe", "probe_permanence", "probe_many_objects", "probe_morphing",
           "probe_physics", "probe_physics_ood", "probe_minute", "morphs"]
