"""Write the tiny real-format clips in data/clips/ (a .gif and an .mp4 of other sizes than the world's
default, with captions.jsonl), which notebook 01 reads with `soralite.video.ClipFolder`.

    python scripts/make_data_clips.py        # the same files every time (seeded)
"""
import dataclasses
import json

import numpy as np

from soralite.config import DATA_DIR, WorldConfig
from soralite.video import save_clip
from soralite.world import render, sample_scene, parse_prompt

CLIPS = [  # file, prompt, (frames, height, width), seed
    ("red_circle_moving_right.mp4", "a large red circle moving right", (24, 48, 64), 1),
    ("blue_square_falling.gif", "a small blue square falling", (20, 40, 40), 2),
    ("green_triangle_behind_wall.mp4", "a large green triangle moving left, passing behind a gray wall",
     (24, 36, 64), 3),
]


def main() -> None:
    out = DATA_DIR / "clips"
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, prompt, (T, H, W), seed in CLIPS:
        world = dataclasses.replace(WorldConfig(), frames=T, height=H, width=W)
        scene = sample_scene(world, np.random.default_rng(seed), parse_prompt(prompt))
        save_clip(out / name, render(scene), fps=world.fps)
        lines.append(json.dumps({"file": name, "caption": scene.caption}))
    (out / "captions.jsonl").write_text("\n".join(lines) + "\n")
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {len(CLIPS)} clips to {out} ({total / 1000:.1f} kB in all)")


if __name__ == "__main__":
    main()
