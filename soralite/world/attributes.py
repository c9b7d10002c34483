"""Objects as attributes: what a caption is written from, read from the truth or by the tracker (notebook 12).

A clip's *attributes* are `{"objects": [...], "wall": bool}`, each object a dict with
`ATTRIBUTE_KEYS` (colour, shape, size, motion, start_x, start_y, speed): the start is the
object's centre in the first frame as shares of W and H, the speed is in units of min(H, W) per
frame (as the scene truth holds it: per axis for bouncing, 0 standing still, the gravity for
falling). `soralite.world.captions.caption_from_attributes` writes them as the standard and the
descriptive caption. Three readers give them:

- `truth_attributes(scene)`: the scene truth itself;
- `tracked_attributes(clip)`: the analytic tracker (`soralite.world.tracker`), the reference a
  learned captioner is measured beside, and the reader of generated clips;
- a learned captioner (`soralite.models.Captioner.predict`), measured in `soralite.eval.captioning`.

`compare_attributes` sets a reading against the truth, object by object (colour is identity).
"""
from __future__ import annotations

import numpy as np

from soralite.world.captions import object_attributes, pace, region
from soralite.world.tracker import PRESENT_SHARE, track_clip

START_TOLERANCE = 0.08           # a start is right within this distance, in shares of the frame
PACED = ("moving left", "moving right", "moving up", "moving down", "bouncing")   # motions with a pace


def truth_attributes(scene) -> dict:
    """The attributes of a scene truth, in the scene's order."""
    return {"objects": [object_attributes(o, scene.height, scene.width) for o in scene.objects],
            "wall": scene.wall is not None}


def tracked_attributes(clip: np.ndarray, tracks=None) -> dict:
    """The attributes the tracker reads from a clip `uint8 (T, H, W, 3)` (or from its `tracks`,
    a `ClipTracks`), with no caption: every colour present in at least `PRESENT_SHARE` of the
    frames (half that where a wall is found), in palette order. The start is the centre of its
    bounding box in the first frame where it is seen; the speed the mean speed between clear frames (along
    the axis of a straight motion, per axis for bouncing), the fitted downward acceleration for
    falling, 0 standing still. Shape, size or motion are None where the tracker could not read
    them (no clear frame)."""
    ct = tracks if tracks is not None else track_clip(clip)
    share = PRESENT_SHARE / 2 if ct.wall is not None else PRESENT_SHARE
    m = min(ct.height, ct.width)
    objects = []
    for colour, tr in ct.tracks.items():
        if tr.present.mean() < share:
            continue
        first = int(np.flatnonzero(tr.present)[0])
        x0, y0, x1, y1 = tr.bbox[first]                              # the box's centre, which is the
        x, y = (x0 + x1) / 2, (y0 + y1) / 2                          # object's (a centroid is not, for a triangle)
        objects.append({"colour": colour, "shape": tr.shape, "size": tr.size, "motion": tr.motion,
                        "start_x": round(float(x) / ct.width, 4),
                        "start_y": round(float(y) / ct.height, 4),
                        "speed": round(_speed(tr, m), 6)})
    return {"objects": objects, "wall": ct.wall is not None}


def _speed(tr, m: int) -> float:
    """A track's speed in units of m per frame, as the scene truth states it for its motion."""
    v = tr.velocity                                                  # (K, 3): frame, vx, vy in px
    if tr.motion in (None, "standing still") or len(v) == 0:
        return 0.0
    ax, ay = np.abs(v[:, 1:]).mean(axis=0) / m       # a mean, not a median: a hard-edged object
                                                     # moves in whole pixels, so single steps are
                                                     # 0 or 1 px and only their mean is its speed
    if tr.motion == "bouncing":
        return float((ax + ay) / 2)
    if tr.motion == "falling":
        return float(np.polyfit(v[:, 0], v[:, 2], 1)[0] / m) if len(v) >= 3 else 0.0
    return float(ax if tr.motion in ("moving left", "moving right") else ay)


def compare_attributes(reading: dict, truth: dict) -> dict:
    """A reading against the truth (both as `truth_attributes` returns them): per true object
    whether it was found (`colour`) and, where found, whether its shape, size, motion, start
    region and pace (for motions that have one) are right, and its start error (distance in
    shares of the frame) and speed error; per clip the colours read that are not there
    (`extras`) and whether the wall was read right."""
    found = {o["colour"]: o for o in reading["objects"]}
    rows = []
    for o in truth["objects"]:
        r = found.get(o["colour"])
        row = {"colour": r is not None}
        if r is None:
            row.update(shape=False, size=False, motion=False, start=False, region=False,
                       pace=False if o["motion"] in PACED else None, start_error=None,
                       speed_error=None)
        else:
            err = float(np.hypot(r["start_x"] - o["start_x"], r["start_y"] - o["start_y"]))
            row.update(shape=r["shape"] == o["shape"], size=r["size"] == o["size"],
                       motion=r["motion"] == o["motion"], start=err <= START_TOLERANCE,
                       region=region(r["start_x"], r["start_y"]) == region(o["start_x"], o["start_y"]),
                       pace=(pace(r["speed"]) == pace(o["speed"])) if o["motion"] in PACED else None,
                       start_error=round(err, 4), speed_error=round(abs(r["speed"] - o["speed"]), 6))
        rows.append(row)
    truth_colours = {o["colour"] for o in truth["objects"]}
    return {"objects": rows, "extras": [c for c in found if c not in truth_colours],
            "wall": reading["wall"] == truth["wall"]}


def summarize_comparisons(comparisons: list[dict]) -> dict:
    """Shares right over every object (colour, shape, size, motion, start within
    `START_TOLERANCE`, start region, pace over the objects with one), the median start and speed
    errors, and per clip: the wall, no extra object, and `all` (every object found with its shape
    and motion right, no extra)."""
    rows = [r for c in comparisons for r in c["objects"]]

    def share(key):
        vals = [r[key] for r in rows if r[key] is not None]
        return round(float(np.mean(vals)), 4) if vals else None

    def median(key):
        vals = [r[key] for r in rows if r[key] is not None]
        return round(float(np.median(vals)), 4) if vals else None

    clip_all = [all(r["colour"] and r["shape"] and r["motion"] for r in c["objects"]) and not c["extras"]
                for c in comparisons]
    return {"clips": len(comparisons), "objects": len(rows),
            **{k: share(k) for k in ("colour", "shape", "size", "motion", "start", "region", "pace")},
            "start_error_median": median("start_error"), "speed_error_median": median("speed_error"),
            "wall": round(float(np.mean([c["wall"] for c in comparisons])), 4) if comparisons else None,
            "no_extra": round(float(np.mean([not c["extras"] for c in comparisons])), 4) if comparisons else None,
            "all": round(float(np.mean(clip_all)), 4) if comparisons else None}


__all__ = ["START_TOLERANCE", "PACED", "truth_attributes", "tracked_attributes",
           "compare_attributes", "summarize_comparisons"]
