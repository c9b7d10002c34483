"""The analytic tracker: scores a clip against its caption with no neural network (notebook 01).

docs/world.md, "The tracker":
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

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from soralite.config import COLOURS, PALETTE, SIZE_FRACTION, WALL_RGB

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


def majority(labels) -> str:
    """The most common of `labels`; a tie goes to the one seen first, so that the reading never
    depends on the order in which a set happens to hold them (Python's string hashing changes it
    from process to process)."""
    return Counter(labels).most_common(1)[0][0]


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
            tr.shape = majority(shapes)
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



def clear_of_frame(track: Track, height: int, width: int) -> np.ndarray:
    """(T,) bool: the object is in view and its box touches none of the frame's edges (whole)."""
    x0, y0, x1, y1 = track.bbox.T                                          # (T,) each, -1 where absent
    return track.present & (x0 > 0) & (y0 > 0) & (x1 < width) & (y1 < height)


__all__ = ["label_pixels", "majority", "Track", "ClipTracks", "classify_shape", "track_clip", "clear_of_frame", "WALL",
           "PRESENT_SHARE", "EXTRA_SHARE", "STILL_SPEED"]
