"""Captions of a scene: the standard caption and the descriptive one (notebooks 01 and 12).

`caption(scene)` writes the standard caption of docs/world.md (the prompt language of
`soralite.language`); `describe(scene)` the *descriptive* caption that recaptioning trains on, as
in the Sora report: size, where each object starts, how fast it goes, the background.
"""
from __future__ import annotations

from soralite.language import WALL_PHRASE

def caption(scene) -> str:
    """The standard caption: `a [size] <colour> <shape> <motion>` joined by ' and ' (+ the wall)."""
    parts = [f"a {o.size + ' ' if scene.with_size else ''}{o.colour} {o.shape} {o.motion}"
             for o in scene.objects]
    return " and ".join(parts) + (WALL_PHRASE if scene.wall else "")


def _where(cx: float, cy: float, height: int, width: int) -> str:
    col = ("left", "centre", "right")[min(2, int(3 * cx / width))]
    row = ("top", "middle", "bottom")[min(2, int(3 * cy / height))]
    return "centre" if (row, col) == ("middle", "centre") else f"{row} {col}"

def describe(scene) -> str:
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
        text += WALL_PHRASE
    return text + ", on a black background"


__all__ = ["caption", "describe"]
