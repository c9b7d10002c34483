"""Recaptioning measured: adherence to standard and to descriptive attributes, and the report's claim as a table (notebook 12).

The Sora report trains on descriptive captions (written by a captioner) and upsamples short prompts
at generation, and says this improves text fidelity. Here that is measured. For each of `n` fresh
scenes of the world (the `captions_eval` seed stream), three prompts:

- its *standard* caption (`caption`: colour, shape, size, motion),
- its *descriptive* caption (`describe`: also where each object starts and how fast it goes),
- its standard caption *upsampled* (`Pipeline.upsample`: the details drawn afresh).

Each model makes a clip per prompt, from the same noise, and the tracker reads it back:
- **standard adherence** against the standard caption (`soralite.world.score_clips`);
- **descriptive adherence** against the details the prompt asked for, or, for a standard prompt,
  those of its scene (which the prompt never said, so that column is chance): the start region
  (by thirds, as `describe` words it) and the pace (slowly or quickly, for moving and bouncing
  objects), read from the tracker's boxes and velocities (`soralite.world.tracked_attributes`).

Beside them, the floors: the same readings of the world's own renders of the scenes.
"""
from __future__ import annotations

import warnings

import numpy as np

from soralite.language import HeldOutWarning, parse_description
from soralite.seeds import stream_epoch, stream_seed
from soralite.world import caption, describe, generate, score_clips, tracked_attributes
from soralite.world.attributes import PACED
from soralite.world.captions import pace, region

PROMPT_STYLES = ("standard", "descriptive", "upsampled")


def descriptive_targets(prompt: str) -> dict[str, dict]:
    """What a descriptive prompt asks of each object (by colour): its start region and pace."""
    return {o.colour: {"start": o.start, "pace": o.pace, "motion": o.motion}
            for o in parse_description(prompt).objects}


def descriptive_adherence(clip: np.ndarray, targets: dict[str, dict]) -> dict:
    """Whether the clip shows each object where and as fast as `targets` (from
    `descriptive_targets`) asks: per object `start` and `pace` (None for a motion without one),
    read by the tracker; `all` when every one holds."""
    read = {o["colour"]: o for o in tracked_attributes(clip)["objects"]}
    rows = {}
    for colour, t in targets.items():
        o = read.get(colour)
        start_ok = o is not None and region(o["start_x"], o["start_y"]) == t["start"]
        pace_ok = None
        if t["motion"] in PACED:
            pace_ok = o is not None and o["motion"] in PACED and pace(o["speed"]) == t["pace"]
        rows[colour] = {"start": bool(start_ok), "pace": pace_ok}
    ok = [v for r in rows.values() for v in (r["start"], r["pace"]) if v is not None]
    return {"objects": rows, "all": bool(all(ok))}


def summarize_descriptive(results: list[dict]) -> dict:
    """Shares over objects: start region right, pace right (objects with a pace); over clips:
    every asked detail right."""
    rows = [r for res in results for r in res["objects"].values()]
    paced = [r["pace"] for r in rows if r["pace"] is not None]
    return {"start": round(float(np.mean([r["start"] for r in rows])), 4) if rows else None,
            "pace": round(float(np.mean(paced)), 4) if paced else None,
            "all": round(float(np.mean([r["all"] for r in results])), 4) if results else None}


def chance(targets: list[dict[str, dict]]) -> dict:
    """What a model that ignores the details scores on average: the chance that an object of
    another scene, drawn the same way, has the same start region (or pace)."""
    starts = [t["start"] for ts in targets for t in ts.values()]
    paces = [t["pace"] for ts in targets for t in ts.values() if t["motion"] in PACED]

    def agree(values):
        if not values:
            return None
        _, counts = np.unique(values, return_counts=True)
        p = counts / counts.sum()
        return round(float((p ** 2).sum()), 4)
    return {"start": agree(starts), "pace": agree(paces)}


def evaluation_scenes(world, n: int, seed: int):
    """The `n` scenes the table prompts with, and the world's own clips of them."""
    batch = generate(world, n, seed=seed, epoch=stream_epoch("captions_eval"))
    return batch.scenes, batch.clips


def _standard_summary(scores: dict) -> dict:
    return {k: (round(scores[k], 4) if isinstance(scores.get(k), float) else scores.get(k))
            for k in ("adherence", "colour", "shape", "motion")}


def measure(pipe, prompts: list[str], standard: list[str], targets: list[dict], seed: int,
            steps: int | None = None, guidance: float | None = None, progress: bool = False) -> dict:
    """Generate a clip per prompt and read it: standard adherence against `standard`, descriptive
    adherence against `targets` (one dict per clip, as `descriptive_targets` returns)."""
    with warnings.catch_warnings(), pipe.policy_suspended():
        warnings.simplefilter("ignore", HeldOutWarning)
        clips = pipe.generate(prompts, seed=seed, steps=steps, guidance=guidance, progress=progress)
    per = [descriptive_adherence(c, t) for c, t in zip(clips, targets)]
    return {"standard": _standard_summary(score_clips(clips, standard)),
            "descriptive": summarize_descriptive(per)}


def caption_table(pipes: dict, n: int = 200, seed: int | None = None, steps: int | None = None,
                  guidance: float | None = None, styles: tuple[str, ...] = PROMPT_STYLES,
                  progress: bool = False) -> dict:
    """The claim as a table: every model of `pipes` (name -> Pipeline, e.g. `{"standard": A,
    "descriptive": B}`, trained on those captions, all on the same world) sampled with each
    prompt style of `styles` on the same `n` scenes and noise.

    Returns `rows` (one per model and prompt style: its training captions, the prompt style,
    standard and descriptive adherence), the `floor` (the world's own clips read the same way),
    `chance` (descriptive adherence of a model that ignores the details), and the settings.
    `seed` defaults to the `captions_eval` stream of the first model's run seed; "upsampled" needs
    models that read descriptive prompts."""
    first = next(iter(pipes.values()))
    world = first.config.world
    for name, p in pipes.items():
        if p.config.world != world:
            raise ValueError(f"the models must share one world to be compared; {name!r} was "
                             f"trained on another")
        if any(s != "standard" for s in styles) and not p.descriptive:
            raise ValueError(f"{name!r} reads standard prompts only (dit.vocabulary=standard); "
                             f"train both runs with --set dit.vocabulary=descriptive --set "
                             f"dit.text_max_length=80 so that they differ in their captions alone")
    seed = stream_seed(first.config.seed, "captions_eval") if seed is None else seed
    scenes, world_clips = evaluation_scenes(world, n, seed)
    standard = [caption(s) for s in scenes]
    descriptions = [describe(s) for s in scenes]
    scene_targets = [descriptive_targets(d) for d in descriptions]
    rows = []
    for name, p in pipes.items():
        for style in styles:
            if style == "standard":
                prompts, targets = standard, scene_targets
            elif style == "descriptive":
                prompts, targets = descriptions, scene_targets
            else:
                prompts = p.upsample(standard, seed=seed)
                targets = [descriptive_targets(q) for q in prompts]
            r = measure(p, prompts, standard, targets, seed, steps, guidance, progress)
            rows.append({"model": name, "trained_on": p.config.train.captions, "prompts": style,
                         "step": p.step, **r})
    floor_desc = summarize_descriptive([descriptive_adherence(c, t) for c, t in
                                        zip(world_clips, scene_targets)])
    return {"n": n, "seed": seed, "steps": steps or first.config.train.sample_steps,
            "guidance": first.config.train.guidance_scale if guidance is None else guidance,
            "rows": rows,
            "floor": {"standard": _standard_summary(score_clips(world_clips, standard, scenes)),
                      "descriptive": floor_desc},
            "chance": chance(scene_targets)}


def table_markdown(table: dict) -> str:
    """The table as Markdown rows: training captions, prompt style, standard adherence (and its
    shape and motion), descriptive adherence (start region, pace, all)."""
    def f(v):
        return "n/a" if v is None else f"{v:.3f}"

    lines = ["| trained on | prompts | standard adherence | shape | motion | start region | pace | all details |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    rows = [(r["trained_on"], r["prompts"], r["standard"], r["descriptive"]) for r in table["rows"]]
    rows.append(("world's own clips (floor)", "", table["floor"]["standard"], table["floor"]["descriptive"]))
    for trained, prompts, s, d in rows:
        lines.append(f"| {trained} | {prompts} | {f(s['adherence'])} | {f(s['shape'])} | "
                     f"{f(s['motion'])} | {f(d['start'])} | {f(d['pace'])} | {f(d['all'])} |")
    c = table["chance"]
    lines.append(f"| chance (details ignored) | | | | | {f(c['start'])} | {f(c['pace'])} | |")
    return "\n".join(lines)


__all__ = ["PROMPT_STYLES", "descriptive_targets", "descriptive_adherence", "summarize_descriptive",
           "chance", "evaluation_scenes", "measure", "caption_table", "table_markdown"]
