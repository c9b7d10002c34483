"""Prompts for sampling and evaluation: the upsampler, held-out prompts, evaluation and grid sets.

The held-out colour-shape pairs are listed in `data/held_out.json` (read by `soralite.config`);
fixed prompt sets that the course and the README show live in `data/prompts/` and are read with
`prompt_set(name)`. Evaluation prompts are drawn fresh from the world for a seed that no training
run uses (`soralite.seeds`).
"""
from __future__ import annotations

import numpy as np

from soralite.config import DATA_DIR, WorldConfig
from soralite.language import parse_prompt
from soralite.world.captions import describe
from soralite.world.render import generate
from soralite.world.scenes import sample_scene


def upsample_prompt(prompt: str, seed: int = 0, world: WorldConfig | None = None) -> str:
    """The prompt upsampler: a standard caption -> a descriptive one, filling in what it leaves
    out (size, start, speed) by sampling a scene that the prompt allows."""
    world = world or WorldConfig()
    spec = parse_prompt(prompt)
    return describe(sample_scene(world, np.random.default_rng(seed), spec))



def held_out_prompts(world: WorldConfig) -> list[str]:
    """Captions of the world's held-out colour-shape pairs, one object, every motion."""
    sized = len(world.sizes) > 1
    out = []
    for colour, shape in world.held_out:
        if colour in world.colours and shape in world.shapes:
            for motion in world.motions:
                for size in (world.sizes if sized else (None,)):
                    out.append(f"a {size + ' ' if size else ''}{colour} {shape} {motion}")
    return out


def eval_prompts(world: WorldConfig, n: int, n_held_out: int, seed: int) -> tuple[list[str], list[str]]:
    """`n` in-distribution prompts drawn as the world draws captions, and `n_held_out` held-out
    prompts cycling through `held_out_prompts` in a seeded order."""
    ind = generate(world, n, seed=seed).captions if n else []
    held = held_out_prompts(world)
    if held and n_held_out:
        order = np.random.default_rng(seed).permutation(len(held))
        held = [held[order[i % len(held)]] for i in range(n_held_out)]
    else:
        held = []
    return ind, held


GRID_PROMPTS = 8                   # in-distribution prompts in a sample grid
GRID_HELD_OUT = 4                  # held-out prompts added to them


def grid_prompts(world: WorldConfig, n: int = GRID_PROMPTS) -> list[str]:
    """Prompts for the sample grid: `n` different in-distribution ones spread over the world's
    colours, shapes and motions, then held-out ones.

    The same diagonal walk orders both levels: pair k has colour `k % C` and shape
    `(k % C + k // C) % S` (held-out pairs skipped), prompt k has pair `k % P` and motion
    `(k % P + k // P) % M`. So the first prompts show every colour, shape and motion, and no
    prompt comes twice before all P * M have come once.
    """
    w = world
    held_pairs = set(map(tuple, w.held_out)) if w.exclude_held_out else set()
    C, S = len(w.colours), len(w.shapes)
    pairs = [(w.colours[k % C], w.shapes[(k % C + k // C) % S]) for k in range(C * S)]
    pairs = [p for p in pairs if p not in held_pairs]
    size = f"{w.sizes[-1]} " if len(w.sizes) > 1 else ""
    P, M = len(pairs), len(w.motions)
    out = []
    for k in range(n):
        colour, shape = pairs[k % P]
        motion = w.motions[(k % P + k // P) % M]
        out.append(f"a {size}{colour} {shape} {motion}")
    held = held_out_prompts(w)
    return out + held[:: max(1, len(held) // GRID_HELD_OUT)][:GRID_HELD_OUT]


def prompt_set(name: str, world: WorldConfig | None = None) -> list[str]:
    """The fixed prompt set `data/prompts/<name>.txt` (one prompt a line, `#` starts a comment),
    each checked against `world` when given."""
    path = DATA_DIR / "prompts" / f"{name}.txt"
    if not path.is_file():
        known = sorted(p.stem for p in (DATA_DIR / "prompts").glob("*.txt"))
        raise ValueError(f"no prompt set {name!r} in {DATA_DIR / 'prompts'}; known sets: "
                         f"{', '.join(known) or 'none'}")
    prompts = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    prompts = [p for p in prompts if p]
    for p in prompts:
        parse_prompt(p, world)
    return prompts


__all__ = ["upsample_prompt", "held_out_prompts", "eval_prompts", "grid_prompts", "prompt_set",
           "GRID_PROMPTS", "GRID_HELD_OUT"]
