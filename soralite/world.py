"""The toy world of coloured shapes: scenes, their truth, captions and a streaming dataset (notebook 01).

Everything here follows WORLD.md, whose fixed values (palette, geometry, speeds, gravity) are a
contract. A *scene* is sampled first (objects, their trajectories, the wall), then rendered; the
scene is kept as the clip's *scene truth*, so that anything generated later can be scored against it.

Coordinates are in pixels: pixel `(row i, column j)` covers `[j, j+1) x [i, i+1)`, so its centre is
`(j + 0.5, i + 0.5)`. An object's `(cx, cy)` is the centre of its bounding box of side `s`.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

import numpy as np
import torch

from soralite.config import (BACKGROUND_RGB, COLOURS, MOTIONS, PALETTE, SHAPES, SIZE_FRACTION,
                             SIZES, WALL_RGB, WorldConfig)
from soralite.video import to_tensor

MIN_SIDE = 4            # WORLD.md: an object's side is never below 4 pixels
MAX_LAYOUT_TRIES = 500  # redraws of a layout before giving up with a clear error
LAYOUT_GAP = 1.0        # pixels kept between two objects' boxes, so their blobs never touch
REDRAW_OBJECTS_EVERY = 50  # a random scene whose objects cannot fit is drawn anew this often
MIN_CLEAR_SHARE = 0.2   # with a wall: each object is wholly clear of it in this share of frames
MIN_CLEAR_FRAMES = 3    # ... and in at least this many (the tracker reads motion from them)


# ----------------------------------------------------------------------------------------------
# Scene truth


def object_side(size: str, height: int, width: int) -> int:
    """Side `s` in pixels of a `small` or `large` object (WORLD.md, "Shapes")."""
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
# The caption language and its parser


class PromptError(ValueError):
    """A prompt outside the caption language of WORLD.md."""


WALL_PHRASE = ", passing behind a gray wall"
_SIZE_WORDS = SIZES
_MOTION_WORDS = tuple(sorted({w for m in MOTIONS for w in m.split()}))
VOCABULARY: tuple[str, ...] = (("a", "and", ",") + _SIZE_WORDS + COLOURS + SHAPES + _MOTION_WORDS
                               + ("passing", "behind", "gray", "wall"))


@dataclass
class ObjectSpec:
    """One object as a prompt names it; `size` is None when the prompt leaves it out."""

    colour: str
    shape: str
    motion: str
    size: str | None = None


@dataclass
class PromptSpec:
    objects: list[ObjectSpec]
    wall: bool = False


def _vocabulary_help() -> str:
    return (f"the prompt language is 'a [size] <colour> <shape> <motion>' joined by ' and ', "
            f"optionally ending '{WALL_PHRASE}'; sizes: {', '.join(SIZES)}; colours: "
            f"{', '.join(COLOURS)}; shapes: {', '.join(SHAPES)}; motions: {', '.join(MOTIONS)}")


def parse_prompt(prompt: str, world: WorldConfig | None = None) -> PromptSpec:
    """Parse a standard caption (WORLD.md, "Captions") into a `PromptSpec`.

    Raises `PromptError` naming the offending word and listing the vocabulary. With `world`, also
    checks that every colour, shape, size and motion is one that world can show.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise PromptError(f"empty prompt; {_vocabulary_help()}")
    text = prompt.strip().lower().rstrip(".").strip()
    words = re.findall(r"[a-z]+|,|\S", text)
    for w in words:
        if w not in VOCABULARY and w != "an":
            raise PromptError(f"unknown word {w!r} in prompt {prompt!r}; {_vocabulary_help()}")
    wall = False
    tail = ["passing", "behind", "a", "gray", "wall"]
    if words[-len(tail):] == tail:
        wall = True
        words = words[:-len(tail)]
        if words and words[-1] == ",":
            words = words[:-1]
    if "," in words or "passing" in words or "wall" in words:
        raise PromptError(f"the wall phrase must end the prompt as '{WALL_PHRASE}' "
                          f"(in {prompt!r}); {_vocabulary_help()}")
    phrases: list[list[str]] = [[]]
    for w in words:
        if w == "and":
            phrases.append([])
        else:
            phrases[-1].append(w)
    objects = [_parse_object(p, prompt) for p in phrases]
    seen: set[str] = set()
    for o in objects:
        if o.colour in seen:
            raise PromptError(f"colour {o.colour!r} is used twice in {prompt!r}; objects in one "
                              f"clip have distinct colours (colour is identity)")
        seen.add(o.colour)
    if len(objects) > 3:
        raise PromptError(f"{len(objects)} objects in {prompt!r}; a scene holds one to three")
    spec = PromptSpec(objects, wall)
    if world is not None:
        check_prompt_in_world(spec, world, prompt)
    return spec


def _parse_object(words: list[str], prompt: str) -> ObjectSpec:
    def expect(what: str, allowed: tuple[str, ...], got: str | None) -> str:
        if got not in allowed:
            raise PromptError(f"expected {what} ({', '.join(allowed)}) but found "
                              f"{repr(got) if got else 'the end of the phrase'} in {prompt!r}; {_vocabulary_help()}")
        return got

    it = list(words)
    expect("'a'", ("a", "an"), it.pop(0) if it else None)
    size = it.pop(0) if it and it[0] in SIZES else None
    colour = expect("a colour", COLOURS, it.pop(0) if it else None)
    shape = expect("a shape", SHAPES, it.pop(0) if it else None)
    motion = " ".join(it)
    if motion not in MOTIONS:
        raise PromptError(f"expected a motion ({', '.join(MOTIONS)}) after '{colour} {shape}' "
                          f"but found {repr(motion) if motion else 'nothing'} in {prompt!r}")
    return ObjectSpec(colour, shape, motion, size)


def check_prompt_in_world(spec: PromptSpec, world: WorldConfig, prompt: str = "") -> None:
    """Raise `PromptError` if the prompt names something this world never shows."""
    for o in spec.objects:
        for kind, value, allowed in (("colour", o.colour, world.colours),
                                     ("shape", o.shape, world.shapes),
                                     ("motion", o.motion, world.motions)):
            if value not in allowed:
                raise PromptError(f"{kind} {value!r} in {prompt!r} is not in this world; "
                                  f"its {kind}s: {', '.join(allowed)}")
        if o.size is not None and o.size not in world.sizes:
            raise PromptError(f"size {o.size!r} in {prompt!r} is not in this world; its sizes: "
                              f"{', '.join(world.sizes)}")
    if not world.min_objects <= len(spec.objects) <= world.max_objects:
        raise PromptError(f"{len(spec.objects)} objects in {prompt!r}; this world shows "
                          f"{world.min_objects} to {world.max_objects}")


def caption(scene: SceneTruth) -> str:
    """The standard caption: `a [size] <colour> <shape> <motion>` joined by ' and ' (+ the wall)."""
    parts = [f"a {o.size + ' ' if scene.with_size else ''}{o.colour} {o.shape} {o.motion}"
             for o in scene.objects]
    return " and ".join(parts) + (WALL_PHRASE if scene.wall else "")


def _where(cx: float, cy: float, height: int, width: int) -> str:
    col = ("left", "centre", "right")[min(2, int(3 * cx / width))]
    row = ("top", "middle", "bottom")[min(2, int(3 * cy / height))]
    return "centre" if (row, col) == ("middle", "centre") else f"{row} {col}"


def describe(scene: SceneTruth) -> str:
    """A descriptive caption (recaptioning, as in the Sora report): size, start, speed, background."""
    parts = []
    for o in scene.objects:
        pace = "slowly" if o.speed < 0.03 else "quickly"
        start = _where(o.cx[0], o.cy[0], scene.height, scene.width)
        how = {"standing still": "stays still",
               "bouncing": f"bounces {pace} off the edges of the frame",
               "falling": "falls from rest and bounces off the bottom edge"}.get(o.motion)
        if how is None:
            how = f"moves {pace} {o.motion.split()[1]}"
        parts.append(f"a {o.size} {o.colour} {o.shape} that starts at the {start} and {how}")
    text = "; ".join(parts)
    if scene.wall:
        text += ", passing behind a gray wall"
    return text + ", on a black background"


def upsample_prompt(prompt: str, seed: int = 0, world: WorldConfig | None = None) -> str:
    """The prompt upsampler: a standard caption -> a descriptive one, filling in what it leaves
    out (size, start, speed) by sampling a scene that the prompt allows."""
    world = world or WorldConfig()
    spec = parse_prompt(prompt)
    return describe(sample_scene(world, np.random.default_rng(seed), spec))


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
    raise ValueError(f"could not place {len(specs)} object(s) in a {world.frames}x{world.height}x"
                     f"{world.width} clip after {MAX_LAYOUT_TRIES} tries without overlap"
                     f"{' and with each clear of the wall in enough frames' if wall else ''}; "
                     f"use fewer or smaller objects, or a larger frame")


# ----------------------------------------------------------------------------------------------
# Rendering


def shape_masks(shapes: list[str], sides: np.ndarray, cx: np.ndarray, cy: np.ndarray,
                height: int, width: int) -> np.ndarray:
    """Boolean masks `(K, T, H, W)` for K objects with centres `cx, cy (K, T)` (WORLD.md geometry)."""
    px = np.arange(width) + 0.5                                  # pixel centres
    py = np.arange(height) + 0.5
    dx = px[None, None, None, :] - cx[:, :, None, None]          # (K, T, 1, W)
    dy = py[None, None, :, None] - cy[:, :, None, None]          # (K, T, H, 1)
    half = (np.asarray(sides, np.float64) / 2)[:, None, None, None]   # (K, 1, 1, 1)
    in_box = (dx >= -half) & (dx < half) & (dy >= -half) & (dy < half)  # (K, T, H, W)
    circle = dx * dx + dy * dy <= half * half
    triangle = in_box & (np.abs(dx) <= (dy + half) / 2)          # apex at top centre, base at bottom
    kind = np.array([SHAPES.index(s) for s in shapes])[:, None, None, None]  # (K, 1, 1, 1)
    return np.where(kind == 0, in_box, np.where(kind == 1, circle, triangle))


def render(scene: SceneTruth) -> np.ndarray:
    """Render a scene to a clip `uint8 (T, H, W, 3)`: black background, hard edges, wall in front."""
    T, H, W = scene.frames, scene.height, scene.width
    clip = np.zeros((T, H, W, 3), np.uint8)
    clip[...] = BACKGROUND_RGB
    if scene.objects:
        cx = np.stack([o.cx for o in scene.objects])                    # (K, T)
        cy = np.stack([o.cy for o in scene.objects])                    # (K, T)
        masks = shape_masks([o.shape for o in scene.objects],
                            np.array([o.side for o in scene.objects]), cx, cy, H, W)  # (K, T, H, W)
        rgb = np.array([PALETTE[o.colour] for o in scene.objects], np.uint8)          # (K, 3)
        label = np.where(masks.any(0), masks.argmax(0), -1)              # (T, H, W); boxes never overlap
        clip[label >= 0] = rgb[label[label >= 0]]
    if scene.wall:
        clip[:, :, scene.wall[0]:scene.wall[1]] = WALL_RGB
    return clip


def render_prompt(prompt: str, world: WorldConfig | None = None, seed: int = 0) -> tuple[np.ndarray, SceneTruth]:
    """A clip of the world that follows `prompt` (sizes and starts it leaves out are drawn)."""
    world = world or WorldConfig()
    scene = sample_scene(world, np.random.default_rng(seed), parse_prompt(prompt))
    return render(scene), scene


@dataclass
class WorldBatch:
    """N clips of the world: `clips uint8 (N, T, H, W, 3)`, their captions and scene truths."""

    clips: np.ndarray
    captions: list[str]
    scenes: list[SceneTruth] = field(default_factory=list)

    @property
    def videos(self) -> torch.Tensor:
        """The clips as model tensors `(N, 3, T, H, W)` in [-1, 1]."""
        return to_tensor(self.clips)


def clip_rng(seed: int, index: int, epoch: int = 0) -> np.random.Generator:
    """The generator of clip `index` (of `epoch`): a clip depends on (seed, epoch, index) alone."""
    return np.random.default_rng([seed, epoch, index])


def generate(world: WorldConfig, n: int, seed: int = 0, start: int = 0, epoch: int = 0) -> WorldBatch:
    """Clips `start .. start + n - 1` of the world for `seed`: the same seed gives the same clips."""
    from soralite.config import Config, validate

    validate(Config(world=world))
    scenes = [sample_scene(world, clip_rng(seed, i, epoch)) for i in range(start, start + n)]
    clips = np.stack([render(s) for s in scenes]) if scenes else np.zeros(
        (0, world.frames, world.height, world.width, 3), np.uint8)
    return WorldBatch(clips, [s.caption for s in scenes], scenes)


class WorldDataset(torch.utils.data.IterableDataset):
    """Clips of the world, streamed: each epoch draws `epoch_size` new clips, the same ones for
    the same `(seed, epoch)`. Items: `{"video": (3, T, H, W) float in [-1, 1], "caption": str,
    "index": int}`. Iterating again moves to the next epoch (or call `set_epoch`); with several
    DataLoader workers, each renders its own share of the indices.
    """

    def __init__(self, world: WorldConfig, seed: int = 0, epoch_size: int = 1024):
        super().__init__()
        from soralite.config import Config, validate

        validate(Config(world=world))
        self.world, self.seed, self.epoch_size, self.epoch = world, seed, epoch_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.epoch_size

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        epoch = self.epoch
        if info is None:
            self.epoch += 1
        for i in range(worker, self.epoch_size, workers):
            scene = sample_scene(self.world, clip_rng(self.seed, i, epoch))
            yield {"video": to_tensor(render(scene)), "caption": scene.caption, "index": i}


def export_clips(world: WorldConfig, n: int, out, seed: int = 0, gif: bool = True,
                 progress: bool = True) -> dict:
    """Write `n` clips to folder `out`: `clip_00000.npy` (uint8 `(T, H, W, 3)`), a `.gif` beside
    each (unless `gif=False`), `captions.jsonl` (one JSON object a clip: `file`, `caption`,
    `description`, `scene`) and `world.json` (the world's settings). Used by `soralite make-data`."""
    import json
    from pathlib import Path

    from soralite.config import Config, validate
    from soralite.video import save_clip

    if n < 1:
        raise ValueError(f"--n must be at least 1 (got {n})")
    validate(Config(world=world))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    items = range(n)
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="rendering", unit="clip")
    lines = []
    for i in items:
        scene = sample_scene(world, clip_rng(seed, i))
        clip = render(scene)
        name = f"clip_{i:05d}"
        np.save(out / f"{name}.npy", clip, allow_pickle=False)
        if gif:
            save_clip(out / f"{name}.gif", clip, fps=world.fps)
        lines.append(json.dumps({"file": f"{name}.npy", "caption": scene.caption,
                                 "description": describe(scene), "seed": seed, "index": i,
                                 "scene": scene.to_dict()}))
    tmp = out / "captions.jsonl.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(out / "captions.jsonl")
    (out / "world.json").write_text(json.dumps(dataclasses.asdict(world), indent=2))
    return {"out": str(out), "clips": n, "seed": seed,
            "shape": [world.frames, world.height, world.width, 3]}
