"""Explorers (soralite/explore.py, notebooks 04 and 08): attention is captured once, and moving a
control redraws what the control names, headlessly."""
import numpy as np
import pytest
import torch

from soralite import viz
from soralite.config import get_config
from soralite.models import Denoiser, VideoVAE
from soralite.studies.attention import CROSS, PromptAttention, capture_prompt_attention
from soralite.viz.explorers import Explorer, attention_explorer, clips_explorer, noise_explorer
from soralite.pipeline import Pipeline
from soralite.world import render_prompt

PROMPT = "a red circle moving left"


def small_cfg(**kw):
    """Smoke widths on a 8 x 32 x 32 clip: a (4, 4, 4) token grid."""
    return get_config("smoke", world__frames=8, world__height=32, world__width=32, **kw)


def perturbed_denoiser(cfg, seed=0) -> Denoiser:
    """A fresh denoiser moved off its init, so that its zero-initialized paths carry signal."""
    torch.manual_seed(seed)
    model = Denoiser(cfg)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def pipe():
    cfg = small_cfg()
    torch.manual_seed(0)
    return Pipeline(cfg, VideoVAE(cfg.vae), perturbed_denoiser(cfg), device="cpu")


@pytest.fixture(scope="module")
def explorer(pipe):
    calls = []
    hook = pipe.denoiser.register_forward_hook(lambda *a: calls.append(1))
    w = attention_explorer(pipe, PROMPT, source="render", seed=3)
    w.model_calls = calls
    yield w
    hook.remove()


# ---------------------------------------------------------------------------------------------
# Capture


def test_capture_from_a_pipeline_keeps_every_layer_the_words_and_the_scene(pipe):
    cap = capture_prompt_attention(pipe, PROMPT, source="render", seed=3)
    assert isinstance(cap, PromptAttention)
    assert cap.words == ["a", "red", "circle", "moving", "left"] and cap.word_index("circle") == 2
    assert cap.grid == (4, 4, 4) and cap.layers == [0, 1] and cap.kinds == ["self"]
    N, L = 64, pipe.config.dit.text_max_length
    assert cap.maps[0]["self"].shape == (1, 2, N, N) and cap.maps[1][CROSS].shape == (1, 2, N, L)
    torch.testing.assert_close(cap.maps[0]["self"].sum(-1), torch.ones(1, 2, N))
    cross = cap.maps[0][CROSS][0, :, :, len(cap.words):]                      # padding slots
    assert cross.abs().max() == 0
    clip, scene = render_prompt(PROMPT, pipe.config.world, seed=3)
    assert (cap.clip == clip).all() and scene.objects[0].colour == "red" == cap.scene.objects[0].colour
    again = capture_prompt_attention(pipe, PROMPT, source="render", seed=3)
    torch.testing.assert_close(again.maps[1][CROSS], cap.maps[1][CROSS])
    other = capture_prompt_attention(pipe, PROMPT, source="render", seed=3, noise_level=0.9)
    assert not torch.allclose(other.maps[1]["self"], cap.maps[1]["self"])
    with pytest.raises(ValueError, match="not in the prompt"):
        cap.word_index("square")


def test_capture_generates_a_clip_with_a_pipeline(pipe):
    cap = capture_prompt_attention(pipe, PROMPT, source="generate", seed=0)
    assert cap.clip.shape == (8, 32, 32, 3) and cap.clip.dtype == np.uint8 and cap.scene is None
    assert cap.latents.shape == (1, 4, 4, 8, 8)


def test_capture_from_a_bare_denoiser_and_factorized_attention():
    cfg = small_cfg(dit__attention="factorized")
    cap = capture_prompt_attention(perturbed_denoiser(cfg), PROMPT, config=cfg)
    assert cap.clip is None and cap.kinds == ["spatial", "temporal"]
    spatial = cap.maps[0]["spatial"][0, 0]                                      # (N, N)
    same_frame = torch.arange(64)[:, None] // 16 == torch.arange(64)[None] // 16
    assert spatial[~same_frame].abs().max() == 0                                # within a frame only
    with pytest.raises(ValueError, match="cannot encode a clip"):
        capture_prompt_attention(Denoiser(cfg), PROMPT, config=cfg, clip=np.zeros((8, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="Pipeline or a Denoiser"):
        capture_prompt_attention(torch.nn.Linear(2, 2), PROMPT, config=cfg)
    with pytest.raises(ValueError, match="noise_level"):
        capture_prompt_attention(Denoiser(cfg), PROMPT, config=cfg, noise_level=1.5)


# ---------------------------------------------------------------------------------------------
# The attention explorer


def test_attention_explorer_is_an_interactive_with_its_controls_first(explorer):
    import ipywidgets as widgets

    assert isinstance(explorer, (Explorer, widgets.interactive))
    names = list(explorer.controls)
    assert names == ["layer", "kind", "head", "query_t", "query_y", "query_x", "word"]
    assert explorer.children[-1] is explorer.out and isinstance(explorer.out, widgets.Output)
    assert explorer.children[1].options == ("self", CROSS)
    assert explorer.children[6].value == 1                                      # "red", not "a"
    assert explorer.draws == 1 and explorer.png.startswith(b"\x89PNG")


def test_moving_a_control_redraws_what_it_names_without_running_the_model(explorer):
    cap, c = explorer.capture, explorer.controls
    calls = len(explorer.model_calls)
    c["layer"].value, c["kind"].value, c["head"].value = 0, "self", "mean"
    c["query_t"].value, c["query_y"].value, c["query_x"].value = 2, 2, 2
    before, png, draws = explorer.drawn.copy(), explorer.png, explorer.draws
    np.testing.assert_allclose(before, viz.attention_to_keys(cap.maps[0]["self"], cap.grid, (2, 2, 2)))

    explorer.children[0].value = 1                                              # the layer slider
    assert explorer.draws == draws + 1 and explorer.png != png
    np.testing.assert_allclose(explorer.drawn, viz.attention_to_keys(cap.maps[1]["self"], cap.grid, (2, 2, 2)))
    assert not np.allclose(explorer.drawn, before)

    c["query_x"].value = 0
    np.testing.assert_allclose(explorer.drawn, viz.attention_to_keys(cap.maps[1]["self"], cap.grid, (2, 2, 0)))
    c["head"].value = 1
    np.testing.assert_allclose(explorer.drawn, viz.attention_to_keys(cap.maps[1]["self"], cap.grid, (2, 2, 0), 1))
    assert explorer.figure.axes[2].patches                                      # the query is outlined

    c["kind"].value = CROSS
    c["word"].value = cap.word_index("circle")
    np.testing.assert_allclose(explorer.drawn, viz.word_heatmaps(cap.maps[1][CROSS], cap.grid, [2], 1)[0])
    assert "'circle'" in explorer.figure._suptitle.get_text()
    assert len(explorer.model_calls) == calls                                   # only redraws


def test_attention_explorer_takes_a_capture_and_needs_a_prompt(explorer, pipe):
    w = attention_explorer(explorer.capture)
    assert w.capture is explorer.capture and w.draws == 1
    with pytest.raises(ValueError, match="needs a prompt"):
        attention_explorer(pipe)


# ---------------------------------------------------------------------------------------------
# The noise explorer


def test_noise_explorer_redraws_the_noisy_clip():
    clip, _ = render_prompt(PROMPT, small_cfg().world)
    w = noise_explorer(clip, schedules=("linear", "flow"), seed=2)
    assert list(w.controls) == ["u", "schedule"] and w.children[1].options == ("linear", "flow")
    np.testing.assert_array_equal(w.drawn, viz.noisy_clip(clip, 0.5, "linear", seed=2))
    w.children[0].value = 0.0                                                   # linear t=0: sigma = 0.01
    assert 0 < np.abs(w.drawn.astype(int) - clip).max() <= 8
    w.children[0].value = 0.3
    linear = w.drawn.copy()
    w.children[1].value = "flow"
    np.testing.assert_array_equal(w.drawn, viz.noisy_clip(clip, 0.3, "flow", seed=2))
    assert not np.array_equal(w.drawn, linear) and w.draws == 4
    tensor_clip = torch.as_tensor(clip).permute(3, 0, 1, 2).float() / 127.5 - 1   # (3, T, H, W)
    assert noise_explorer(tensor_clip).drawn.shape == clip.shape
    with pytest.raises(ValueError, match="unknown schedules"):
        noise_explorer(clip, schedules=("linear", "edm"))


def test_clips_explorer_shows_the_clip_of_each_label():
    a, _ = render_prompt(PROMPT, small_cfg().world)
    b = a[::-1].copy()
    w = clips_explorer({"0.2": a, "0.8": b}, description="strength")
    assert list(w.controls) == ["choice"] and w.children[0].options == ("0.2", "0.8")
    np.testing.assert_array_equal(w.drawn, a)
    w.children[0].value = "0.8"
    np.testing.assert_array_equal(w.drawn, b)
    assert w.draws == 2 and w.png.startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="at least one clip"):
        clips_explorer({})


# ---------------------------------------------------------------------------------------------
# Measuring attention on objects


def still_square_scene(colour="red", T=8, H=32, W=32, side=8, cx=12.0, cy=20.0):
    """A still square whose box is exactly the token (y=2, x=1) of a (4, 4, 4) grid, 8 px a token."""
    from soralite.world import ObjectTruth, SceneTruth

    obj = ObjectTruth(colour, "square", "large", "standing still", side, 0.0, np.full(T, cx), np.full(T, cy))
    return SceneTruth(T, H, W, [obj], None, with_size=False)


def test_object_masks_from_the_scene_and_from_the_tracker_cover_the_object():
    from soralite.studies.attention import object_masks_from_scene, object_masks_from_tracks
    from soralite.world import render

    scene = still_square_scene()
    clip = render(scene)
    truth = object_masks_from_scene(scene)["red"]
    assert truth.shape == (8, 32, 32) and (truth == (clip == [230, 50, 50]).all(-1)).all()
    assert truth[:, 16:24, 8:16].all() and truth.sum() == 8 * 64
    boxes = object_masks_from_tracks(clip)
    assert list(boxes) == ["red"] and (boxes["red"] == truth).all()                 # a square is its box


def test_object_word_indices_find_each_objects_words():
    from soralite.studies.attention import object_word_indices

    words = "a large red circle moving left and a blue square standing still".split()
    assert object_word_indices(words, "red") == {"a": 0, "colour": 2, "shape": 3, "motion": 5}
    assert object_word_indices(words, "blue") == {"a": 7, "colour": 8, "shape": 9, "motion": 11}
    with pytest.raises(ValueError, match="no word 'green'"):
        object_word_indices(words, "green")


def test_word_object_shares_measure_attention_on_the_object_against_chance():
    from soralite.models import AttentionMaps
    from soralite.studies.attention import object_masks_from_scene, word_object_shares
    from soralite.models.patchify import grid_positions

    scene = still_square_scene()
    words = "a red square standing still".split()
    grid, N, L = (4, 4, 4), 64, 8
    cross = torch.full((1, 2, N, L), 1.0 / L)                                    # (1, heads, N, L)
    on_object = [viz.query_index(grid, (t, 2, 1)) for t in range(4)]
    cross[0, :, :, 1] = 0.0
    cross[0, :, on_object, 1] = 1.0                                              # "red": only on the object
    maps = AttentionMaps({0: {"self": torch.eye(N)[None, None].expand(1, 2, N, N), CROSS: cross}},
                         grid, grid_positions(grid))
    cap = PromptAttention(" ".join(words), words, maps, torch.zeros(1, 4, 4, 8, 8), 0.5)
    rows = word_object_shares(cap, object_masks_from_scene(scene))
    assert len(rows) == 1 and rows[0]["layer"] == 0 and rows[0]["object"] == "red"
    assert rows[0]["colour"] == pytest.approx(1.0)                               # all of it on the object
    assert rows[0]["chance"] == pytest.approx(1 / 16)                            # 1 patch of 16 a frame
    assert rows[0]["shape"] == pytest.approx(1 / 16) == rows[0]["a"]             # uniform: chance
    assert rows[0]["motion"] == pytest.approx(1 / 16)
