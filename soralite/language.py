"""The caption language: the kit's prompt language, its vocabulary and its parser (notebook 01).

The standard caption of docs/world.md is the one language that the world writes, the tokenizer
reads and the pipeline accepts:  `a [size] <colour> <shape> <motion>`, objects joined by ` and `,
optionally ending `, passing behind a gray wall`. It sits below every stage because all of them
speak it: `soralite.world` writes captions in it, `soralite.models.text` tokenizes it, the
pipeline checks prompts with it. A prompt outside it raises a `PromptError` that names the word
and lists the vocabulary.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from soralite.config import COLOURS, MOTIONS, SHAPES, SIZES, WorldConfig

class PromptError(ValueError):
    """A prompt outside the caption language of docs/world.md."""


class HeldOutWarning(UserWarning):
    """A prompt names a colour-shape pair that the training world never shows."""


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
    """Parse a standard caption (docs/world.md, "Captions") into a `PromptSpec`.

    Raises `PromptError` naming the offending word and listing the vocabulary. With `world`, also
    checks that every colour, shape, size and motion is one that world can show.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise PromptError(f"empty prompt; {_vocabulary_help()}")
    text = prompt.strip().lower().rstrip(".").strip()
    words = re.findall(r"[^\s,]+|,", text)                    # whole words (any letters), commas
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
                              f"clip have distinct colours (colour is identity); {_vocabulary_help()}")
        seen.add(o.colour)
    if len(objects) > 3:
        raise PromptError(f"{len(objects)} objects in {prompt!r}; a scene holds one to three; "
                          f"{_vocabulary_help()}")
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
    if spec.wall and world.wall_prob == 0:
        raise PromptError(f"{prompt!r} asks for the wall, but this world never shows one "
                          f"(world.wall_prob = 0); leave out '{WALL_PHRASE.strip(', ')}'")
    if not world.min_objects <= len(spec.objects) <= world.max_objects:
        if world.min_objects == world.max_objects:
            raise PromptError(f"{len(spec.objects)} objects in {prompt!r}; this world shows exactly "
                              f"{world.min_objects} object{'s' if world.min_objects > 1 else ''} a clip")
        raise PromptError(f"{len(spec.objects)} objects in {prompt!r}; this world shows "
                          f"{world.min_objects} to {world.max_objects}")


__all__ = ["PromptError", "HeldOutWarning", "VOCABULARY", "WALL_PHRASE", "ObjectSpec", "PromptSpec", "parse_prompt",
           "check_prompt_in_world"]
