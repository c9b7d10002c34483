"""Pictures (soralite/viz.py, notebook 01): figures and annotated clips show what they claim."""
import dataclasses

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from soralite import viz
from soralite.config import PALETTE, WALL_RGB, WorldConfig
from soralite.world import WALL, track_clip
from soralite.world import ObjectTruth, SceneTruth, generate, render, render_prompt

WORLD = WorldConfig(frames=8, height=32, width=32)
TRUTH = np.array(viz.TRUTH_RGB, np.uint8)


def still_square(T=4, H=32, W=32, side=10, cx=16.0, cy=16.0, wall=None) -> SceneTruth:
    """A red square standing still with integer box edges, so its pixels are exactly its box."""
    obj = ObjectTruth("red", "square", "large", "standing still", side, 0.0,
                      np.full(T, cx), np.full(T, cy))
    return SceneTruth(T, H, W, [obj], wall)


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text)]


# ---------------------------------------------------------------------------------------------
# Frames


def test_frame_strip_draws_one_axes_a_frame():
    clip = generate(WORLD, 1, seed=0).clips[0]                      # (8, 32, 32, 3)
    fig = viz.frame_strip(clip)
    assert isinstance(fig, Figure) and len(fig.axes) == 8
    fig = viz.frame_strip(clip, frames=[0, 5], titles=["first", "sixth"])
    assert len(fig.axes) == 2 and {"first", "sixth"} <= set(texts(fig))
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), clip[5])
    rgb = viz.figure_rgb(fig)
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[-1] == 3


def test_frame_strip_picks_at_most_eight_frames_and_rejects_bad_ones():
    clip = np.zeros((20, 16, 24, 3), np.uint8)
    assert len(viz.frame_strip(clip).axes) == viz.MAX_STRIP_FRAMES
    with pytest.raises(ValueError, match="not in the clip"):
        viz.frame_strip(clip, frames=[20])
    with pytest.raises(ValueError, match="uint8"):
        viz.frame_strip(clip.astype(np.float32))


def test_upscale_is_nearest_neighbour():
    clip = np.arange(2 * 2 * 3 * 3, dtype=np.uint8).reshape(2, 2, 3, 3)
    big = viz.upscale(clip, 3)
    assert big.shape == (2, 6, 9, 3)
    np.testing.assert_array_equal(big[:, ::3, ::3], clip)
    np.testing.assert_array_equal(big[:, 2::3, 2::3], clip)


# ---------------------------------------------------------------------------------------------
# Scene truth


def test_scene_truth_clip_has_the_upscaled_shape():
    batch = generate(WORLD, 2, seed=1)
    out = viz.draw_scene_truth(batch.clips[0], batch.scenes[0])
    s = viz.TRUTH_SCALE
    assert out.dtype == np.uint8 and out.shape == (8, 32 * s, 32 * s, 3)
    with pytest.raises(ValueError, match="does not match"):
        viz.draw_scene_truth(batch.clips[0][:4], batch.scenes[0])


def test_box_outline_sits_just_outside_the_rendered_square():
    scene = still_square()                                          # box [11, 21) in x and y
    clip = render(scene)
    s = viz.TRUTH_SCALE
    out = viz.draw_scene_truth(clip, scene)
    # the square's own pixels, found in the render (not from the scene), upscaled
    ys, xs = np.nonzero((clip[0] == PALETTE["red"]).all(-1))
    x0, x1, y0, y1 = xs.min() * s, (xs.max() + 1) * s, ys.min() * s, (ys.max() + 1) * s
    for t in range(scene.frames):
        ring = np.concatenate([out[t, y0 - 1, x0 - 1:x1 + 1], out[t, y1, x0 - 1:x1 + 1],
                               out[t, y0 - 1:y1 + 1, x0 - 1], out[t, y0 - 1:y1 + 1, x1]])
        assert (ring == TRUTH).all(), f"frame {t}: the box outline is not around the square"
        # the square's edges stay red, and the pixels beyond the outline stay black
        assert (out[t, y0, x0 + 1:x1 - 1] == PALETTE["red"]).all()
        assert (out[t, y0 - 2, x0:x1] == 0).all() and (out[t, y0:y1, x1 + 1] == 0).all()
        # the centre cross sits at the centre
        assert (out[t, 16 * s, 16 * s] == TRUTH).all()


def test_box_outline_follows_a_moving_object_and_the_wall_is_outlined():
    clip, scene = render_prompt("a red square moving right, passing behind a gray wall",
                                dataclasses.replace(WORLD, frames=12), seed=2)
    out = viz.draw_scene_truth(clip, scene)
    s, o = viz.TRUTH_SCALE, scene.objects[0]
    assert np.ptp(o.cx) > 3                                         # it does move
    for t in range(scene.frames):
        bx0, by0, bx1, by1 = viz.truth_box(o.cx[t], o.cy[t], o.side)
        assert bx0 == round((o.cx[t] - o.side / 2) * s)
        left = out[t, max(by0, 1):min(by1, out.shape[1] - 1), bx0 - 1]
        right = out[t, max(by0, 1):min(by1, out.shape[1] - 1), bx1]
        assert (left == TRUTH).all() and (right == TRUTH).all(), f"frame {t}"
    w0, w1 = scene.wall
    band = np.abs(np.arange(out.shape[1]) / s - o.cy[0]) > o.side      # rows clear of the object
    assert (out[:, band, w0 * s] == TRUTH).all() and (out[:, band, w1 * s - 1] == TRUTH).all()
    assert (out[:, 0, w0 * s:w1 * s] == TRUTH).all()
    assert (out[:, 5 * s, w0 * s + 2] == WALL_RGB).all()           # the wall's inside stays gray


def test_scene_without_objects_draws_nothing():
    scene = SceneTruth(3, 16, 24, [])
    clip = render(scene)
    np.testing.assert_array_equal(viz.draw_scene_truth(clip, scene, scale=2), viz.upscale(clip, 2))


def test_plot_scene_truth_draws_a_box_per_object_and_the_wall():
    clip, scene = render_prompt("a small red square moving right and a small green circle "
                                "standing still, passing behind a gray wall",
                                dataclasses.replace(WORLD, frames=16), seed=0)
    fig = viz.plot_scene_truth(clip, scene, frames=[0, 3, 7])
    assert len(fig.axes) == 3 and scene.caption in texts(fig)
    for ax in fig.axes:
        assert sum(isinstance(p, Rectangle) for p in ax.patches) == len(scene.objects) + 1


# ---------------------------------------------------------------------------------------------
# The tracker's view


def test_labels_rgb_colours_each_label():
    labels = np.array([[-1, 0, WALL]])
    rgb = viz.labels_rgb(labels)
    assert rgb.shape == (1, 3, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0], [(0, 0, 0), PALETTE["red"], WALL_RGB])


def test_draw_tracks_annotates_what_the_tracker_read():
    clip, _ = render_prompt("a large blue square moving left", WORLD, seed=1)
    tracks = track_clip(clip)
    assert tracks.tracks["blue"].motion == "moving left"
    fig = viz.draw_tracks(clip, tracks, frames=[0, 4, 7])
    found = " ".join(texts(fig))
    assert "moving left" in found and "blue: square, large, moving left" in found
    # the figure reports the reading it is given, not a fresh one
    tracks.tracks["blue"].motion = "bouncing"
    found = " ".join(texts(viz.draw_tracks(clip, tracks)))
    assert "bouncing" in found and "moving left" not in found


def test_draw_tracks_boxes_each_blob_in_each_frame():
    clip, _ = render_prompt("a red circle moving right and a green triangle standing still",
                            WORLD, seed=3)
    fig = viz.draw_tracks(clip, frames=[1, 2, 6])
    strip = fig.axes[:3]
    assert [ax.get_title() for ax in strip] == ["t=1", "t=2", "t=6"]
    for ax in strip:
        assert sum(isinstance(p, Rectangle) for p in ax.patches) == 2
    assert viz.figure_rgb(fig).shape[-1] == 3
