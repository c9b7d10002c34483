"""The analytic tracker: scores a clip against its caption with no neural network (notebook 01).

WORLD.md, "The tracker":
1. every pixel is labelled with its nearest palette colour, or background, or wall;
2. for each colour, its pixels in a frame form its blob (absent below a small area);
3. the blob's centroid over the frames gives its track, hence its motion;
4. the blob's fill of its bounding box gives its shape.

To be robust to the soft edges that a VAE leaves, step 1 treats a pixel as a *dimmed* palette
colour: for each colour `c` it finds the brightness `alpha` that best explains the pixel as
`alpha * c` (a blurred edge over a black background is exactly that) and keeps the colour with
the smallest residual; a pixel is foreground when `alpha >= ALPHA_MIN`. Step 4 reads the fill in
two places, because a small pixelated circle can fill 0.6 or 0.9 of its box: the share of the
blob in the top half of its box (a triangle has about a quarter there) and the fill of the box's
corners outside the inscribed circle (full for a square, empty for a circle).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from soralite.config import COLOURS, HELD_OUT, MOTIONS, PALETTE, SIZE_FRACTION, SIZES, WALL_RGB
from soralite.world import SceneTruth, parse_prompt

# ----------------------------------------------------------------------------------------------
# Thresholds (lengths in units of m = min(H, W), so they hold at any resolution)

ALPHA_MIN = 0.5             # a pixel is foreground when it is at least half as bright as its colour
ALPHA_MAX = 1.5             # brighter than the palette by more than this: not that colour
MIN_AREA = 0.25             # a blob is absent below this share of a small object's box area
MIN_AREA_PIXELS = 3
BLOB_REACH = 0.35           # pixels farther than this from the blob's median are strays
PRESENT_SHARE = 0.4         # a named object must be visible in this share of frames (wall: half that)
EXTRA_SHARE = 0.5           # an unnamed colour visible in more than this share is an extra object
WALL_COLUMN_SHARE = 0.6     # a column is wall when this share of its pixels is wall-gray
STILL_SPEED = 0.008         # below this speed (m per frame) an object stands still
TRIANGLE_TOP_SHARE = 0.4    # a blob with less than this share in the top half of its box is a triangle
SQUARE_CORNER_FILL = 0.5    # a blob that fills more of its box's corners than this is a square
SHAPE_FILL = {"square": 1.0, "circle": np.pi / 4, "triangle": 0.5}

_NAMES = COLOURS + ("wall",)
_RGB = np.array([PALETTE[c] for c in COLOURS] + [WALL_RGB], np.float64)     # (7, 3)
WALL = len(COLOURS)


def label_pixels(clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label every pixel of `uint8 (T, H, W, 3)`: `labels (T, H, W)` with -1 for background, the
    colour's index in `COLOURS`, or `WALL`; and `alpha (T, H, W)`, its brightness against the colour."""
    p = clip.astype(np.float64)                                         # (T, H, W, 3)
    alpha = p @ _RGB.T / (_RGB ** 2).sum(1)                             # (T, H, W, 7)
    alpha = np.clip(alpha, 0, None)
    fit = alpha[..., None] * _RGB                                       # (T, H, W, 7, 3)
    residual = ((p[..., None, :] - fit) ** 2).sum(-1)                   # (T, H, W, 7)
    residual = np.where((alpha >= ALPHA_MIN) & (alpha <= ALPHA_MAX), residual, np.inf)
    best = residual.argmin(-1)                                          # (T, H, W)
    ok = np.isfinite(np.take_along_axis(residual, best[..., None], -1)[..., 0])
    a = np.take_along_axis(alpha, best[..., None], -1)[..., 0]
    return np.where(ok, best, -1), np.where(ok, a, 0.0)


@dataclass
class Track:
    """What the tracker saw of one colour: per frame, its blob (or none)."""

    colour: str
    present: np.ndarray            # (T,) bool: a blob of at least the minimum area
    valid: np.ndarray              # (T,) bool: present and clear of the wall (used for shape/motion)
    centroid: np.ndarray           # (T, 2) (x, y) in pixels, nan where absent
    bbox: np.ndarray               # (T, 4) x0, y0, x1, y1 (exclusive), -1 where absent
    area: np.ndarray               # (T,) pixels
    shapes: list[str | None]       # per frame, None where not valid
    fill: np.ndarray               # (T,) blob area / bbox area
    side: np.ndarray               # (T,) estimated side s from area and shape
    shape: str | None = None       # majority over valid frames
    size: str | None = None
    motion: str | None = None
    velocity: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (K, 3): frame, vx, vy


@dataclass
class ClipTracks:
    height: int
    width: int
    frames: int
    wall: tuple[int, int] | None
    tracks: dict[str, Track]

    def seen(self, share: float) -> list[str]:
        """Colours visible in more than `share` of the frames."""
        return [c for c, t in self.tracks.items() if t.present.mean() > share]


def _find_wall(labels: np.ndarray) -> tuple[int, int] | None:
    cols = (labels == WALL).mean(axis=(0, 1)) >= WALL_COLUMN_SHARE      # (W,)
    if not cols.any():
        return None
    idx = np.flatnonzero(cols)
    return int(idx.min()), int(idx.max()) + 1


def classify_shape(mask: np.ndarray) -> tuple[str, float]:
    """Shape of a blob from its mask cropped to its bounding box `(h, w)`; returns (shape, fill)."""
    h, w = mask.shape
    m = mask.astype(np.float64)
    fill = float(m.mean())
    rows = (np.arange(h) + 0.5) / h * 2 - 1                             # (h,) in (-1, 1)
    cols = (np.arange(w) + 0.5) / w * 2 - 1                             # (w,)
    top = (m * np.clip(0.5 - rows * h / 2, 0, 1)[:, None]).sum()        # rows above the middle
    bottom = (m * np.clip(0.5 + rows * h / 2, 0, 1)[:, None]).sum()
    if top / max(top + bottom, 1e-9) < TRIANGLE_TOP_SHARE:
        return "triangle", fill
    corners = rows[:, None] ** 2 + cols[None, :] ** 2 > 1.1             # (h, w): outside the circle
    corner_fill = m[corners].mean() if corners.any() else (fill > 0.9)
    return ("square" if corner_fill > SQUARE_CORNER_FILL else "circle"), fill


def track_clip(clip: np.ndarray) -> ClipTracks:
    """Find every colour's blob in every frame of `uint8 (T, H, W, 3)` and read its track."""
    clip = np.asarray(clip)
    if clip.ndim != 4 or clip.shape[-1] != 3 or clip.dtype != np.uint8:
        raise ValueError(f"the tracker reads uint8 clips (T, H, W, 3); got {clip.dtype} {clip.shape}")
    T, H, W, _ = clip.shape
    m = min(H, W)
    labels, _ = label_pixels(clip)
    wall = _find_wall(labels)
    small = max(4, round(SIZE_FRACTION["small"] * m))
    min_area = max(MIN_AREA_PIXELS, MIN_AREA * small * small)
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    tracks = {}
    for ci, colour in enumerate(COLOURS):
        hit = labels == ci                                               # (T, H, W)
        if hit.sum() < min_area:
            continue
        tr = Track(colour, np.zeros(T, bool), np.zeros(T, bool), np.full((T, 2), np.nan),
                   np.full((T, 4), -1), np.zeros(T), [None] * T, np.zeros(T), np.zeros(T))
        for t in range(T):
            mask = hit[t]
            if mask.sum() < min_area:
                continue
            mx, my = np.median(xs[mask]), np.median(ys[mask])
            mask = mask & (np.abs(xs - mx) <= BLOB_REACH * m) & (np.abs(ys - my) <= BLOB_REACH * m)
            area = int(mask.sum())
            if area < min_area:
                continue
            r, c = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            x0, x1, y0, y1 = c[0], c[-1] + 1, r[0], r[-1] + 1
            tr.present[t] = True
            tr.area[t] = area
            tr.centroid[t] = xs[mask].mean(), ys[mask].mean()
            tr.bbox[t] = x0, y0, x1, y1
            near_wall = wall is not None and x1 >= wall[0] and x0 <= wall[1]
            if not near_wall:
                tr.valid[t] = True
                tr.shapes[t], tr.fill[t] = classify_shape(mask[y0:y1, x0:x1])
                tr.side[t] = np.sqrt(area / SHAPE_FILL[tr.shapes[t]])
        if not tr.present.any():
            continue
        shapes = [s for s in tr.shapes if s]
        if shapes:
            tr.shape = max(set(shapes), key=shapes.count)
            large = max(4, round(SIZE_FRACTION["large"] * m))
            side = np.median(tr.side[tr.valid])
            tr.size = "small" if side < (small + large) / 2 else "large"
        tr.motion, tr.velocity = _motion(tr, m)
        tracks[colour] = tr
    return ClipTracks(H, W, T, wall, tracks)


def _motion(tr: Track, m: int) -> tuple[str | None, np.ndarray]:
    """The motion phrase of a track, from the velocities between consecutive clear frames."""
    f = np.flatnonzero(tr.valid)
    if len(f) < 2:
        return None, np.zeros((0, 3))
    dt = np.diff(f).astype(np.float64)
    v = np.diff(tr.centroid[f], axis=0) / dt[:, None] / m                 # (K, 2) in m per frame
    vel = np.column_stack([f[:-1] + dt / 2, v * m])                       # (K, 3): time, vx, vy px
    ax, ay = np.median(np.abs(v), axis=0)
    if max(ax, ay) < STILL_SPEED:
        return "standing still", vel
    if min(ax, ay) >= STILL_SPEED and 0.4 <= ax / ay <= 2.5:
        return "bouncing", vel
    if ax > ay:
        return ("moving right" if np.median(v[:, 0]) > 0 else "moving left"), vel
    vy = v[:, 1]
    bounced = np.any((vy[:-1] > STILL_SPEED) & (vy[1:] < -STILL_SPEED))
    accel = np.polyfit(vel[:, 0], vy, 1)[0] if len(vy) >= 3 else 0.0      # m per frame^2
    if bounced or accel > 0.002:
        return "falling", vel
    return ("moving down" if np.median(vy) > 0 else "moving up"), vel


# ----------------------------------------------------------------------------------------------
# Scoring


def is_held_out(caption: str) -> bool:
    """Whether a caption names one of WORLD.md's held-out colour-shape pairs."""
    spec = parse_prompt(caption)
    return any((o.colour, o.shape) in HELD_OUT for o in spec.objects)


def score_clip(clip: np.ndarray, caption: str, scene: SceneTruth | None = None) -> dict:
    """Score one clip against its caption: per-attribute adherence and the consistency measures."""
    spec = parse_prompt(caption)
    ct = track_clip(clip)
    T, m = ct.frames, min(ct.height, ct.width)
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
        if after and max(set(after), key=after.count) == max(set(shapes), key=shapes.count):
            back += 1
    return back / expected if expected else None


def score_clips(clips, captions: list[str], scenes: list[SceneTruth] | None = None,
                progress: bool = False) -> dict:
    """Score N clips `uint8 (N, T, H, W, 3)` against their captions; the figures of DESIGN.md.

    `adherence` is the share of clips that adhere (every object named present with its shape,
    size if named, and motion; no extra colour; the wall as captioned). Held-out captions
    (WORLD.md) are also reported apart, as `adherence_held_out`.
    """
    if len(clips) != len(captions):
        raise ValueError(f"{len(clips)} clips but {len(captions)} captions; give one caption a clip")
    if scenes is not None and len(scenes) != len(captions):
        raise ValueError(f"{len(scenes)} scenes for {len(captions)} captions")
    items = range(len(captions))
    if progress:
        from tqdm.auto import tqdm

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
    import json
    from pathlib import Path

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
    from pathlib import Path

    from soralite.video import load_clip

    rows = read_captions(folder)
    items = rows
    if progress:
        from tqdm.auto import tqdm

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
    import dataclasses as dc

    from soralite.config import WorldConfig
    from soralite.world import generate

    per, shuffled, by_setting = [], [], {}
    rng = np.random.default_rng(seed)
    k = len(AGREEMENT_SETTINGS)
    for j, (name, kw) in enumerate(AGREEMENT_SETTINGS.items()):
        m = n // k + (j < n % k)
        batch = generate(dc.replace(WorldConfig(), **kw), m, seed=seed + j)
        rows = score_clips(batch.clips, batch.captions, batch.scenes, progress=progress)["per_clip"]
        perm = rng.permutation(m)
        wrong = [batch.captions[i] for i in perm]
        rows_shuffled = [score_clip(c, cap) for c, cap in zip(batch.clips, wrong)]
        by_setting[name] = summarize(rows)["adherence"]
        per += rows
        shuffled += rows_shuffled
    return {"n": len(per), "agreement": summarize(per)["adherence"],
            "shuffled_agreement": summarize(shuffled)["adherence"], "by_setting": by_setting}
