"""Rendering the toy world: scenes to pixels, batches of clips, a streaming dataset, export (notebook 01).

`render(scene)` draws a scene truth as a clip `uint8 (T, H, W, 3)`: black background, hard edges,
the wall in front. `generate(world, n, seed)` samples and renders clips `start .. start + n - 1`
of a world; clip `i` depends on `(seed, epoch, i)` alone (`clip_rng`), so any subset can be
drawn again. `WorldDataset` streams them; `export_clips` writes them to a folder (`soralite
make-data`).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from soralite.config import BACKGROUND_RGB, PALETTE, SHAPES, WALL_RGB, WorldConfig, validate_world
from soralite.language import parse_prompt
from soralite.video import save_clip, to_tensor
from soralite.world.captions import describe
from soralite.world.scenes import SceneTruth, sample_scene


def shape_masks(shapes: list[str], sides: np.ndarray, cx: np.ndarray, cy: np.ndarray,
                height: int, width: int) -> np.ndarray:
    """Boolean masks `(K, T, H, W)` for K objects with centres `cx, cy (K, T)` (docs/world.md geometry)."""
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
    validate_world(world)
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
        validate_world(world)
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


def check_export_folder(out: Path) -> None:
    """Raise `ValueError` unless `out` may receive an export: missing, empty, or an earlier export
    (it holds `world.json`), whose clips are then written over. A file, or a folder of other
    things, is refused, so nothing a user put there is replaced."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"cannot export clips to {out}: it is a file; give a folder (it is made "
                         f"if missing)")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"cannot export clips to {out}: {parent} is a file")
            break
    if out.is_dir() and any(out.iterdir()) and not (out / "world.json").is_file():
        names = sorted(p.name for p in out.iterdir())
        raise ValueError(f"{out} already holds {', '.join(names[:5])}{', ...' if len(names) > 5 else ''} "
                         f"and is not an earlier export (no world.json); export into a new or "
                         f"empty folder")


def export_clips(world: WorldConfig, n: int, out, seed: int = 0, gif: bool = True,
                 progress: bool = True) -> dict:
    """Write `n` clips to folder `out`: `clip_00000.npy` (uint8 `(T, H, W, 3)`), a `.gif` beside
    each (unless `gif=False`), `captions.jsonl` (one JSON object a clip: `file`, `caption`,
    `description`, `scene`) and `world.json` (the world's settings). Used by `soralite make-data`."""
    if n < 1:
        raise ValueError(f"--n must be at least 1 (got {n})")
    validate_world(world)
    out = Path(out)
    check_export_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    items = range(n)
    if progress:
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



__all__ = ["shape_masks", "render", "render_prompt", "WorldBatch", "clip_rng", "generate",
           "WorldDataset", "export_clips"]
