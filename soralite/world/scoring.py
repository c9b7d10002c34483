"""Scoring clips against their captions with the tracker: adherence and consistency (notebook 01).

`score_clip` compares what `soralite.world.tracker` sees with what the caption names: every
object present with its shape, size and motion, no extra colour, the wall as captioned; beside it
the consistency measures of docs/world.md (object count, shape stability, velocity error against
the scene truth, reappearance after the wall). `score_clips` and `score_folder` aggregate;
`agreement` measures the tracker's floor on the world's own clips.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from soralite.config import HELD_OUT, WorldConfig
from soralite.language import parse_prompt
from soralite.video import load_clip
from soralite.world.render import generate
from soralite.world.scenes import SceneTruth
from soralite.world.tracker import EXTRA_SHARE, PRESENT_SHARE, ClipTracks, Track, majority, track_clip




def is_held_out(caption: str) -> bool:
    """Whether a caption names one of docs/world.md's held-out colour-shape pairs."""
    spec = parse_prompt(caption)
    return any((o.colour, o.shape) in HELD_OUT for o in spec.objects)


def score_clip(clip: np.ndarray, caption: str, scene: SceneTruth | None = None) -> dict:
    """Score one clip against its caption: per-attribute adherence and the consistency measures."""
    spec = parse_prompt(caption)
    ct = track_clip(clip)
    present_share = PRESENT_SHARE / 2 if spec.wall else PRESENT_SHARE
    objects = []
    for o in spec.objects:
        tr = ct.tracks.get(o.colour)
        here = tr is not None and tr.present.mean() >= present_share
        objects.append({
            "colour": o.colour, "present": bool(here),
            "shape": tr.shape if here else None, "shape_ok": bool(here and tr.shape == o.shape),
            "size": tr.size if here else None,
            "size_ok": None if o.size is None else bool(here and tr.size == o.size),
            "motion": tr.motion if here else None,
            "motion_ok": bool(here and tr.motion == o.motion)})
    named = {o.colour for o in spec.objects}
    extras = [c for c in ct.seen(EXTRA_SHARE) if c not in named]
    sizes = [x["size_ok"] for x in objects if x["size_ok"] is not None]
    result = {
        "caption": caption,
        "colour": all(x["present"] for x in objects),
        "shape": all(x["shape_ok"] for x in objects),
        "size": all(sizes) if sizes else None,
        "motion": all(x["motion_ok"] for x in objects),
        "no_extra": not extras,
        "wall": (ct.wall is not None) == spec.wall,
        "extras": extras,
        "objects": objects,
        "count_consistency": _count_consistency(ct),
        "shape_stability": _shape_stability(ct),
        "velocity_error": _velocity_error(ct, scene) if scene is not None else None,
        "reappearance": _reappearance(ct),
    }
    result["adheres"] = bool(result["colour"] and result["shape"] and result["size"] is not False
                             and result["motion"] and result["no_extra"] and result["wall"])
    return result


def _count_consistency(ct: ClipTracks) -> float:
    """Share of frames that show the clip's object count; an object behind the wall is excused."""
    objects = ct.seen(PRESENT_SHARE / 2)
    if not objects:
        return 1.0
    visible = np.zeros(ct.frames, int)
    for c, tr in ct.tracks.items():
        shown = tr.present.copy()
        if c in objects and ct.wall is not None:
            shown |= _behind_wall(tr, ct.wall)
        visible += shown
    return float(np.mean(visible == len(objects)))


def _behind_wall(tr: Track, wall: tuple[int, int]) -> np.ndarray:
    """(T,) frames in which an absent object is excused: it was last or next seen near the wall."""
    T = len(tr.present)
    near = np.zeros(T, bool)
    seen = np.flatnonzero(tr.present)
    for t in np.flatnonzero(~tr.present):
        before, after = seen[seen < t], seen[seen > t]
        for s in (before[-1:], after[:1]):
            if len(s):
                x0, _, x1, _ = tr.bbox[s[0]]
                near[t] |= bool(x1 >= wall[0] - 1 and x0 <= wall[1] + 1)
    return near


def _shape_stability(ct: ClipTracks) -> float:
    """Share of clear frames in which each object keeps its majority shape (no morphing)."""
    agree = [s == tr.shape for tr in ct.tracks.values() for s in tr.shapes if s]
    return float(np.mean(agree)) if agree else 1.0


def _velocity_error(ct: ClipTracks, scene: SceneTruth) -> float | None:
    """Mean |tracked velocity - true velocity| over clear frame pairs, in units of m per frame."""
    m = min(ct.height, ct.width)
    errs = []
    for o in scene.objects:
        tr = ct.tracks.get(o.colour)
        if tr is None:
            continue
        f = np.flatnonzero(tr.valid)
        if len(f) < 2:
            continue
        dt = np.diff(f)[:, None]
        seen = np.diff(tr.centroid[f], axis=0) / dt                       # (K, 2) px per frame
        true = np.diff(np.column_stack([o.cx, o.cy])[f], axis=0) / dt     # (K, 2)
        errs.extend(np.linalg.norm(seen - true, axis=1) / m)
    return float(np.mean(errs)) if errs else None


def _reappearance(ct: ClipTracks) -> float | None:
    """Object permanence: of the objects that went behind the wall and, at the sideways speed
    they had before, should have come out before the clip ends, the share seen clear of the wall
    again with the shape they had before. None when no object was expected to come out."""
    if ct.wall is None:
        return None
    expected, back = 0, 0
    for tr in ct.tracks.values():
        clear = np.flatnonzero(tr.valid)
        if len(clear) < 2:
            continue
        hidden = np.flatnonzero(~tr.valid)
        hidden = hidden[hidden > clear[0]]
        if not len(hidden):
            continue
        before = clear[clear < hidden[0]]
        if len(before) < 2:
            continue
        last = before[-2:]                                           # the latest sideways speed
        vx = (tr.centroid[last[1], 0] - tr.centroid[last[0], 0]) / (last[1] - last[0])  # px/frame
        x0, _, x1, _ = tr.bbox[before[-1]]
        gap = (ct.wall[1] + 1 - x0) if vx > 0 else (x1 + 1 - ct.wall[0])      # px to come out
        if abs(vx) < 1e-6 or before[-1] + gap / abs(vx) > ct.frames - 1:
            continue
        expected += 1
        after = [tr.shapes[t] for t in clear if t > hidden[0]]
        shapes = [tr.shapes[t] for t in before]
        if after and majority(after) == majority(shapes):
            back += 1
    return back / expected if expected else None


def score_clips(clips, captions: list[str], scenes: list[SceneTruth] | None = None,
                progress: bool = False) -> dict:
    """Score N clips `uint8 (N, T, H, W, 3)` against their captions; the figures of docs/design.md.

    `adherence` is the share of clips that adhere (every object named present with its shape,
    size if named, and motion; no extra colour; the wall as captioned). Held-out captions
    (docs/world.md) are also reported apart, as `adherence_held_out`.
    """
    if len(clips) != len(captions):
        raise ValueError(f"{len(clips)} clips but {len(captions)} captions; give one caption a clip")
    if scenes is not None and len(scenes) != len(captions):
        raise ValueError(f"{len(scenes)} scenes for {len(captions)} captions")
    items = range(len(captions))
    if progress:
        items = tqdm(items, desc="scoring", unit="clip")
    per = [score_clip(clips[i], captions[i], scenes[i] if scenes else None) for i in items]
    return summarize(per)


def summarize(per: list[dict]) -> dict:
    """Aggregate per-clip scores into the report's figures."""
    def mean(key, rows=per):
        vals = [r[key] for r in rows if r[key] is not None]
        return float(np.mean(vals)) if vals else None

    held = [is_held_out(r["caption"]) for r in per]
    out = {"n": len(per), "adherence": mean("adheres")}
    for key in ("colour", "shape", "size", "motion", "no_extra", "wall", "count_consistency",
                "shape_stability", "velocity_error", "reappearance"):
        out[key] = mean(key)
    ind = [r for r, h in zip(per, held) if not h]
    out_ = [r for r, h in zip(per, held) if h]
    out["n_held_out"] = len(out_)
    out["adherence_in_distribution"] = mean("adheres", ind) if ind else None
    out["adherence_held_out"] = mean("adheres", out_) if out_ else None
    out["per_clip"] = per
    return out


def read_captions(folder) -> list[dict]:
    """The lines of `folder/captions.jsonl` (each with at least `file` and `caption`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder at '{folder}'")
    path = folder / "captions.jsonl"
    if not path.exists():
        raise ValueError(f"no captions.jsonl in '{folder}': scoring needs each clip's caption, one "
                         f'JSON line a clip like {{"file": "clip_00000.npy", "caption": "a red '
                         f'circle moving left"}} (soralite make-data writes it)')
    rows = []
    for k, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}, line {k}: not JSON ({e.msg})") from None
        if not isinstance(row, dict) or "file" not in row or "caption" not in row:
            raise ValueError(f"{path}, line {k}: needs the keys 'file' and 'caption'")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path} lists no clips")
    return rows


def score_folder(folder, progress: bool = False) -> dict:
    """Score every clip listed in `folder/captions.jsonl` (`soralite score DIR`)."""
    rows = read_captions(folder)
    items = rows
    if progress:
        items = tqdm(rows, desc="scoring", unit="clip")
    per = []
    for row in items:
        clip = load_clip(Path(folder) / row["file"])
        scene = SceneTruth.from_dict(row["scene"]) if row.get("scene") else None
        r = score_clip(clip, row["caption"], scene)
        r["file"] = row["file"]
        per.append(r)
    return summarize(per)


AGREEMENT_SETTINGS = {
    "32px, 1-3 objects": dict(),
    "32px, always a wall": dict(wall_prob=1.0),
    "64px, 1-3 objects, walls": dict(height=64, width=64, wall_prob=0.5),
    "32x48 non-square, walls": dict(height=32, width=48, wall_prob=0.3),
}


def agreement(n: int = 1000, seed: int = 0, progress: bool = False) -> dict:
    """The tracker's floor: its agreement with the captions of world clips, across settings
    (`AGREEMENT_SETTINGS`, `n` clips in all), and the same with the captions shuffled (chance)."""
    per, shuffled, by_setting = [], [], {}
    rng = np.random.default_rng(seed)
    k = len(AGREEMENT_SETTINGS)
    for j, (name, kw) in enumerate(AGREEMENT_SETTINGS.items()):
        m = n // k + (j < n % k)
        batch = generate(dataclasses.replace(WorldConfig(), **kw), m, seed=seed + j)
        rows = score_clips(batch.clips, batch.captions, batch.scenes, progress=progress)["per_clip"]
        perm = rng.permutation(m)
        wrong = [batch.captions[i] for i in perm]
        rows_shuffled = [score_clip(c, cap) for c, cap in zip(batch.clips, wrong)]
        by_setting[name] = summarize(rows)["adherence"]
        per += rows
        shuffled += rows_shuffled
    return {"n": len(per), "agreement": summarize(per)["adherence"],
            "shuffled_agreement": summarize(shuffled)["adherence"], "by_setting": by_setting}



__all__ = ["is_held_out", "score_clip", "score_clips", "summarize", "read_captions", "score_folder",
           "agreement", "AGREEMENT_SETTINGS"]
