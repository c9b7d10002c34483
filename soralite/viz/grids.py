"""Captioned grids of clips: what `samples.gif` and the README's animation show (notebooks 00 and 07)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from soralite.video import grid

GRID_SCALE = 4                     # each 32 px clip drawn 4x larger, caption beneath
CAPTION_LINE_PX = 11               # caption text: line height and character width of PIL's
CAPTION_CHAR_PX = 6                # default bitmap font


def caption_band(text: str, width: int) -> np.ndarray:
    """A white band `uint8 (h, width, 3)` with `text` in black, wrapped to fit."""
    per_line = max(1, width // CAPTION_CHAR_PX)
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > per_line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    img = Image.new("RGB", (width, CAPTION_LINE_PX * len(lines) + 4), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for k, s in enumerate(lines):
        draw.text((2, 2 + CAPTION_LINE_PX * k), s[:per_line], fill=(0, 0, 0))
    return np.asarray(img)


def captioned_grid(clips, captions: list[str], scale: int = GRID_SCALE, cols: int | None = None) -> np.ndarray:
    """Clips `uint8 (N, T, H, W, 3)` tiled into one clip, each enlarged and captioned beneath."""
    if len(clips) != len(captions):
        raise ValueError(f"{len(clips)} clips but {len(captions)} captions")
    cells = []
    for clip, text in zip(clips, captions):
        big = np.asarray(clip).repeat(scale, axis=1).repeat(scale, axis=2)  # (T, sH, sW, 3)
        band = caption_band(text, big.shape[2])                             # (h, sW, 3)
        band = np.broadcast_to(band, (big.shape[0], *band.shape))           # (T, h, sW, 3)
        cells.append(np.concatenate([big, band], axis=1))                  # (T, sH + h, sW, 3)
    return grid(cells, cols=cols, pad=4)


__all__ = ["caption_band", "captioned_grid", "GRID_SCALE"]
