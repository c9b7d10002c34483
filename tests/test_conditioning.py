"""Conditioning on frames (soralite/diffusion/conditioning.py, soralite/verbs.py, notebook 09): with
every level equal and nothing given the DiT is the shared-t model exactly; the sampler keeps given
latents exactly; the loss ignores given frames; each task draws the frames it should; every verb
returns clips of the contracted shape, and bad input gets a clear error."""
import copy
import json

import numpy as np
import pytest
import torch

from soralite.cli import _load_pipeline, build_parser, main
from soralite.config import get_config
from soralite.diffusion import (TASKS, Known, diffusion_loss, draw_tasks, make_scheduler,
                                next_window, parse_tasks, sample)
from soralite.eval.tasks import _speed_ratio, best_overall, long_row, speed_fit
from soralite.language import is_descriptive, parse_description, parse_prompt, turned_round
from soralite.models import Denoiser, DiT
from soralite.pipeline import Pipeline
from soralite.quickstart import quickstart
from soralite.world import render, render_prompt, track_clip
from soralite.world.scenes import ObjectTruth, SceneTruth

PROMPT = "a red circle moving left"


def jiggle(model, seed=0):
    """Random weights everywhere, zero-initialized layers included, so nothing is trivially 0."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return model.eval()


def small_dit(**kw):
    cfg = get_config("smoke").dit
    return jiggle(DiT(cfg, in_channels=4))


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    out = tmp_path_factory.mktemp("cond") / "run"
    quickstart(get_config("smoke", overrides={"world.colours": ["red", "green", "blue", "yellow"]}),
               out, progress=False, log=lambda *_: None)
    return Pipeline.from_pretrained(out)


# ----------------------------------------------------------------------------------------------
# The model


def test_equal_levels_and_nothing_given_equal_the_shared_t_model():
    dit = small_dit()
    x, text = torch.randn(3, 4, 6, 8, 8), torch.randn(3, 5, dit.cfg.text_dim)
    t = torch.tensor([0.1, 0.5, 0.9])
    shared = dit(x, t, text)
    per_frame = dit(x, t[:, None].expand(3, 6), text, given=torch.randn_like(x),
                    given_mask=torch.zeros(3, 6, dtype=torch.bool))
    assert torch.equal(per_frame, shared)


def test_per_frame_levels_and_the_given_channel_change_the_output():
    dit = small_dit()
    x, text = torch.randn(2, 4, 6, 8, 8), torch.randn(2, 5, dit.cfg.text_dim)
    levels = torch.full((2, 6), 0.5)
    base = dit(x, levels, text)
    levels2 = levels.clone()
    levels2[:, 0] = 0.0                                          # frame 0 given, clean
    assert not torch.allclose(dit(x, levels2, text), base)
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[:, 0] = True
    assert not torch.allclose(dit(x, levels, text, given=x, given_mask=mask), base)
    with pytest.raises(ValueError, match="per-frame t must be"):
        dit(x, torch.zeros(2, 5), text)


def test_a_fresh_dit_ignores_the_given_channel():
    dit = DiT(get_config("smoke").dit, in_channels=4)
    assert not dit.cond_embedder.proj.weight.any() and dit.cond_embedder.proj.bias is None


# ----------------------------------------------------------------------------------------------
# Training: tasks and the loss


def test_tasks_draw_the_frames_they_should():
    g = torch.Generator().manual_seed(0)
    T = 8
    for name in TASKS:
        tb = draw_tasks(400, T, {name: 1.0}, g)
        given = tb.given
        assert (tb.task == TASKS.index(name)).all()
        if name in ("text", "independent"):
            assert not given.any()
        if name == "first":
            k = given.sum(1)
            assert (k >= 1).all() and (k <= T // 2).all() and given[:, 0].all()
            assert all(bool(row[:n].all()) for row, n in zip(given, k))
        if name == "last":
            assert given[:, -1].all() and (given.sum(1) <= T // 2).all()
        if name == "ends":
            assert given[:, 0].all() and given[:, -1].all() and (given.sum(1) <= 2 * (T // 4)).all()
        if name == "random":
            assert given.any(1).all() and (~given).any(1).all()
        assert (tb.given_level[~given] == 0).all() and (tb.given_level <= 0.1).all()
    assert (draw_tasks(400, T, {"independent": 1.0}, g).independent).all()
    mixed = draw_tasks(4000, T, parse_tasks("text:3,first:1"), g)
    share = (mixed.task == TASKS.index("text")).float().mean().item()
    assert 0.72 < share < 0.78
    noisy = (mixed.given_level > 0).any(1)[mixed.given.any(1)].float().mean().item()
    assert 0.4 < noisy < 0.6                                      # about half, lightly noised


def test_bad_task_weights_are_named():
    for spec, message in (("text:1,jump:2", "jump"), ("text:-1", ">= 0"), ("text:0", "> 0"),
                          ("first", "task:weight")):
        with pytest.raises(ValueError, match=message):
            parse_tasks(spec)
    with pytest.raises(ValueError, match="train.tasks"):
        get_config("smoke", ["train.tasks=text:1,fly:1"])


def test_the_loss_ignores_given_frames():
    cfg = get_config("smoke")
    model = Denoiser(cfg)                                         # fresh: outputs exactly 0
    scheduler = make_scheduler(cfg)
    x0 = torch.randn(4, 4, 2, 4, 4)
    ids, mask = model.encode_prompts([PROMPT] * 4)
    tasks = draw_tasks(4, 2, {"first": 1.0}, torch.Generator().manual_seed(1))
    assert tasks.given[:, 0].all() and not tasks.given[:, 1].any()

    def loss(x):
        return diffusion_loss(model, scheduler, x, ids, mask, torch.Generator().manual_seed(0),
                              tasks=tasks)[0]
    changed = x0.clone()
    changed[:, :, 0] += 5.0                                       # a given frame's target
    assert torch.equal(loss(changed), loss(x0))
    changed[:, :, 1] += 5.0                                       # a frame to make
    assert not torch.equal(loss(changed), loss(x0))


# ----------------------------------------------------------------------------------------------
# Sampling


def test_the_sampler_keeps_given_latents_exactly():
    cfg = get_config("smoke")
    scheduler = make_scheduler(cfg, for_sampling=True)
    known = torch.randn(2, 4, 6, 4, 4)
    mask = torch.tensor([[True, False, False, True, False, False]] * 2)
    seen = []

    def model_fn(x, t, cond):
        seen.append((t.clone(), cond["given_mask"].clone()))
        assert torch.equal(x[:, :, 0], known[:, :, 0])            # put back before every call
        return torch.randn_like(x)
    out = sample(model_fn, scheduler, known.shape, cond={"x": torch.zeros(2)}, steps=4, seed=0,
                 known=Known(known, mask))
    assert torch.equal(out[:, :, mask[0]], known[:, :, mask[0]])
    assert not torch.equal(out[:, :, ~mask[0]], known[:, :, ~mask[0]])
    t, given = seen[0]
    assert t.shape == (2, 6) and (t[mask] == 0).all() and (t[~mask] > 0.5).all()
    assert torch.equal(given, mask)


@pytest.mark.parametrize("objective", ["flow", "ddpm"])
def test_history_guidance_hides_the_given_frames_from_the_unconditional_branch_only(objective):
    cfg = get_config("smoke", overrides={"train.objective": objective})
    scheduler = make_scheduler(cfg, for_sampling=True)
    known = torch.randn(2, 4, 6, 4, 4)
    mask = torch.tensor([[True, True, False, False, False, False]] * 2)
    calls = []

    def model_fn(x, t, cond):
        calls.append((x.clone(), t.clone(), cond["given_mask"].clone()))
        return torch.zeros_like(x)
    kw = dict(cond={"x": torch.ones(2)}, uncond={"x": torch.zeros(2)}, guidance_scale=2.0, steps=3,
              seed=0, known=Known(known, mask))
    out = sample(model_fn, scheduler, known.shape, guide_given=True, **kw)
    x, t, given = calls[0]                                         # the doubled batch [uncond, cond]
    assert x.shape[0] == 4 and torch.equal(given[2:], mask) and not given[:2].any()
    assert torch.equal(x[2:, :, :2], known[:, :, :2])              # cond: the given frames, clean
    assert not torch.allclose(x[:2, :, :2], known[:, :, :2])        # uncond: noised like the rest
    assert (t[:2] == t[:2, -1:]).all() and (t[2:][mask] == 0).all()  # one level for all frames
    assert torch.equal(out[:, :, :2], known[:, :, :2])             # the result keeps them exactly
    calls.clear()
    sample(model_fn, scheduler, known.shape, **kw)                  # the default: text guidance only
    x, t, given = calls[0]
    assert torch.equal(given[:2], mask) and torch.equal(x[:2], x[2:])


def test_history_guidance_can_guide_on_the_given_frames_alone():
    # a model whose output says which branch it is: text (t) and marked given frames (g) add up
    cfg = get_config("smoke")
    scheduler = make_scheduler(cfg, for_sampling=True)
    known = torch.randn(2, 4, 6, 4, 4)
    mask = torch.tensor([[True, True, False, False, False, False]] * 2)
    seen = []

    def model_fn(x, t, cond):
        seen.append(cond["x"].tolist())
        text = cond["x"].view(-1, 1, 1, 1, 1)                         # 1 for the prompt, 0 for ""
        marked = cond["given_mask"].any(1).float().view(-1, 1, 1, 1, 1) if "given_mask" in cond else 0.0
        return (3.0 * text + 5.0 * marked).expand_as(x).clone()

    def pred(**extra):
        seen.clear()
        captured = {}
        step = scheduler.step

        def spy(p, *a, **k):
            captured["p"] = p
            return step(p, *a, **k)
        scheduler.step = spy
        try:
            sample(model_fn, scheduler, known.shape, cond={"x": torch.ones(2)}, uncond={"x": torch.zeros(2)},
                   steps=1, seed=0, known=Known(known, mask), guide_given=True, **extra)
        finally:
            scheduler.step = step
        return float(captured["p"][0, 0, -1, 0, 0]), seen[0]
    # u = 0, c_text = 3, c_text_frames = 8
    # one weight: u + 2 (c_text_frames - u) = 16; the branch without sees neither text nor frames
    assert pred(guidance_scale=2.0) == (16.0, [0.0, 0.0, 1.0, 1.0])
    # the frames alone at 3: c_text + 3 (c_text_frames - c_text) = 18, whatever the text's weight;
    # the branch without the frames keeps the prompt
    assert pred(guidance_scale=2.0, given_scale=3.0) == (18.0, [1.0, 1.0, 1.0, 1.0])
    assert pred(guidance_scale=1.0, given_scale=3.0)[0] == 18.0
    assert pred(guidance_scale=2.0, given_scale=1.0)[0] == 8.0       # weight 1: the conditional
    assert pred(guidance_scale=1.0)[0] == 8.0                        # no guidance at all
    # with nothing given, given_scale changes nothing: the text is guided as ever (u + 2 x 3 = 6)
    seen.clear()
    plain = sample(model_fn, scheduler, known.shape, cond={"x": torch.ones(2)}, uncond={"x": torch.zeros(2)},
                   steps=1, seed=0, guidance_scale=2.0, given_scale=3.0, guide_given=True,
                   noise=torch.zeros(known.shape))
    assert torch.allclose(plain, sample(model_fn, scheduler, known.shape, cond={"x": torch.ones(2)},
                                        uncond={"x": torch.zeros(2)}, steps=1, seed=0, guidance_scale=2.0,
                                        noise=torch.zeros(known.shape)))


def test_an_edit_at_strength_zero_returns_the_input_and_one_runs_the_whole_schedule():
    cfg = get_config("smoke")
    scheduler = make_scheduler(cfg, for_sampling=True)
    init = torch.randn(1, 4, 2, 4, 4)
    calls = []

    def model_fn(x, t, cond):
        calls.append(float(t[0]))
        return torch.zeros_like(x)
    assert torch.equal(sample(model_fn, scheduler, init.shape, steps=4, seed=0, strength=0.0,
                              init=init), init)
    sample(model_fn, scheduler, init.shape, steps=4, seed=0, strength=0.5, init=init)
    assert len(calls) == 2 and calls[0] < 1.0
    with pytest.raises(ValueError, match="strength must be in"):
        sample(model_fn, scheduler, init.shape, steps=4, strength=1.5, init=init)


@pytest.mark.parametrize("known,direction,windows", [
    ([1] * 8 + [0] * 8, "forward", [(4, 12), (8, 16)]),           # extend: 4 frames of context
    ([0] * 8 + [1] * 8, "backward", [(4, 12), (0, 8)]),
    ([1] * 8 + [0] * 4 + [1] * 8, "forward", [(6, 14)]),          # connect: both ends in view
    ([1] + [0] * 7, "forward", [(0, 8)]),                         # animate
    ([0] * 20, "forward", [(0, 8), (4, 12), (8, 16), (12, 20)]),  # a long video
])
def test_windows_go_where_the_task_needs_them(known, direction, windows):
    known, placed = torch.tensor(known, dtype=torch.bool), []
    while not known.all():
        s, e = next_window(known, 8, 4, direction)
        placed.append((s, e))
        known[s:e] = True
    assert placed == windows


# ----------------------------------------------------------------------------------------------
# The verbs


def test_every_verb_returns_the_contracted_shapes(pipe):
    w = pipe.config.world
    clip, _ = render_prompt(PROMPT, w, seed=1)                    # (T, H, W, 3)
    T = w.frames
    assert pipe.generate(PROMPT, frames=3 * T).shape == (1, 3 * T, w.height, w.width, 3)
    out = pipe.animate(clip[0], PROMPT)
    assert out.shape == (1, T, w.height, w.width, 3) and np.array_equal(out[0, 0], clip[0])
    both = pipe.animate(np.stack([clip[0], clip[1]]), [PROMPT, "a blue square moving up"])
    assert both.shape[0] == 2
    for direction in ("forward", "backward"):
        out = pipe.extend(clip, PROMPT, frames=4, direction=direction)
        assert out.shape == (1, T + 4, w.height, w.width, 3)
        given = out[0, :T] if direction == "forward" else out[0, 4:]
        assert np.array_equal(given, clip)
    out = pipe.connect(clip, clip[::-1].copy(), PROMPT, frames=2)
    assert out.shape == (1, 2 * T + 2, w.height, w.width, 3)
    assert np.array_equal(out[0, :T], clip) and np.array_equal(out[0, T + 2:], clip[::-1])
    known = np.array([True, True, False, False])
    out = pipe.fill(clip, known, PROMPT)
    assert out.shape == (1, T, w.height, w.width, 3) and np.array_equal(out[0, :2], clip[:2])
    assert pipe.loop(PROMPT).shape == (1, T, w.height, w.width, 3)
    assert np.array_equal(pipe.edit(clip, PROMPT, strength=0.0)[0], pipe.decode_latents(pipe.encode_clips(clip[None]))[0])
    assert pipe.edit(clip, PROMPT, strength=0.5).shape == (1, T, w.height, w.width, 3)


@pytest.mark.parametrize("prompt, back", [
    ("a red circle moving left", "a red circle moving right"),
    ("a large blue square moving up and a green triangle moving right",
     "a large blue square moving down and a green triangle moving left"),
    ("a red circle bouncing and a blue square falling, passing behind a gray wall",
     "a red circle bouncing and a blue square falling, passing behind a gray wall"),
    ("a large red circle that starts at the top left and moves quickly right, on a black background",
     "a large red circle that starts at the top left and moves quickly left, on a black background"),
    ("a green square standing still", "a green square standing still"),
])
def test_a_prompt_turned_round_sends_straight_movers_back_and_keeps_the_rest(prompt, back):
    assert turned_round(prompt) == back
    assert turned_round(back) == prompt
    (parse_description if is_descriptive(back) else parse_prompt)(back)   # still in the language


def test_a_loop_makes_its_way_back_from_the_prompt_turned_round(pipe, monkeypatch):
    seen = []
    fill = pipe.fill_latents

    def spy(timeline, known, prompts, *args, **kwargs):
        seen.append(list(prompts))
        return fill(timeline, known, prompts, *args, **kwargs)
    monkeypatch.setattr(pipe, "fill_latents", spy)
    pipe.loop(["a red circle moving left", "a blue square bouncing"])
    assert seen[-1] == ["a red circle moving right", "a blue square bouncing"]


def test_the_best_edit_strength_for_both_edits_is_the_one_whose_worse_edit_is_best():
    def row(s, takes, keeps):
        return {"strength": s, "takes_new": takes, "keeps_trajectory": keeps, "both": min(takes, keeps)}
    curves = {"colour": [row(0.4, 1.0, 1.0), row(0.5, 1.0, 0.95), row(0.6, 1.0, 0.8)],
              "shape": [row(0.4, 0.8, 1.0), row(0.5, 0.9, 1.0), row(0.6, 0.95, 0.92)]}
    assert best_overall(curves) == 0.5                   # each attribute alone: 0.4 and 0.6
    curves["shape"][1] = row(0.5, 0.8, 1.0)              # a tie on the worse edit: the larger mean
    assert best_overall(curves) == 0.4
    assert best_overall({}) is None


def test_the_same_seed_gives_the_same_extension(pipe):
    clip, _ = render_prompt(PROMPT, pipe.config.world, seed=1)
    a = pipe.extend(clip, PROMPT, frames=4, seed=3)
    assert np.array_equal(a, pipe.extend(clip, PROMPT, frames=4, seed=3))
    assert not np.array_equal(a, pipe.extend(clip, PROMPT, frames=4, seed=4))


def test_history_guidance_changes_an_extension_and_keeps_the_given_clip(pipe):
    pipe = copy.deepcopy(pipe)
    jiggle(pipe.dit)                                    # a smoke run's DiT barely reads its input
    clip, _ = render_prompt(PROMPT, pipe.config.world, seed=1)
    plain = pipe.extend(clip, PROMPT, frames=4, seed=3, guidance=2.0)
    pipe.config.train.history_guidance = True
    guided = pipe.extend(clip, PROMPT, frames=4, seed=3, guidance=2.0)
    T = clip.shape[0]
    assert np.array_equal(guided[0, :T], clip) and not np.array_equal(guided, plain)
    with pytest.raises(ValueError, match="history_guidance"):
        get_config("smoke", overrides={"train.history_guidance": "maybe"})


def test_verbs_name_bad_input(pipe):
    w = pipe.config.world
    clip, _ = render_prompt(PROMPT, w, seed=1)
    big, _ = render_prompt(PROMPT, type(w)(**{**w.__dict__, "height": 32, "width": 32}), seed=1)
    odd, _ = render_prompt(PROMPT, type(w)(**{**w.__dict__, "height": 20, "width": 20}), seed=1)
    cases = [
        (lambda: pipe.animate(odd[0], PROMPT), "height=20 is not a multiple of 8.*16 or 24.*resize=True"),
        (lambda: pipe.extend(clip, PROMPT, frames=3), "multiple of the VAE's temporal compression 2"),
        (lambda: pipe.extend(clip[:3], PROMPT, frames=2), r"frames=3 must be 1 \(an image\) or a multiple of the VAE's temporal compression 2"),
        (lambda: pipe.extend(clip[:0], PROMPT, frames=2), "hold no frames"),
        (lambda: pipe.extend(clip, PROMPT, frames=2, direction="sideways"), "direction must be one of"),
        (lambda: pipe.connect(clip, np.stack([clip, clip]), PROMPT, frames=2), "as many clips B"),
        (lambda: pipe.connect(clip, big, PROMPT, frames=2), "connect needs one size"),
        (lambda: pipe.edit(clip, PROMPT, strength=1.5), r"strength must be a number in \[0, 1\]"),
        (lambda: pipe.edit(clip.astype(np.float32), PROMPT), "must be uint8"),
        (lambda: pipe.fill(clip, [True], PROMPT), "one entry per frame"),
        (lambda: pipe.fill(clip, [False] * w.frames, PROMPT), "no frame as known"),
        (lambda: pipe.animate(clip[0], [PROMPT, PROMPT]), "2 prompts for 1 clips"),
        (lambda: pipe.generate(PROMPT, frames=3), "frames=3 must be 1 .*nearest that work: 2 or 4"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    resized = pipe.animate(odd[0], PROMPT, resize=True)
    assert resized.shape[2:4] == (w.height, w.width)
    assert pipe.animate(big[0], PROMPT).shape[2:4] == (32, 32)     # a size the patch divides: kept


def test_every_command_runs(pipe, tmp_path, capsys):
    w = pipe.config.world
    clip, _ = render_prompt(PROMPT, w, seed=1)
    from soralite.video import save_clip
    save_clip(tmp_path / "frame.png", clip[:1])
    save_clip(tmp_path / "clip.gif", clip)
    save_clip(tmp_path / "clip.npy", clip)
    run, ck = str(tmp_path), str(pipe.run)
    cases = [
        (["animate", "--image", f"{run}/frame.png"], w.frames),
        (["extend", "--clip", f"{run}/clip.gif", "--frames", "4"], w.frames + 4),
        (["extend", "--clip", f"{run}/clip.npy", "--frames", "4", "--backward", "--history-guidance"],
         w.frames + 4),
        (["connect", "--clip-a", f"{run}/clip.gif", "--clip-b", f"{run}/clip.npy", "--frames", "2"], 2 * w.frames + 2),
        (["edit", "--clip", f"{run}/clip.gif", "--strength", "0.5"], w.frames),
    ]
    for k, (argv, frames) in enumerate(cases):
        out = tmp_path / f"out{k}.gif"
        assert main([*argv[:1], "--ckpt", ck, "--prompt", PROMPT, *argv[1:], "--out", str(out), "--quiet"]) == 0
        assert json.loads(capsys.readouterr().out)["shape"][0] == frames
    from soralite.video import load_clip
    assert np.array_equal(load_clip(tmp_path / "out0.gif")[0], clip[0])
    assert main(["sample", "--ckpt", ck, "--prompt", PROMPT, "--frames", str(3 * w.frames),
                 "--out", str(tmp_path / "long.npy"), "--quiet"]) == 0
    assert np.load(tmp_path / "long.npy").shape[0] == 3 * w.frames
    assert main(["edit", "--ckpt", ck, "--prompt", PROMPT, "--clip", f"{run}/clip.gif", "--strength", "2"]) == 2
    assert main(["animate", "--ckpt", ck, "--prompt", PROMPT, "--image", f"{run}/missing.png"]) == 2
    assert "no clip file" in capsys.readouterr().err
    assert main(["eval-tasks", "--ckpt", ck, "--n", "2", "--only", "animate", "--quiet",
                 "--history-guidance"]) == 0
    assert "first_frame_psnr_db" in json.loads(capsys.readouterr().out)["animate"]
    assert main(["eval-tasks", "--ckpt", ck, "--n", "2", "--only", "extend", "--quiet", "--guidance", "1"]) == 0
    extend = json.loads(capsys.readouterr().out)["extend"]
    assert "new_over_given_speed_median" in extend["forward"]
    assert {"given_frames", "slope", "correlation", "made_mean"} <= set(extend["speed_read"])
    assert main(["eval-tasks", "--ckpt", ck, "--only", "extend", "--guidance", "nan"]) == 2
    assert "guidance must be a finite number" in capsys.readouterr().err
    for command in (["extend", "--prompt", PROMPT, "--clip", "x.gif", "--frames", "4"], ["sample"],
                    ["eval-tasks"], ["probe", "minute"]):
        args = build_parser().parse_args([*command[:1], "--ckpt", ck, *command[1:], "--history-guidance"])
        assert _load_pipeline(args).config.train.history_guidance
        train = _load_pipeline(build_parser().parse_args(
            [*command[:1], "--ckpt", ck, *command[1:], "--history-scale", "2.5"])).config.train
        assert train.history_guidance and train.history_guidance_scale == 2.5
    assert main(["eval-tasks", "--ckpt", ck, "--n", "2", "--only", "connect", "--quiet", "--guidance", "1",
                 "--history-scale", "2"]) == 0
    assert "path_error_px_mean" in json.loads(capsys.readouterr().out)["connect"]
    for bad in ("-1", "0", "nan"):                      # 0 would be the config's "one weight"
        with pytest.raises(SystemExit):
            build_parser().parse_args(["eval-tasks", "--ckpt", ck, "--history-scale", bad])
        assert f"--history-scale: must be a finite number above 0 (got {bad})" in capsys.readouterr().err
    with pytest.raises(ValueError, match="history_guidance_scale"):
        get_config("smoke", ["train.history_guidance_scale=-1"])


def _circle_path(cx, shape="circle"):
    """A large red object of `shape` along the centre path `cx` (one value a frame), mid-height,
    rendered by the world."""
    cx = np.asarray(cx, float)
    obj = ObjectTruth("red", shape, "large", "moving left", 10, 0.03, cx, np.full(len(cx), 16.0))
    return render(SceneTruth(len(cx), 32, 32, [obj]))


def test_a_long_videos_identity_is_read_where_the_object_is_whole():
    # a circle that crosses to the left edge and is held there, half cut, for the last 32 frames;
    # while cut it is drawn as a square: a misreading that only the cut frames carry
    path = np.r_[np.linspace(16, 6, 16), np.full(32, 2.0)]
    clip = np.concatenate([_circle_path(path[:16]), _circle_path(path[16:], "square")])
    row = long_row(track_clip(clip).tracks["red"], (32, 32), window=16)
    assert row["same_whole"] and not row["same_every_frame"]
    assert row["held_at_an_edge"] and row["gone_at_the_end"] == 0 and not row["back"]
    # window by window the cut stretches read as the square: the shape changed between windows
    assert row["same_whole_first_window"] and not row["same_by_window"]
    # a shape misread in 2 of 16 frames of each window: the per-frame rule fails on the first
    # window alone, the majority of each window holds
    path = np.linspace(24, 8, 48)
    clip = np.concatenate([np.concatenate([_circle_path(path[k:k + 14]),
                                           _circle_path(path[k + 14:k + 16], "square")])
                           for k in (0, 16, 32)])
    row = long_row(track_clip(clip).tracks["red"], (32, 32), window=16)
    assert not row["same_whole_first_window"] and not row["same_whole"] and row["same_by_window"]
    # the shape changes while the object is whole: identity lost in both readings
    clip = np.concatenate([_circle_path(np.full(16, 16.0)), _circle_path(np.full(16, 16.0), "triangle")])
    row = long_row(track_clip(clip).tracks["red"], (32, 32), window=16)
    assert not row["same_whole"] and not row["same_every_frame"] and not row["held_at_an_edge"]
    # an object that leaves for good: gone at the end, not held
    path = np.r_[np.linspace(16, -8, 24), np.full(8, -20.0)]
    row = long_row(track_clip(_circle_path(path)).tracks["red"], (32, 32), window=16)
    assert row["gone_at_the_end"] >= 8 and not row["held_at_an_edge"] and row["same_whole"]
    assert long_row(None, (32, 32), 16) == {"seen": False, "same_whole": False,
                                            "same_whole_first_window": False, "same_by_window": False,
                                            "same_every_frame": False, "gone_at_the_end": None,
                                            "back": False, "held_at_an_edge": False}


def test_the_speed_fit_says_whether_the_given_speed_is_read():
    true = np.array([0.6, 0.8, 1.0, 1.2, np.nan])
    assert speed_fit(true, true) == {"pairs": 4, "slope": 1.0, "intercept": 0.0, "correlation": 1.0,
                                     "error_median": 0.0}
    ignored = speed_fit(true, np.full(5, 0.96))                     # one speed whatever was given
    assert ignored["slope"] == 0.0 and ignored["intercept"] == 0.96 and ignored["correlation"] == 0.0
    half = speed_fit(true, 0.5 * true + 0.45)                      # pulled halfway to a mean
    assert half["slope"] == 0.5 and half["intercept"] == 0.45 and half["correlation"] == 1.0
    assert speed_fit([1.0, 1.0, 1.0], [0.5, 0.7, 0.9])["slope"] is None   # nothing to fit
    assert speed_fit([0.6, 0.8], [0.6, 0.8])["pairs"] == 2


def test_the_speed_across_a_seam_is_read_from_the_tracked_object():
    t = np.arange(32, dtype=float)
    steady = _circle_path(26 - 0.7 * t)
    stops = _circle_path(np.where(t < 16, 26 - 0.7 * t, 26 - 0.7 * 15))
    faster = _circle_path(np.where(t < 16, 26 - 0.5 * t, 26 - 0.5 * 15 - 1.0 * (t - 15)))
    assert abs(_speed_ratio(steady, "red", 16, "forward") - 1) < 0.1
    assert abs(_speed_ratio(steady, "red", 16, "backward") - 1) < 0.1
    assert _speed_ratio(stops, "red", 16, "forward") < 0.1
    assert abs(_speed_ratio(faster, "red", 16, "forward") - 2) < 0.2
    assert 0.4 < _speed_ratio(faster, "red", 16, "backward") < 0.6     # slower before the seam, going back
    assert np.isnan(_speed_ratio(_circle_path(np.full(32, 16.0)), "red", 16, "forward"))
