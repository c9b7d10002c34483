"""The captioner at work and measured: captions for clips, a folder captioned, accuracy per attribute (notebook 12).

- `caption_clips(captioner, clips)`: clips `uint8 (N, T, H, W, 3)` -> per clip the attributes the
  captioner reads and the standard and descriptive captions written from them
  (`soralite.world.captions.caption_from_attributes`).
- `caption_folder(directory, captioner)`: what `soralite caption DIR` does: every clip of a folder
  (`.npy`, `.gif`, `.mp4`, `.png`, found as `soralite.video.ClipFolder` finds them) captioned
  into `DIR/captions.jsonl`, which `ClipFolder` and `soralite train --data DIR` read.
- `evaluate_captioner(captioner, world)`: held-out world clips (the `captioner_eval` seed stream,
  which no training draws from) read by the captioner and by the analytic tracker, each compared
  with the scene truth attribute by attribute (`soralite.world.attributes`).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from soralite.config import WorldConfig
from soralite.runs import move_aside
from soralite.seeds import stream_epoch, stream_seed
from soralite.video import CAPTIONS_FILE, clip_files, load_clip, to_tensor
from soralite.world import (caption_from_attributes, compare_attributes, generate,
                            summarize_comparisons, tracked_attributes, truth_attributes)
from soralite.world.captions import ATTRIBUTE_KEYS
from soralite.world.scenes import SceneTruth

READ_BATCH = 64                  # clips the captioner reads at once


def fit_frames(clip: np.ndarray, frames: int) -> np.ndarray:
    """A clip `(T, H, W, 3)` cut or stretched to `frames` frames: the first `frames`, and a short
    clip's last frame repeated (as `soralite.video.ClipFolder` reads clips)."""
    t = np.minimum(np.arange(frames), len(clip) - 1)
    return clip[t]


def caption_clips(captioner, clips, with_size: bool = True) -> list[dict]:
    """Clips `uint8 (N, T, H, W, 3)` (all of one size; any T is cut or stretched to the
    captioner's) -> per clip `{"caption", "description", "objects", "wall"}`: the objects (at
    most three, in colour order) with `ATTRIBUTE_KEYS`, and both captions written from them. A
    clip where the captioner sees no object gets empty captions."""
    clips = np.asarray(clips)
    if clips.ndim == 4:
        clips = clips[None]
    clips = np.stack([fit_frames(c, captioner.frames) for c in clips]) if len(clips) else clips
    readings = []
    for i in range(0, len(clips), READ_BATCH):
        readings += captioner.predict(to_tensor(clips[i:i + READ_BATCH]))
    out = []
    for r in readings:
        objects = [{k: o[k] for k in ATTRIBUTE_KEYS} for o in r["objects"]]
        caption, description = caption_from_attributes(objects, r["wall"], with_size) if objects else ("", "")
        out.append({"caption": caption, "description": description, "objects": objects,
                    "wall": r["wall"]})
    return out


def caption_folder(directory: str | Path, captioner, out: str | Path | None = None,
                   force: bool = False, progress: bool = True, log=print) -> dict:
    """Caption every clip of `directory` into `out` (default `directory/captions.jsonl`): one JSON
    object a clip, `{"file", "caption", "description", "objects", "wall"}` with `file` relative to
    the folder and each object's `colour, shape, size, motion, start_x, start_y, speed`.

    An existing file is refused (`FileExistsError`) unless `force`, which moves it to
    `replaced/` beside it first: nothing is deleted. The file is written whole, then renamed, so
    an interrupted run leaves the earlier one. Returns a summary."""
    directory = Path(directory)
    target = Path(out) if out is not None else directory / CAPTIONS_FILE
    if target.exists() and not force:
        raise FileExistsError(f"{target} already exists; pass --force to caption the folder again "
                              f"(the earlier file is then moved to {target.parent / 'replaced'}/, "
                              f"not deleted), or --out another file")
    if target.exists() and target.is_dir():
        raise IsADirectoryError(f"{target} is a folder; --out takes a file name")
    files = clip_files(directory)
    t0 = time.perf_counter()
    lines = []
    items = tqdm(files, desc="captioning", unit="clip") if progress else files
    for path in items:
        clip = load_clip(path)                                       # (T, H, W, 3)
        entry = caption_clips(captioner, clip[None])[0]
        lines.append(json.dumps({"file": path.relative_to(directory).as_posix(), **entry}))
    if target.exists():
        move_aside(target, log=log)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(target)
    return {"out": str(target), "clips": len(lines), "seconds": round(time.perf_counter() - t0, 2),
            "without_objects": sum(1 for line in lines if not json.loads(line)["objects"])}


@torch.no_grad()
def evaluate_captioner(captioner, world: WorldConfig, n: int = 500, seed: int | None = None,
                       mistakes: int = 8) -> dict:
    """Read `n` held-out clips of `world` with the captioner and with the tracker, and compare
    both with the scene truth (`summarize_comparisons`: shares right per attribute). `seed`
    defaults to the `captioner_eval` stream of a seed-0 run. Also returns up to `mistakes` clips
    the captioner got wrong (`index`, the true caption, the captioner's, and what was wrong)."""
    seed = stream_seed(0, "captioner_eval") if seed is None else seed
    batch = generate(world, n, seed=seed, epoch=stream_epoch("captioner_eval"))
    with_size = len(world.sizes) > 1
    captions = caption_clips(captioner, batch.clips, with_size)
    truths = [truth_attributes(s) for s in batch.scenes]
    learned = [compare_attributes(c, t) for c, t in zip(captions, truths)]
    tracked = [compare_attributes(tracked_attributes(c), t) for c, t in zip(batch.clips, truths)]
    wrong = []
    for i, (c, cmp) in enumerate(zip(captions, learned)):
        truth = truths[i]["objects"]
        bad = [f"missed the {o['colour']} object" for o, r in zip(truth, cmp["objects"]) if not r["colour"]]
        bad += [f"{o['colour']} {k}" for o, r in zip(truth, cmp["objects"]) if r["colour"]
                for k in ("shape", "size", "motion", "start") if r[k] is False]
        bad += [f"an extra {c} object" for c in cmp["extras"]] + ([] if cmp["wall"] else ["the wall"])
        if bad and len(wrong) < mistakes:
            wrong.append({"index": i, "truth": batch.scenes[i].description,
                          "captioner": c["description"], "wrong": bad})
    return {"n": n, "seed": seed, "captioner": summarize_comparisons(learned),
            "tracker": summarize_comparisons(tracked), "mistakes": wrong}


def evaluate_written(written: str | Path, truth: str | Path) -> dict:
    """What `soralite caption` wrote (`written`, a `captions.jsonl`) against the scene truth of
    the same clips (`truth`, a `soralite make-data` folder, whose `captions.jsonl` holds it),
    matched by file name, beside the tracker's reading of the truth folder's clips: the check of
    `soralite caption DIR` on world clips the captioner never saw."""
    written, truth = Path(written), Path(truth)
    lines = [json.loads(x) for x in written.read_text(encoding="utf-8").splitlines() if x.strip()]
    truth_lines = {Path(e["file"]).name: e for e in
                   (json.loads(x) for x in (truth / CAPTIONS_FILE).read_text(encoding="utf-8").splitlines()
                    if x.strip())}
    learned, tracked = [], []
    for line in lines:
        entry = truth_lines.get(Path(line["file"]).name)
        if entry is None or "scene" not in entry:
            raise ValueError(f"{truth / CAPTIONS_FILE} has no scene truth for {line['file']} (give "
                             f"the folder `soralite make-data` wrote the clips to)")
        t = truth_attributes(SceneTruth.from_dict(entry["scene"]))
        learned.append(compare_attributes({"objects": line["objects"], "wall": bool(line.get("wall"))}, t))
        tracked.append(compare_attributes(tracked_attributes(load_clip(truth / entry["file"])), t))
    if not lines:
        raise ValueError(f"{written} lists no clips")
    return {"n": len(lines), "written": str(written), "truth": str(truth),
            "captioner": summarize_comparisons(learned), "tracker": summarize_comparisons(tracked)}


__all__ = ["caption_clips", "caption_folder", "evaluate_captioner", "evaluate_written", "fit_frames",
           "READ_BATCH"]
