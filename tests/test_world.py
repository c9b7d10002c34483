import dataclasses

import numpy as np
import pytest
import torch

from soralite.config import PALETTE, WALL_RGB, WorldConfig, get_config
from soralite.world import (PromptError, SceneTruth, WorldDataset, clear_of_wall,
                            describe, generate, object_side, parse_prompt, render, render_prompt,
                            sample_scene, shape_masks, upsample_prompt)

ALLOWED = {(0, 0, 0), WALL_RGB, *PALETTE.values()}


def test_same_seed_same_clips_and_index_independent_of_n():
    w = WorldConfig()
    a, b = generate(w, 6, seed=3), generate(w, 6, seed=3)
    np.testing.assert_array_equal(a.clips, b.clips)
    assert a.captions == b.captions
    c = generate(w, 3, seed=3, start=3)
    np.testing.assert_array_equal(a.clips[3:], c.clips)
    assert not np.array_equal(a.clips, generate(w, 6, seed=4).clips)


@pytest.mark.parametrize("frames,height,width", [(1, 16, 16), (16, 32, 32), (8, 32, 48), (5, 64, 20)])
def test_any_size_renders_with_exact_palette(frames, height, width):
    w = WorldConfig(frames=frames, height=height, width=width, wall_prob=0.5, max_objects=2)
    batch = generate(w, 20, seed=1)
    assert batch.clips.shape == (20, frames, height, width, 3) and batch.clips.dtype == np.uint8
    colours = {tuple(c) for c in batch.clips.reshape(-1, 3)}
    assert colours <= ALLOWED
    assert batch.videos.shape == (20, 3, frames, height, width)


def test_sizes_follow_the_fixed_fractions():
    assert object_side("small", 32, 32) == 6 and object_side("large", 32, 32) == 10
    assert object_side("small", 64, 48) == 10 and object_side("large", 64, 48) == 14
    assert object_side("small", 16, 16) == 4          # never below 4 pixels


def test_geometry_fill_ratios():
    s = 40
    masks = shape_masks(["square", "circle", "triangle"], np.array([s, s, s]),
                        np.full((3, 1), 50.0), np.full((3, 1), 50.0), 100, 100)
    fills = masks.reshape(3, -1).sum(1) / s ** 2
    assert fills[0] == 1.0
    assert abs(fills[1] - np.pi / 4) < 0.02
    assert abs(fills[2] - 0.5) < 0.03
    tri = masks[2, 0]
    rows = np.flatnonzero(tri.any(1))
    # apex at the top centre, base along the bottom edge
    assert tri[rows[0]].sum() <= 2 and tri[rows[-1]].sum() >= s - 1
    assert np.flatnonzero(tri[rows[0]]).mean() == pytest.approx(49.5, abs=0.6)


def test_scene_truth_matches_pixels_and_motion_rules():
    w = WorldConfig(max_objects=3, wall_prob=0.0)
    batch = generate(w, 60, seed=2)
    m = 32
    for clip, scene in zip(batch.clips, batch.scenes):
        for o in scene.objects:
            rgb = np.array(PALETTE[o.colour])
            for t in (0, scene.frames - 1):
                ys, xs = np.nonzero((clip[t] == rgb).all(-1))
                # the centre of the drawn pixels' box is the object's centre, to a pixel
                assert abs((xs.min() + xs.max() + 1) / 2 - o.cx[t]) <= 1.0
                assert abs((ys.min() + ys.max() + 1) / 2 - o.cy[t]) <= 1.0
            half = o.side / 2
            # wholly inside the frame, always
            assert o.cx.min() >= half - 1e-9 and o.cx.max() <= scene.width - half + 1e-9
            assert o.cy.min() >= half - 1e-9 and o.cy.max() <= scene.height - half + 1e-9
            v = np.diff(np.stack([o.cx, o.cy], 1), axis=0) / m
            if o.motion.startswith("moving"):
                axis = 0 if o.motion in ("moving left", "moving right") else 1
                sign = 1 if o.motion in ("moving right", "moving down") else -1
                assert np.allclose(v[:, axis], sign * o.speed) and np.allclose(v[:, 1 - axis], 0)
                assert 0.02 - 1e-9 <= o.speed <= 0.04 + 1e-9
            elif o.motion == "standing still":
                assert np.allclose(v, 0)
            elif o.motion == "bouncing":
                assert np.allclose(np.abs(v), o.speed) or (np.abs(v) <= o.speed + 1e-9).all()
            elif o.motion == "falling":
                assert o.cy[0] <= 32 / 3 + 1e-9 and np.allclose(v[:, 0], 0)
                acc = np.diff(v[:, 1])
                free = acc[np.abs(acc - 0.004) < 1e-6]
                assert len(free) >= len(acc) - 2       # free fall except around a bounce


def test_boxes_never_overlap():
    w = WorldConfig(max_objects=3, min_objects=3)
    for scene in generate(w, 40, seed=9).scenes:
        objs = scene.objects
        for i in range(len(objs)):
            for j in range(i + 1, len(objs)):
                a, b = objs[i], objs[j]
                reach = (a.side + b.side) / 2
                assert not np.any((np.abs(a.cx - b.cx) < reach) & (np.abs(a.cy - b.cy) < reach))


def test_wall_is_in_front_and_objects_pass_behind():
    w = WorldConfig(wall_prob=1.0, motions=("moving left", "moving right"), max_objects=1)
    batch = generate(w, 30, seed=4)
    for clip, scene in zip(batch.clips, batch.scenes):
        x0, x1 = scene.wall
        assert x1 - x0 == round(0.15 * 32)
        assert (clip[:, :, x0:x1] == WALL_RGB).all()           # drawn in front of everything
        assert clear_of_wall(scene.objects[0], scene.wall).sum() >= 2
        assert scene.caption.endswith(", passing behind a gray wall")
    hidden = [not clear_of_wall(s.objects[0], s.wall).all() for s in batch.scenes]
    assert np.mean(hidden) > 0.8                                  # the wall is on their path


def test_held_out_pairs_never_drawn_by_default():
    w = WorldConfig(colours=("yellow", "blue"), max_objects=2)
    pairs = {(o.colour, o.shape) for s in generate(w, 200, seed=0).scenes for o in s.objects}
    assert ("yellow", "triangle") not in pairs and ("blue", "circle") not in pairs
    w2 = dataclasses.replace(w, exclude_held_out=False)
    pairs2 = {(o.colour, o.shape) for s in generate(w2, 200, seed=0).scenes for o in s.objects}
    assert ("yellow", "triangle") in pairs2


def test_captions_follow_the_language():
    batch = generate(WorldConfig(wall_prob=0.3), 50, seed=8)
    for cap, scene in zip(batch.captions, batch.scenes):
        assert cap == cap.lower() and not cap.endswith(".")
        spec = parse_prompt(cap)
        assert [o.colour for o in spec.objects] == [o.colour for o in scene.objects]
        assert [o.size for o in spec.objects] == [o.size for o in scene.objects]
    one_size = generate(get_config("tiny").world, 5, seed=0)
    assert all(c.split()[1] in ("red", "green", "blue", "yellow") for c in one_size.captions)


def test_examples_from_world_md_parse():
    for p in ("a red circle moving left",
              "a small blue square falling and a large green triangle standing still",
              "a yellow circle moving right, passing behind a gray wall"):
        spec = parse_prompt(p)
        assert spec.objects
    assert parse_prompt("a yellow circle moving right, passing behind a gray wall").wall


@pytest.mark.parametrize("prompt,message", [
    ("a red cirle moving left", r"unknown word 'cirle'.*colours: red, green"),
    ("a red circle moving left and a red square falling", r"colour 'red' is used twice"),
    ("a red circle", r"expected a motion"),
    ("", r"empty prompt"),
    ("red circle moving left", r"expected 'a'"),
])
def test_bad_prompts_get_clear_errors(prompt, message):
    with pytest.raises(PromptError, match=message):
        parse_prompt(prompt)


def test_prompt_checked_against_world():
    tiny = get_config("tiny").world
    with pytest.raises(PromptError, match="colour 'purple'.*not in this world.*red, green, blue, yellow"):
        parse_prompt("a purple circle moving left", tiny)
    with pytest.raises(PromptError, match="motion 'falling'"):
        parse_prompt("a red circle falling", tiny)


def test_descriptive_captions_and_upsampler():
    scene = sample_scene(WorldConfig(), np.random.default_rng(0), parse_prompt("a red circle moving left"))
    text = describe(scene)
    assert "red circle" in text and "starts at the" in text and "black background" in text
    assert ("slowly" in text) or ("quickly" in text)
    up = upsample_prompt("a blue square moving up", seed=1)
    assert "blue square" in up and ("small" in up or "large" in up) and "up" in up
    assert upsample_prompt("a blue square moving up", seed=1) == up


def test_render_prompt_follows_the_prompt():
    clip, scene = render_prompt("a large green triangle moving down", seed=0)
    o = scene.objects[0]
    assert (o.colour, o.shape, o.size, o.motion) == ("green", "triangle", "large", "moving down")
    assert (clip == PALETTE["green"]).all(-1).any()


def test_scene_truth_round_trips_through_json():
    import json
    scene = generate(WorldConfig(wall_prob=1.0), 1, seed=0).scenes[0]
    again = SceneTruth.from_dict(json.loads(json.dumps(scene.to_dict())))
    np.testing.assert_array_equal(render(again), render(scene))
    assert again.caption == scene.caption


def test_dataset_streams_new_clips_each_epoch_and_is_seeded():
    w = get_config("smoke").world
    ds = WorldDataset(w, seed=5, epoch_size=4)
    first = torch.stack([d["video"] for d in ds])
    second = torch.stack([d["video"] for d in ds])
    assert first.shape == (4, 3, w.frames, w.height, w.width)
    assert first.min() >= -1 and first.max() <= 1
    assert not torch.equal(first, second)
    again = WorldDataset(w, seed=5, epoch_size=4)
    torch.testing.assert_close(torch.stack([d["video"] for d in again]), first)
    loader = torch.utils.data.DataLoader(WorldDataset(w, seed=5, epoch_size=4), batch_size=2)
    batch = next(iter(loader))
    assert batch["video"].shape == (2, 3, w.frames, w.height, w.width) and len(batch["caption"]) == 2


def test_bad_sizes_get_clear_errors():
    with pytest.raises(ValueError, match=">= 16"):
        generate(WorldConfig(height=12), 1)
    with pytest.raises(ValueError, match=">= 1"):
        generate(WorldConfig(frames=0), 1)
