"""Native sizes, measured (notebook 10; `soralite eval-sizes`): adherence at every size a model
makes, images included, and the framing claim of the Sora report.

A clip adheres as `soralite.world.score_clips` says (its attributes are reported apart, with the
motions the tracker read in place of the ones asked for); an image (one frame) cannot show motion, so
for images the figure is colour, shape and no extra object. *Framing*: the world always starts
an object wholly inside the frame, so a first frame whose object touches the frame's edge (or is
missing) shows its subject cut, the failure the report attributes to training on square crops.
The world may place an object flush against the edge, so the measure also has a floor: its share
on the world's own first frames at the same size (`world_floor`), which a model can only match.
"""
from __future__ import annotations

import dataclasses
import warnings
from collections import Counter

import numpy as np

from soralite.eval.adherence import share_of
from soralite.language import HeldOutWarning, parse_prompt
from soralite.pipeline import Pipeline
from soralite.seeds import stream_epoch, stream_seed
from soralite.world import clear_of_frame, generate, score_clips, track_clip

EXTRAPOLATE = ((16, 32, 64), (16, 64, 64))   # sizes no preset trains on, measured as extrapolation


def _share(flags) -> dict:
    return share_of(flags, digits=4)


def image_adheres(image: np.ndarray, prompt: str) -> bool:
    """An image `(1, H, W, 3)` against a prompt: every object's colour and shape, no other colour."""
    spec = parse_prompt(prompt)
    tracks = track_clip(image).tracks
    named = {o.colour for o in spec.objects}
    for o in spec.objects:
        tr = tracks.get(o.colour)
        if tr is None or not tr.present[0] or tr.shape != o.shape:
            return False
    return not any(c not in named and t.present[0] for c, t in tracks.items())


def cut_by_the_edge(clip: np.ndarray, prompt: str) -> bool:
    """Whether an object named in `prompt` is missing from the first frame or touches its edge."""
    H, W = clip.shape[1:3]
    tracks = track_clip(clip[:1]).tracks
    for o in parse_prompt(prompt).objects:
        tr = tracks.get(o.colour)
        if tr is None or not clear_of_frame(tr, H, W)[0]:
            return True
    return False


def framing_floor(world, size: tuple[int, int, int], n: int = 48, seed: int = 0) -> dict:
    """The share of the world's own clips of `size` whose first frame `cut_by_the_edge` flags."""
    frames, height, width = size
    sized = dataclasses.replace(world, frames=frames, height=height, width=width)
    batch = generate(sized, n, seed=stream_seed(seed, "sizes_floor"), epoch=stream_epoch("sizes_floor"))
    return _share([cut_by_the_edge(c, p) for c, p in zip(batch.clips, batch.captions)])


def measure_size(pipe: Pipeline, size: tuple[int, int, int], n: int = 48, seed: int = 0) -> dict:
    """Adherence (images: colour and shape) and framing of `n` samples of `size` on fresh prompts,
    beside the framing measure's floor on the world's own clips of that size."""
    frames, height, width = size
    pipe.size(frames, height, width)                            # a size it cannot make: named
    prompts = generate(pipe.config.world, n, seed=stream_seed(seed, "sizes")).captions
    with warnings.catch_warnings(), pipe.policy_suspended():   # the world's own prompts, measured
        warnings.simplefilter("ignore", HeldOutWarning)
        clips = pipe.generate(prompts, seed=seed, frames=frames, height=height, width=width)
    attributes, misread = {}, {}
    if frames == 1:
        adheres = [image_adheres(c, p) for c, p in zip(clips, prompts)]
    else:
        per = score_clips(clips, prompts)["per_clip"]
        adheres = [r["adheres"] for r in per]
        attributes = {k: _share([r[k] for r in per]) for k in ("colour", "shape", "motion", "no_extra")}
        misread = motions_misread(per)
    return {"size": "x".join(map(str, size)), "adherence": _share(adheres),
            "attributes": attributes, "motions_misread": misread,
            "cut_in_first_frame": _share([cut_by_the_edge(c, p) for c, p in zip(clips, prompts)]),
            "world_floor": framing_floor(pipe.config.world, size, n, seed)}


def motions_misread(per_clip: list[dict]) -> dict[str, int]:
    """How often each motion asked for was read as another, `{"moving down -> falling": 3}`,
    over the objects of `score_clips`'s `per_clip` rows that are present with the wrong motion."""
    counts = Counter(f"{o_asked} -> {o['motion']}" for r in per_clip
                     for o_asked, o in zip(_asked_motions(r["caption"]), r["objects"])
                     if o["present"] and not o["motion_ok"])
    return dict(counts.most_common())


def _asked_motions(caption: str) -> list[str]:
    return [o.motion for o in parse_prompt(caption).objects]


def measure_sizes(pipe: Pipeline, sizes=None, n: int = 48, seed: int = 0,
                  extrapolate=EXTRAPOLATE) -> dict:
    """`measure_size` for every size the run trained on (`train.sizes`, else its own) and, apart,
    for the sizes of `extrapolate` it never saw. Given `sizes`, those alone, each reported under
    "trained" or "untrained" by whether the run trained on it (no `extrapolate` sizes added)."""
    trained_on = [tuple(int(v) for v in s.split("x")) for s in _trained(pipe)]
    if sizes:
        asked, extra = [tuple(s) for s in sizes], []
    else:
        asked, extra = trained_on, [tuple(s) for s in extrapolate if tuple(s) not in trained_on]
    return {"trained": [measure_size(pipe, s, n, seed) for s in asked if s in trained_on],
            "untrained": [measure_size(pipe, s, n, seed) for s in asked if s not in trained_on]
            + [measure_size(pipe, s, n, seed) for s in extra]}


def _trained(pipe: Pipeline) -> list[str]:
    spec = pipe.config.train.sizes
    if spec:
        return [part.split(":")[0] for part in spec.split(",") if part.strip()]
    w = pipe.config.world
    return [f"{w.frames}x{w.height}x{w.width}"]


__all__ = ["image_adheres", "cut_by_the_edge", "framing_floor", "measure_size", "measure_sizes",
           "motions_misread", "EXTRAPOLATE"]
