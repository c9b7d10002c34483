"""Captions of a scene: the standard caption and the descriptive one (notebooks 01 and 12).

`caption(scene)` writes the standard caption of docs/world.md (the prompt language of
`soralite.language`); `describe(scene)` the *descriptive* caption that recaptioning trains on, as
in the Sora report: size, where each object starts, how fast it goes, the background.
"""
from __future__ import annotations

from soralite.language import (BACKGROUND_PHRASE, COLUMNS, QUICK_SPEED, ROWS, WALL_PHRASE,
                               how_phrase)

ATTRIBUTE_KEYS = ("colour", "shape", "size", "motion", "start_x", "start_y", "speed")

def caption(scene) -> str:
    """The standard caption: `a [size] <colour> <shape> <motion>` joined by ' and ' (+ the wall)."""
    parts = [f"a {o.size + ' ' if scene.with_size else ''}{o.colour} {o.shape} {o.motion}"
             for o in scene.objects]
    return " and ".join(parts) + (WALL_PHRASE if scene.wall else "")


def region(start_x: float, start_y: float) -> str:
    """Where a centre lies by thirds of the frame, from its shares of W and H: `<row> <column>`
    (rows top, middle, bottom; columns left, centre, right), and the middle third of both just
    `centre` (`soralite.language.REGIONS`)."""
    col = COLUMNS[min(2, max(0, int(3 * start_x)))]
    row = ROWS[min(2, max(0, int(3 * start_y)))]
    return "centre" if (row, col) == ("middle", "centre") else f"{row} {col}"


def pace(speed: float) -> str:
    """`slowly` below `QUICK_SPEED` (0.03 of min(H, W) per frame), else `quickly`."""
    return "slowly" if speed < QUICK_SPEED else "quickly"


def object_attributes(o, height: int, width: int) -> dict:
    """An object of the scene truth as the attributes a caption is written from: colour, shape,
    size, motion; `start_x`, `start_y`, its centre in the first frame as shares of W and H;
    `speed` as the truth holds it (units of min(H, W) per frame, per axis for bouncing, 0 standing
    still, the world's gravity for falling)."""
    return {"colour": o.colour, "shape": o.shape, "size": o.size, "motion": o.motion,
            "start_x": float(o.cx[0]) / width, "start_y": float(o.cy[0]) / height,
            "speed": float(o.speed)}


def caption_from_attributes(objects: list[dict], wall: bool = False,
                            with_size: bool = True) -> tuple[str, str]:
    """The standard caption and the descriptive one of objects given by their attributes (dicts
    with `ATTRIBUTE_KEYS`), in the order given: what `caption` and `describe` write for a scene
    whose objects have these attributes, and what a captioner's reading is written as (notebook
    12). `with_size` names the size in the standard caption (the descriptive one always does)."""
    standard, described = [], []
    for o in objects:
        size = f"{o['size']} " if with_size else ""
        standard.append(f"a {size}{o['colour']} {o['shape']} {o['motion']}")
        where = region(o["start_x"], o["start_y"])
        how = how_phrase(o["motion"], pace(o["speed"]))
        described.append(f"a {o['size']} {o['colour']} {o['shape']} that starts at the {where} "
                         f"and {how}")
    tail = WALL_PHRASE if wall else ""
    return " and ".join(standard) + tail, "; ".join(described) + tail + BACKGROUND_PHRASE


def describe(scene) -> str:
    """A descriptive caption (recaptioning, as in the Sora report): size, start, speed, background."""
    objects = [object_attributes(o, scene.height, scene.width) for o in scene.objects]
    return caption_from_attributes(objects, bool(scene.wall))[1]


__all__ = ["caption", "describe", "caption_from_attributes", "object_attributes", "region", "pace",
           "ATTRIBUTE_KEYS"]
