"""Pictures of attention, noise, latents and trajectories (soralite/viz.py, notebook 08): the maps
land where the weights are, distances measure what they claim, figures draw what they say."""
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from soralite import viz
from soralite.config import get_config
from soralite.models.patchify import grid_positions
from soralite.diffusion import Trajectory
from soralite.world import render_prompt

GRID = (2, 3, 4)                                   # (t, h, w): 24 tokens
N = int(np.prod(GRID))


def one_hot_attention(targets, heads=2, B=1) -> torch.Tensor:
    """Self-attention `(B, heads, N, N)` where query i of head h looks only at key targets[h][i]."""
    attn = torch.zeros(B, heads, N, N)
    for h in range(heads):
        attn[:, h, torch.arange(N), torch.as_tensor(targets[h])] = 1.0
    return attn


def random_attention(B=2, heads=3, M=N, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, heads, N, M, generator=g).softmax(-1)                  # (B, h, N, M)


# ---------------------------------------------------------------------------------------------
# Maps over the token grid


def test_query_index_follows_the_patchify_order_and_rejects_outside_positions():
    pos = grid_positions(GRID)                                                   # (N, 3)
    for i in (0, 5, 13, N - 1):
        assert viz.query_index(GRID, tuple(pos[i].tolist())) == i
        assert viz.query_index(GRID, i) == i
    with pytest.raises(ValueError, match="outside the token grid"):
        viz.query_index(GRID, (2, 0, 0))
    with pytest.raises(ValueError, match="out of range"):
        viz.query_index(GRID, N)


def test_attention_to_keys_puts_the_weight_on_the_attended_key():
    target = viz.query_index(GRID, (1, 2, 3))
    attn = one_hot_attention([[target] * N, [0] * N])                            # head 0 -> (1,2,3), head 1 -> 0
    heat = viz.attention_to_keys(attn, GRID, (0, 1, 1), head=0)
    assert heat.shape == GRID and heat[1, 2, 3] == 1 and heat.sum() == 1
    mean = viz.attention_to_keys(attn, GRID, (0, 1, 1), head="mean")
    assert mean[1, 2, 3] == 0.5 and mean[0, 0, 0] == 0.5
    assert list(mean.sum((1, 2))) == [0.5, 0.5]                                  # mass per frame
    with pytest.raises(ValueError, match="head 2 not allowed"):
        viz.head_weights(attn, 2)


def test_word_heatmaps_are_the_columns_of_cross_attention():
    cross = random_attention(B=1, heads=2, M=5)                                  # (1, 2, N, 5)
    maps = viz.word_heatmaps(cross, GRID, [3, 1], head=1)
    assert maps.shape == (2, *GRID)
    np.testing.assert_allclose(maps[0].ravel(), cross[0, 1, :, 3].numpy())
    np.testing.assert_allclose(maps[1].ravel(), cross[0, 1, :, 1].numpy())
    with pytest.raises(ValueError, match="out of range"):
        viz.word_heatmaps(cross, GRID, [5])


def test_upsample_and_overlay_put_each_token_on_its_patch():
    heat = np.zeros(GRID)
    heat[1, 2, 3] = 1.0                                                          # the last patch of frame 1
    big = viz.upsample_heat(heat, (4, 12, 16))                                   # 2 frames, 4x4 pixels a token
    assert big.shape == (4, 12, 16)
    assert big[2:, 8:, 12:].min() == 1 and big.sum() == 2 * 4 * 4
    clip = np.zeros((4, 12, 16, 3), np.uint8)
    out = viz.overlay_heatmap(clip, heat, alpha=1.0)
    assert out.shape == clip.shape and out.dtype == np.uint8
    hot, cold = out[3, 10, 14], out[0, 0, 0]
    assert hot.sum() > cold.sum() + 300                                          # inferno: bright vs black
    assert (viz.overlay_heatmap(clip, heat, alpha=0.0) == clip).all()
    assert viz.grid_frames(16, 8) == list(range(0, 16, 2))


def test_plot_attention_outlines_the_query_and_bars_the_mass_per_frame():
    attn = random_attention(B=1)
    clip = np.zeros((4, 12, 16, 3), np.uint8)
    fig = viz.plot_attention(attn, GRID, (1, 0, 2), head=1, clip=clip)
    assert isinstance(fig, Figure) and len(fig.axes) == GRID[0] + 1
    query_axes = fig.axes[1]
    rects = [p for p in query_axes.patches if isinstance(p, Rectangle)]
    assert len(rects) == 1 and rects[0].get_xy() == (2 * 4 - 0.5, -0.5)         # patch (y=0, x=2), 4 px
    bars = [p.get_height() for p in fig.axes[-1].patches]
    np.testing.assert_allclose(bars, viz.attention_to_keys(attn, GRID, (1, 0, 2), 1).sum((1, 2)), rtol=1e-6)
    assert viz.figure_rgb(fig).ndim == 3


def test_plot_word_attention_draws_a_row_per_word_and_a_clip_per_word():
    cross = random_attention(B=1, heads=2, M=4)
    clip = np.zeros((4, 12, 16, 3), np.uint8)
    fig = viz.plot_word_attention(cross, GRID, ["a", "red", "circle", "left"], [1, 2], clip=clip)
    assert len(fig.axes) == 2 * GRID[0]
    assert fig.axes[0].get_ylabel() == "'red'" and fig.axes[GRID[0]].get_ylabel() == "'circle'"
    clips = viz.word_attention_clips(clip, cross, GRID, [1, 2])
    assert clips.shape == (2, 4, 12, 16, 3) and clips.dtype == np.uint8 and clips.any()


# ---------------------------------------------------------------------------------------------
# Attention distance and attention on an object


def test_attention_distance_of_known_patterns():
    pos = grid_positions(GRID)                                                   # (N, 3)
    to_self = list(range(N))
    to_origin = [0] * N                                                          # every query -> (0, 0, 0)
    space, time = viz.attention_distance(one_hot_attention([to_self, to_origin]), pos)
    assert space.shape == time.shape == (2,)
    assert space[0] == 0 and time[0] == 0
    expected_space = pos[:, 1:].double().norm(dim=-1).mean()
    expected_time = pos[:, 0].double().mean()
    torch.testing.assert_close(space[1], expected_space)
    torch.testing.assert_close(time[1], expected_time)
    space_px, time_fr = viz.attention_distance(one_hot_attention([to_self, to_origin]), pos, (2, 8, 8))
    torch.testing.assert_close(space_px[1], 8 * expected_space)
    torch.testing.assert_close(time_fr[1], 2 * expected_time)
    with pytest.raises(ValueError, match="self-attention"):
        viz.attention_distance(random_attention(M=5), pos)


def test_uniform_attention_reaches_farther_than_local_attention():
    pos = grid_positions(GRID)
    uniform = torch.full((1, 1, N, N), 1.0 / N)
    local = one_hot_attention([list(range(N))], heads=1)
    assert viz.attention_distance(uniform, pos)[0] > viz.attention_distance(local, pos)[0]


def test_token_spacing_is_compression_times_patch():
    cfg = get_config("tiny")
    assert viz.token_spacing(cfg) == (2.0, 8.0, 8.0)


def test_patch_coverage_and_attention_share():
    mask = np.zeros((4, 12, 16), bool)
    mask[:2, :4, :4] = True                                                      # exactly token (0, 0, 0)
    mask[2:, 4:6, 4:8] = True                                                    # half of token (1, 1, 1)
    cov = viz.patch_coverage(mask, GRID)
    assert cov.shape == GRID and cov[0, 0, 0] == 1 and cov[1, 1, 1] == 0.5 and cov.sum() == 1.5
    w = np.zeros(GRID)
    w[0, 0, 0] = 3.0
    w[1, 2, 3] = 1.0
    share, chance = viz.attention_share(w, cov)
    assert share == pytest.approx(0.75) and chance == pytest.approx(1.5 / N)
    assert viz.attention_share(np.ones(GRID), cov)[0] == pytest.approx(chance)   # uniform = chance
    with pytest.raises(ValueError, match="does not divide"):
        viz.patch_coverage(np.zeros((3, 12, 16), bool), GRID)
    with pytest.raises(ValueError, match="no attention"):
        viz.attention_share(np.zeros(GRID), cov)


def test_plot_attention_distance_has_a_point_per_head_and_layer():
    rng = np.random.default_rng(0)
    d = {"self": (rng.random((3, 4)), rng.random((3, 4)))}
    fig = viz.plot_attention_distance(d)
    assert len(fig.axes) == 2
    dots = fig.axes[0].lines[0]
    np.testing.assert_allclose(dots.get_ydata(), d["self"][0].ravel())
    np.testing.assert_allclose(fig.axes[1].lines[1].get_ydata(), d["self"][1].mean(1))
    fig = viz.plot_attention_distance(d, layers=[2, 4, 6], uniform=(0.7, 0.3))
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), np.repeat([2, 4, 6], 4))
    assert fig.axes[1].lines[-1].get_ydata()[0] == 0.3                             # the dashed reference


# ---------------------------------------------------------------------------------------------
# Noise, latents, samples, trajectories


def test_schedule_alpha_sigma_matches_the_schedules():
    from soralite import diffusion as S

    ab = S.alphas_cumprod(S.get_betas("cosine", 1000))
    a, s = viz.schedule_alpha_sigma("cosine", 0.5)
    assert a == pytest.approx(ab[500].sqrt().item()) and s == pytest.approx((1 - ab[500]).sqrt().item())
    assert viz.schedule_alpha_sigma("flow", 0.25) == pytest.approx((0.75, 0.25))
    a3, s3 = viz.schedule_alpha_sigma("flow", 0.25, shift=3.0)
    assert s3 > 0.25                                                              # shift > 1: more noise
    with pytest.raises(ValueError, match="unknown schedule"):
        viz.schedule_alpha_sigma("quadratic", 0.5)


def test_noisy_clip_goes_from_the_clip_to_noise():
    clip, _ = render_prompt("a red circle moving left", get_config("smoke").world)
    assert (viz.noisy_clip(clip, 0.0, "flow") == clip).all()
    far = viz.noisy_clip(clip, 1.0, "flow", seed=3)
    assert far.shape == clip.shape and np.abs(far.astype(int) - clip).mean() > 40
    assert (viz.noisy_clip(clip, 0.6, "linear", seed=1) == viz.noisy_clip(clip, 0.6, "linear", seed=1)).all()
    mid_lin, mid_cos = (np.abs(viz.noisy_clip(clip, 0.5, s).astype(int) - clip).mean()
                        for s in ("linear", "cosine"))
    assert mid_lin > mid_cos                                                      # linear destroys earlier
    fig = viz.plot_noisy_clip(clip, 0.3, "cosine")
    assert fig._suptitle.get_text().startswith("cosine, u=0.30: alpha=")


def test_plot_noise_schedules_draws_each_schedule_and_shift():
    fig = viz.plot_noise_schedules(shifts=(1.0, 3.0))
    ax_ab, ax_snr = fig.axes
    labels = [l.get_label() for l in ax_ab.lines]
    assert labels == ["linear", "cosine", "sigmoid", "flow, shift 1", "flow, shift 3"]
    for line in ax_ab.lines:
        y = line.get_ydata()
        assert y[0] > 0.99 and y[-1] < 0.01 and (np.diff(y) <= 1e-12).all()      # data -> noise
    with pytest.raises(ValueError, match="unknown schedules"):
        viz.plot_noise_schedules(["linear", "karras"])


def test_plot_latent_channels_draws_each_channel_on_a_symmetric_scale():
    z = torch.randn(4, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    fig = viz.plot_latent_channels(z)
    assert len(fig.axes) == 4 * 3
    im = fig.axes[5].images[0]                                                    # channel 1, frame 2
    np.testing.assert_allclose(im.get_array(), z[1, 2].numpy())
    lo, hi = im.get_clim()
    assert lo == -hi == -z[1].abs().max().item()
    with pytest.raises(ValueError, match="index the batch"):
        viz.plot_latent_channels(z[None])


def test_plot_samples_titles_each_row_with_its_caption():
    clips = np.zeros((2, 4, 8, 8, 3), np.uint8)
    fig = viz.plot_samples(clips, ["a red circle", "a blue square"], frames=[0, 3])
    assert len(fig.axes) == 4
    assert [sf._suptitle.get_text() for sf in fig.subfigs] == ["a red circle", "a blue square"]
    with pytest.raises(ValueError, match="one caption a clip"):
        viz.plot_samples(clips, ["only one"])


def test_trajectory_clips_and_steps_animation():
    traj = Trajectory()
    for k in range(3):                                                            # x0 guesses grow brighter
        traj.pred_original_samples.append(torch.full((2, 3, 4, 8, 8), -1.0 + k))
        traj.samples.append(torch.zeros(2, 3, 4, 8, 8))
    clips = viz.trajectory_clips(traj)
    assert clips.shape == (3, 4, 8, 8, 3) and clips.dtype == np.uint8
    assert list(clips[:, 0, 0, 0, 0]) == [0, 128, 255]
    decoded = viz.trajectory_clips(traj, decode=lambda z: np.zeros((len(z), 4, 8, 8, 3), np.uint8))
    assert decoded.shape == (3, 4, 8, 8, 3)
    anim = viz.steps_animation(clips, frames=[0, 3], pad=2)
    assert anim.shape == (3, 8, 2 * 8 + 2, 3)
    assert (anim[:, :, 8:10] == 255).all() and (anim[2, :, :8] == 255).all()
