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


# ----------------------------------------------------------------------------------------------
# Descriptive captions (recaptioning, notebook 12): the standard language plus where each object
# starts and how fast it goes, as `soralite.world.captions.describe` writes them (docs/world.md):
#   a <size> <colour> <shape> that starts at the <where> and <how>[; ...][, passing behind a gray
#   wall], on a black background

ROWS: tuple[str, ...] = ("top", "middle", "bottom")
COLUMNS: tuple[str, ...] = ("left", "centre", "right")
# the nine start regions, by thirds of the first frame; the middle third of both is just "centre"
REGIONS: tuple[str, ...] = tuple("centre" if (r, c) == ("middle", "centre") else f"{r} {c}"
                                 for r in ROWS for c in COLUMNS)
PACES: tuple[str, ...] = ("slowly", "quickly")
QUICK_SPEED = 0.03                  # "quickly" from this speed on (units of min(H, W) per frame)
BACKGROUND_PHRASE = ", on a black background"
# how each motion is told; {pace} is slowly or quickly, {direction} left, right, up or down
HOW: dict[str, str] = {"moving": "moves {pace} {direction}",
                       "bouncing": "bounces {pace} off the edges of the frame",
                       "standing still": "stays still",
                       "falling": "falls from rest and bounces off the bottom edge"}
DESCRIPTIVE_WORDS: tuple[str, ...] = ("that", "starts", "at", "the", "top", "middle", "bottom",
                                      "centre", "moves", "slowly", "quickly", "bounces", "off",
                                      "edges", "of", "frame", "stays", "falls", "from", "rest",
                                      "edge", ";", "on", "black", "background")
DESCRIPTIVE_VOCABULARY: tuple[str, ...] = VOCABULARY + tuple(w for w in DESCRIPTIVE_WORDS
                                                             if w not in VOCABULARY)
_DESCRIPTIVE_MARKERS = ("that", ";", "background")   # words only a descriptive caption has
# the tokenizer's words for each `dit.vocabulary` (soralite.config.VOCABULARIES)
VOCABULARIES: dict[str, tuple[str, ...]] = {"standard": VOCABULARY, "descriptive": DESCRIPTIVE_VOCABULARY}


@dataclass
class DescribedObject:
    """One object as a descriptive caption names it: the standard part, and `start` (one of
    `REGIONS`) and `pace` (one of `PACES`, None for standing still and falling)."""

    colour: str
    shape: str
    motion: str
    size: str | None = None
    start: str | None = None
    pace: str | None = None

    def standard(self) -> ObjectSpec:
        return ObjectSpec(self.colour, self.shape, self.motion, self.size)


@dataclass
class DescriptionSpec:
    objects: list[DescribedObject]
    wall: bool = False

    def standard(self) -> PromptSpec:
        """The standard part: what `parse_prompt` returns for the matching standard caption."""
        return PromptSpec([o.standard() for o in self.objects], self.wall)


OPPOSITE_DIRECTIONS: dict[str, str] = {"left": "right", "right": "left", "up": "down", "down": "up"}
_STRAIGHT_MOTION = re.compile(r"\b(moving|moves (?:slowly|quickly)) (left|right|up|down)\b", re.IGNORECASE)


def turned_round(prompt: str) -> str:
    """`prompt` with every straight mover going the other way, in standard and descriptive
    captions alike ("moving left" -> "moving right", "moves slowly up" -> "moves slowly down");
    bouncing, falling, standing still and every other word are kept. A loop's way back
    (`soralite.verbs.loop`) is sampled from it."""
    return _STRAIGHT_MOTION.sub(lambda m: f"{m.group(1)} {OPPOSITE_DIRECTIONS[m.group(2).lower()]}",
                                prompt)


def how_phrase(motion: str, pace: str | None) -> str:
    """The words that tell `motion` (at `pace`) in a descriptive caption."""
    if motion.startswith("moving "):
        return HOW["moving"].format(pace=pace, direction=motion.split()[1])
    return HOW[motion].format(pace=pace)


def _description_help() -> str:
    return (f"a descriptive prompt is 'a [size] <colour> <shape> that starts at the <where> and "
            f"<how>' joined by '; ', optionally followed by '{WALL_PHRASE}', ending "
            f"'{BACKGROUND_PHRASE}'; where: {', '.join(REGIONS)}; how: moves slowly|quickly "
            f"left|right|up|down, bounces slowly|quickly off the edges of the frame, stays still, "
            f"falls from rest and bounces off the bottom edge; sizes: {', '.join(SIZES)}; colours: "
            f"{', '.join(COLOURS)}; shapes: {', '.join(SHAPES)}")


def is_descriptive(prompt: str) -> bool:
    """Whether a prompt is written in the descriptive language (it has a word only that has)."""
    words = re.findall(r"[^\s,;]+|[,;]", str(prompt).strip().lower())
    return any(w in _DESCRIPTIVE_MARKERS for w in words)


def parse_description(prompt: str, world: WorldConfig | None = None) -> DescriptionSpec:
    """Parse a descriptive caption word by word into a `DescriptionSpec`.

    Raises `PromptError` naming the first word outside the grammar and stating it. With `world`,
    the standard part (colours, shapes, sizes, motions, objects, wall) is checked against that
    world as `parse_prompt` checks a standard caption.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise PromptError(f"empty prompt; {_description_help()}")
    words = re.findall(r"[^\s,;]+|[,;]", prompt.strip().lower().rstrip(".").strip())
    for w in words:
        if w not in DESCRIPTIVE_VOCABULARY and w != "an":
            raise PromptError(f"unknown word {w!r} in prompt {prompt!r}; {_description_help()}")
    background = BACKGROUND_PHRASE.split()                 # [",", "on", "a", "black", "background"]
    if words[-len(background):] == background:
        words = words[:-len(background)]
    tail = [",", "passing", "behind", "a", "gray", "wall"]
    wall = words[-len(tail):] == tail
    if wall:
        words = words[:-len(tail)]
    for w in ("passing", "wall", "background", ","):
        if w in words:
            raise PromptError(f"misplaced {w!r} in {prompt!r}: the wall phrase and the background "
                              f"end the prompt; {_description_help()}")
    phrases: list[list[str]] = [[]]
    for w in words:
        if w == ";":
            phrases.append([])
        else:
            phrases[-1].append(w)
    objects = [_parse_described(p, prompt) for p in phrases]
    colours = [o.colour for o in objects]
    twice = sorted({c for c in colours if colours.count(c) > 1})
    if twice:
        raise PromptError(f"colour {twice[0]!r} is used twice in {prompt!r}; objects in one clip "
                          f"have distinct colours (colour is identity)")
    if len(objects) > 3:
        raise PromptError(f"{len(objects)} objects in {prompt!r}; a scene holds one to three")
    spec = DescriptionSpec(objects, wall)
    if world is not None:
        check_prompt_in_world(spec.standard(), world, prompt)
    return spec


def _parse_described(words: list[str], prompt: str) -> DescribedObject:
    it = list(words)

    def take(what: str, allowed: tuple[str, ...]) -> str:
        got = it.pop(0) if it else None
        if got not in allowed:
            raise PromptError(f"expected {what} ({', '.join(allowed)}) but found "
                              f"{repr(got) if got else 'the end of the phrase'} in {prompt!r}; "
                              f"{_description_help()}")
        return got

    take("'a'", ("a", "an"))
    size = it.pop(0) if it and it[0] in SIZES else None
    colour, shape = take("a colour", COLOURS), take("a shape", SHAPES)
    for w in ("that", "starts", "at", "the"):
        take(f"'{w}' (the start: 'that starts at the <where>')", (w,))
    first = take("where it starts", ROWS + ("centre",))
    start = "centre" if first == "centre" else f"{first} {take('a column', COLUMNS)}"
    start = "centre" if start == "middle centre" else start
    take("'and' before how it moves", ("and",))
    verb = take("how it moves", ("moves", "bounces", "stays", "falls"))
    pace = None
    if verb in ("moves", "bounces"):
        pace = take("a pace", PACES)
    if verb == "moves":
        direction = take("a direction", ("left", "right", "up", "down"))
        motion = f"moving {direction}"
    else:
        motion = {"bounces": "bouncing", "stays": "standing still", "falls": "falling"}[verb]
    rest = how_phrase(motion, pace).split()[1 + (pace is not None) + (verb == "moves"):]
    for w in rest:
        take(f"{w!r} ('{how_phrase(motion, pace)}')", (w,))
    if it:
        raise PromptError(f"unexpected {it[0]!r} after '{how_phrase(motion, pace)}' in {prompt!r}; "
                          f"objects are joined by '; '")
    return DescribedObject(colour, shape, motion, size, start, pace)


def parse_caption(prompt: str, world: WorldConfig | None = None,
                  descriptive: bool = False) -> PromptSpec:
    """The standard part of a prompt: `parse_prompt` for a standard caption; with `descriptive`,
    a descriptive caption is parsed by `parse_description` and its standard part returned."""
    if descriptive and is_descriptive(prompt):
        return parse_description(prompt, world).standard()
    return parse_prompt(prompt, world)


__all__ = ["PromptError", "HeldOutWarning", "VOCABULARY", "WALL_PHRASE", "ObjectSpec", "PromptSpec", "parse_prompt",
           "check_prompt_in_world", "ROWS", "COLUMNS", "REGIONS", "PACES", "QUICK_SPEED",
           "BACKGROUND_PHRASE", "HOW", "DESCRIPTIVE_WORDS", "DESCRIPTIVE_VOCABULARY", "VOCABULARIES",
           "DescribedObject", "DescriptionSpec", "how_phrase", "is_descriptive",
           "parse_description", "parse_caption", "OPPOSITE_DIRECTIONS", "turned_round"]
