"""Scenes of the toy world and their truth: what is where, in every frame (notebook 01).

Everything here follows docs/world.md, whose fixed values (palette, geometry, speeds, gravity) are
a contract. A *scene* is sampled first (objects, their trajectories, the wall), then rendered
(`soralite.world.render`); the scene is kept as the clip's *scene truth*, so that anything
generated later can be scored against it.

Coordinates are in pixels: pixel `(row i, column j)` covers `[j, j+1) x [i, i+1)`, so its centre is
`(j + 0.5, i + 0.5)`. An object's `(cx, cy)` is the centre of its bounding box of side `s`.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from soralite.config import MOTIONS, SIZE_FRACTION, WorldConfig
from soralite.language import ObjectSpec, PromptSpec
from soralite.world.captions import caption, describe

MIN_SIDE = 4            # docs/world.md: an object's side is never below 4 pixels
MAX_LAYOUT_TRIES = 500  # redraws of a layout before giving up with a clear error
LAYOUT_GAP = 1.0        # pixels kept between two objects' boxes, so their blobs never touch
REDRAW_OBJECTS_EVERY = 50  # a random scene whose objects cannot fit is drawn anew this often
MIN_CLEAR_SHARE = 0.2   # with a wall: each object is wholly clear of it in this share of frames
MIN_CLEAR_FRAMES = 3    # ... and in at least this many (the tracker reads motion from them)


class LayoutError(ValueError):
    """The objects a scene asks for do not fit in the frame (a ValueError, so callers that
    catch bad input catch it too)."""


# ----------------------------------------------------------------------------------------------
# Scene truth


def object_side(size: str, height: int, width: int) -> int:
    """Side `s` in pixels of a `small` or `large` object (docs/world.md, "Shapes")."""
    return max(MIN_SIDE, round(SIZE_FRACTION[size] * min(height, width)))


def wall_columns(width: int, centre: float, wall_width: float = 0.15) -> tuple[int, int]:
    """The wall's columns `[x0, x1)` for a wall centred at `centre` pixels."""
    ww = max(2, round(wall_width * width))
    x0 = int(round(centre - ww / 2))
    x0 = min(max(x0, 0), width - ww)
    return x0, x0 + ww


@dataclass
class ObjectTruth:
    """One object of a scene: what it is, and where its centre is in every frame."""

    colour: str
    shape: str
    size: str
    motion: str
    side: int                 # s, pixels
    speed: float              # units of min(H, W) per frame (per axis for bouncing; 0 if still)
    cx: np.ndarray            # (T,) pixels
    cy: np.ndarray            # (T,) pixels

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("colour", "shape", "size", "motion", "side")}
        d["speed"] = round(float(self.speed), 6)
        d["cx"] = [round(float(v), 4) for v in self.cx]
        d["cy"] = [round(float(v), 4) for v in self.cy]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ObjectTruth":
        return cls(d["colour"], d["shape"], d["size"], d["motion"], int(d["side"]),
                   float(d["speed"]), np.asarray(d["cx"], float), np.asarray(d["cy"], float))


@dataclass
class SceneTruth:
    """A clip's scene truth: its size, the wall (columns `[x0, x1)`, or None) and its objects."""

    frames: int
    height: int
    width: int
    objects: list[ObjectTruth]
    wall: tuple[int, int] | None = None
    with_size: bool = True    # whether captions name the size (the world samples both sizes)

    @property
    def caption(self) -> str:
        return caption(self)

    @property
    def description(self) -> str:
        return describe(self)

    def to_dict(self) -> dict:
        return {"frames": self.frames, "height": self.height, "width": self.width,
                "wall": list(self.wall) if self.wall else None, "with_size": self.with_size,
                "objects": [o.to_dict() for o in self.objects]}

    @classmethod
    def from_dict(cls, d: dict) -> "SceneTruth":
        return cls(int(d["frames"]), int(d["height"]), int(d["width"]),
                   [ObjectTruth.from_dict(o) for o in d["objects"]],
                   tuple(d["wall"]) if d.get("wall") else None, bool(d.get("with_size", True)))


# ----------------------------------------------------------------------------------------------
# Sampling scenes


def _allowed_pairs(world: WorldConfig) -> list[tuple[str, str]]:
    held = set(map(tuple, world.held_out)) if world.exclude_held_out else set()
    return [(c, s) for c in world.colours for s in world.shapes if (c, s) not in held]


def _trajectory(motion: str, side: int, world: WorldConfig, rng: np.random.Generator,
                ) -> tuple[np.ndarray, np.ndarray, float]:
    """Centre `(cx, cy)` in pixels for every frame, and the speed (units of min(H, W) per frame)."""
    T, H, W = world.frames, world.height, world.width
    m = min(H, W)
    t = np.arange(T, dtype=np.float64)
    half = side / 2
    speed = rng.uniform(*world.speed_range)
    v = speed * m                                               # pixels per frame
    if motion in ("moving left", "moving right", "moving up", "moving down"):
        horizontal = motion in ("moving left", "moving right")
        extent, other = (W, H) if horizontal else (H, W)
        if T > 1 and v * (T - 1) > extent - side:               # too long a clip: slow down
            v = (extent - side) / (T - 1)
            speed = v / m
        travel = v * (T - 1)
        start = rng.uniform(half, extent - half - travel)
        sign = 1.0 if motion in ("moving right", "moving down") else -1.0
        along = start + t * v if sign > 0 else (extent - start) - t * v
        across = np.full(T, rng.uniform(half, other - half))
        return (along, across, speed) if horizontal else (across, along, speed)
    if motion == "standing still":
        return (np.full(T, rng.uniform(half, W - half)), np.full(T, rng.uniform(half, H - half)), 0.0)
    if motion == "bouncing":
        x0, y0 = rng.uniform(half, W - half), rng.uniform(half, H - half)
        sx, sy = rng.choice([-1.0, 1.0], size=2)
        return _fold(x0 + sx * v * t, half, W - half), _fold(y0 + sy * v * t, half, H - half), speed
    if motion == "falling":
        g = world.gravity * m
        cx = np.full(T, rng.uniform(half, W - half))
        y, vy, floor = rng.uniform(half, max(half, H / 3)), 0.0, H - half
        cy = np.empty(T)
        for i in range(T):
            cy[i] = y
            y_next = y + vy + g / 2
            if y_next <= floor:
                y, vy = y_next, vy + g
            else:                                                # bounce inside this frame
                tau = (-vy + math.sqrt(vy * vy + 2 * g * (floor - y))) / g
                vy_hit = -world.restitution * (vy + g * tau)
                rest = 1 - tau
                y, vy = floor + vy_hit * rest + g * rest * rest / 2, vy_hit + g * rest
                y = min(y, floor)
        return cx, cy, world.gravity
    raise ValueError(f"unknown motion {motion!r}; allowed: {', '.join(MOTIONS)}")


def _fold(p: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect a straight path elastically into `[lo, hi]` (a triangle wave)."""
    span = hi - lo
    if span <= 0:
        return np.full_like(p, lo)
    u = np.mod(p - lo, 2 * span)
    return lo + np.where(u <= span, u, 2 * span - u)


def _overlaps(a: ObjectTruth, b: ObjectTruth) -> bool:
    reach = (a.side + b.side) / 2 + LAYOUT_GAP
    return bool(np.any((np.abs(a.cx - b.cx) < reach) & (np.abs(a.cy - b.cy) < reach)))


def clear_of_wall(o: ObjectTruth, wall: tuple[int, int]) -> np.ndarray:
    """(T,) whether the object's box keeps at least `LAYOUT_GAP` pixels from the wall."""
    lo, hi = o.cx - o.side / 2, o.cx + o.side / 2
    return (hi + LAYOUT_GAP <= wall[0]) | (lo - LAYOUT_GAP >= wall[1])


def _place_wall(objects: list[ObjectTruth], world: WorldConfig,
                rng: np.random.Generator) -> tuple[int, int]:
    """Columns of the wall: across the path of the first object that moves sideways, where it
    can pass wholly behind and come out (object permanence); else somewhere in the middle."""
    W = world.width
    ww = max(2, round(world.wall_width * W))
    movers = [o for o in objects if np.ptp(o.cx) > 0]
    if not movers:
        return wall_columns(W, rng.uniform(0.25 * W, 0.75 * W), world.wall_width)
    o = movers[0]
    lo, hi = o.cx.min(), o.cx.max()
    step = np.abs(np.diff(o.cx)).max() if len(o.cx) > 1 else 0.0
    margin = (o.side + ww) / 2 + LAYOUT_GAP + 2 * step          # clear for two frames each side
    centre = rng.uniform(lo + margin, hi - margin) if hi - lo > 2 * margin else rng.uniform(lo, hi)
    return wall_columns(W, centre, world.wall_width)


def _draw_specs(world: WorldConfig, rng: np.random.Generator) -> tuple[list[ObjectSpec], bool]:
    """Draw the objects of a scene (distinct colours, no held-out pair) and whether it has a wall."""
    pairs = _allowed_pairs(world)
    if not pairs:
        raise ValueError("this world has no colour-shape pair left to draw (all are held out)")
    n = int(rng.integers(world.min_objects, world.max_objects + 1))
    colours = [c for c in world.colours if any(c == cc for cc, _ in pairs)]
    if n > len(colours):
        raise ValueError(f"{n} objects need {n} colours; this world has {len(colours)}")
    specs = []
    for i in rng.choice(len(colours), n, replace=False):
        shapes = [s for c, s in pairs if c == colours[i]]
        specs.append(ObjectSpec(colours[i], shapes[rng.integers(len(shapes))],
                                world.motions[rng.integers(len(world.motions))],
                                world.sizes[rng.integers(len(world.sizes))]))
    return specs, bool(rng.random() < world.wall_prob)


def sample_scene(world: WorldConfig, rng: np.random.Generator,
                 spec: PromptSpec | None = None) -> SceneTruth:
    """Draw one scene: objects (or those `spec` names), trajectories, the wall; redraw overlaps."""
    if spec is None:
        specs, wall = _draw_specs(world, rng)
    else:
        specs = [dataclasses.replace(o, size=o.size or world.sizes[rng.integers(len(world.sizes))])
                 for o in spec.objects]
        wall = spec.wall
    T, H, W = world.frames, world.height, world.width
    for attempt in range(MAX_LAYOUT_TRIES):
        if spec is None and attempt and attempt % REDRAW_OBJECTS_EVERY == 0:
            specs, wall = _draw_specs(world, rng)       # some object sets cannot fit at all
        objects = []
        for o in specs:
            side = object_side(o.size, H, W)
            cx, cy, speed = _trajectory(o.motion, side, world, rng)
            objects.append(ObjectTruth(o.colour, o.shape, o.size, o.motion, side, speed, cx, cy))
        if any(_overlaps(a, b) for i, a in enumerate(objects) for b in objects[i + 1:]):
            continue
        wall_cols = None
        if wall:
            wall_cols = _place_wall(objects, world, rng)
            min_clear = max(MIN_CLEAR_FRAMES, math.ceil(MIN_CLEAR_SHARE * T))
            if any(clear_of_wall(o, wall_cols).sum() < min(min_clear, T) for o in objects):
                continue
        return SceneTruth(T, H, W, objects, wall_cols, with_size=len(world.sizes) > 1)
    raise LayoutError(f"could not place {len(specs)} object(s) in a {world.frames}x{world.height}x"
                     f"{world.width} clip after {MAX_LAYOUT_TRIES} tries without overlap"
                     f"{' and with each clear of the wall in enough frames' if wall else ''}; "
                     f"use fewer or smaller objects, or a larger frame")



__all__ = ["LayoutError", "ObjectTruth", "SceneTruth", "object_side", "wall_columns", "clear_of_wall",
           "sample_scene", "MIN_SIDE", "LAYOUT_GAP"]
