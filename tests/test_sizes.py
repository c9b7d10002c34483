"""Native sizes (notebook 10): a size mix draws buckets by weight within the token budget and packs
within the longest clip; training on a mix (buckets and packing) gives a pipeline that makes every
size, images included; the measures score sizes and framing; bad sizes are named."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from soralite.cli import main
from soralite.config import get_config, window_frames
from soralite.diffusion import make_scheduler
from soralite.eval.sizes import (cut_by_the_edge, framing_floor, image_adheres, measure_size,
                                 motions_misread)
from soralite.models import Denoiser, VideoVAE, num_tokens
from soralite.pipeline import Pipeline
from soralite.quickstart import quickstart
from soralite.train.buckets import MIN_POOL, SizeMix
from soralite.world import generate

MIX = "4x16x16:2,4x16x24:1,2x16x16:1,1x16x16:1"
PROMPT = "a red circle moving right"


class StandIn:
    """A pool of n clips: only its length matters to the draws."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def mix_of(spec=MIX, **kw):
    cfg = get_config("smoke", {"train.sizes": spec, **kw})
    mix = SizeMix.of(cfg)
    mix.pools = {s: StandIn(200) for s in mix.sizes}
    return cfg, mix


def test_buckets_fill_the_budget_with_one_size_and_follow_the_weights():
    cfg, mix = mix_of()
    g = torch.Generator().manual_seed(0)
    counts = {s: 0 for s in mix.sizes}
    for _ in range(2000):
        size, idx = mix.bucket(g)
        k = mix.sizes.index(size)
        assert len(idx) == max(1, mix.budget // mix.tokens[k])
        assert len(idx) * mix.tokens[k] <= max(mix.budget, mix.tokens[k])
        counts[size] += 1
    shares = np.array([counts[s] for s in mix.sizes]) / 2000
    assert np.allclose(shares, np.array(mix.weights) / sum(mix.weights), atol=0.04)
    assert mix.budget == cfg.train.batch_size * num_tokens(cfg)


def test_packs_stay_within_the_budget_and_sequences_within_the_longest_clip():
    _, mix = mix_of()
    g = torch.Generator().manual_seed(1)
    for _ in range(200):
        picked, plan = mix.pack(g)
        tokens = [mix.tokens[mix.sizes.index(s)] for s, _ in picked]
        assert sum(tokens) <= mix.budget or len(picked) == 1
        for seq in plan.sequences:
            assert sum(tokens[i] for i in seq) <= mix.sequence_length
        assert sorted(i for s in plan.sequences for i in s) == list(range(len(picked)))


def test_pools_share_the_clips_by_weight_with_a_floor():
    cfg, mix = mix_of(**{"train.pool_clips": 1000})
    n = mix.pool_clips(cfg)
    assert n[0] == 400 and all(k >= MIN_POOL for k in n)


def test_every_size_gets_its_own_flow_shift_growing_with_tokens():
    cfg = get_config("smoke")
    shifts = [make_scheduler(cfg, size=s).shift for s in [(1, 16, 16), (4, 16, 16), (8, 16, 24)]]
    assert shifts[0] < shifts[1] < shifts[2]


@pytest.fixture(scope="module", params=["bucket", "pack"])
def mix_run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"mix-{request.param}")
    cfg = get_config("smoke", {"train.sizes": MIX, "train.batching": request.param,
                               "world.colours": ["red", "green", "blue", "yellow"]})
    quickstart(cfg, out, progress=False, log=lambda *_: None)
    return request.param, out


def test_a_mix_run_makes_every_size_and_an_image(mix_run):
    batching, out = mix_run
    pipe = Pipeline.from_pretrained(out)
    assert pipe.config.train.batching == batching
    assert (out / "latents.safetensors").exists()                 # the world's own size
    assert sorted(p.name for p in out.glob("latents-*.safetensors")) == sorted(
        f"latents-{s}.safetensors" for s in ["4x16x24", "2x16x16", "1x16x16"])
    for frames, h, w in [(4, 16, 24), (2, 16, 16), (1, 16, 16), (6, 24, 16)]:
        clips = pipe.generate([PROMPT], seed=0, frames=frames, height=h, width=w)
        assert clips.shape == (1, frames, h, w, 3) and clips.dtype == np.uint8
    a = pipe.generate([PROMPT], seed=3, frames=4, height=16, width=24)
    assert np.array_equal(a, pipe.generate([PROMPT], seed=3, frames=4, height=16, width=24))


def _windows(pipe, monkeypatch) -> list[int]:
    """Record the latent frames of each `fill_latents` call of `pipe` (no call: sampled whole)."""
    calls, fill = [], pipe.fill_latents

    def counting(timeline, known, *args, **kw):
        calls.append(timeline.shape[2])
        return fill(timeline, known, *args, **kw)
    monkeypatch.setattr(pipe, "fill_latents", counting)
    return calls


def test_a_size_it_trained_on_is_sampled_whole_and_only_longer_clips_slide(monkeypatch):
    torch.manual_seed(0)
    cfg = get_config("smoke", {"train.sizes": "8x16x16:1,4x16x16:1", "train.window_overlap": 3})
    assert window_frames(cfg) == 8                                # the longest clips it trains on
    pipe = Pipeline(cfg, VideoVAE(cfg.vae), Denoiser(cfg))
    assert pipe.window == 4                                       # latent frames
    calls = _windows(pipe, monkeypatch)
    assert pipe.generate([PROMPT], seed=0, frames=8).shape == (1, 8, 16, 16, 3)
    assert calls == []                                            # one window: no seams
    assert pipe.generate([PROMPT], seed=0, frames=12).shape == (1, 12, 16, 16, 3)
    assert calls == [6]                                           # longer: the sliding window

    plain = get_config("smoke")                                   # the world's size alone
    assert window_frames(plain) == plain.world.frames == 4
    pipe = Pipeline(plain, VideoVAE(plain.vae), Denoiser(plain))
    calls = _windows(pipe, monkeypatch)
    pipe.generate([PROMPT], seed=0, frames=8)
    assert pipe.window == 2 and calls == [4]
    with pytest.raises(ValueError, match="window_overlap must be in 0 .. 1"):
        get_config("smoke", {"train.window_overlap": 3})        # a window of 2 latent frames


def test_measure_size_reports_adherence_framing_and_the_worlds_floor(mix_run):
    pipe = Pipeline.from_pretrained(mix_run[1])
    for size in [(4, 16, 24), (1, 16, 16)]:
        r = measure_size(pipe, size, n=4)
        assert r["size"] == "x".join(map(str, size))
        for key in ("adherence", "cut_in_first_frame", "world_floor"):
            assert r[key]["n"] == 4 and 0 <= r[key]["share"] <= 1
            lo, hi = r[key]["ci95"]
            assert lo <= r[key]["share"] <= hi
        if size[0] == 1:
            assert r["attributes"] == {} and r["motions_misread"] == {}
        else:
            assert set(r["attributes"]) == {"colour", "shape", "motion", "no_extra"}
            assert r["attributes"]["motion"]["share"] >= r["adherence"]["share"]
            assert all(" -> " in k and v >= 1 for k, v in r["motions_misread"].items())


def test_motions_misread_counts_each_asked_motion_read_as_another():
    def row(caption, *objects):
        return {"caption": caption, "objects": [dict(present=p, motion=m, motion_ok=ok) for p, m, ok in objects]}
    per = [row("a red circle moving down", (True, "falling", False)),
           row("a blue square moving down", (True, "falling", False)),
           row("a red circle moving up and a blue square moving left",
               (True, "moving up", True), (True, "standing still", False)),
           row("a green triangle moving right", (False, None, False))]      # missing: not a misread
    assert motions_misread(per) == {"moving down -> falling": 2, "moving left -> standing still": 1}


def test_eval_sizes_command_prints_trained_and_untrained_sizes(mix_run, capsys):
    assert main(["eval-sizes", "--ckpt", str(mix_run[1]), "--n", "2", "--size", "4x16x24",
                 "--size", "1x16x16", "--no-extrapolate"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["size"] for r in report["trained"]] == ["4x16x24", "1x16x16"]
    assert report["untrained"] == []
    # a size it never trained on, asked for alone: reported as untrained, nothing else measured
    assert main(["eval-sizes", "--ckpt", str(mix_run[1]), "--n", "2", "--size", "4x24x16"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trained"] == [] and [r["size"] for r in report["untrained"]] == ["4x24x16"]
    assert main(["eval-sizes", "--ckpt", str(mix_run[1]), "--size", "4x18x16"]) == 2
    assert "nearest that work" in capsys.readouterr().err
    assert main(["eval-sizes", "--ckpt", str(mix_run[1]), "--size", "16by32"]) == 2


def test_sizes_the_model_cannot_cut_are_named(mix_run):
    pipe = Pipeline.from_pretrained(mix_run[1])
    with pytest.raises(ValueError, match="nearest that work"):
        pipe.generate([PROMPT], height=18)
    with pytest.raises(ValueError, match="frames"):
        pipe.generate([PROMPT], frames=3)


def test_cut_by_the_edge_flags_touching_and_missing_objects():
    world = dataclasses.replace(get_config("smoke").world, wall_prob=0.0)
    batch = generate(world, 64, seed=5)
    clip, caption = batch.clips[0], batch.captions[0]
    blank = np.zeros_like(clip)
    assert cut_by_the_edge(blank, caption)                         # missing: cut
    moved = np.zeros_like(clip)
    mask = (clip[0].max(-1) > 40)
    ys, xs = np.nonzero(mask)
    shifted = np.zeros_like(clip[0])
    shifted[ys - ys.min(), xs] = clip[0][ys, xs]                   # pushed against the top edge
    moved[0] = shifted
    assert cut_by_the_edge(moved, caption)
    flags = [cut_by_the_edge(c, p) for c, p in zip(batch.clips, batch.captions)]
    assert sum(flags) < len(flags) / 2                             # the world's own clips mostly pass
    floor = framing_floor(world, (world.frames, world.height, world.width), n=64, seed=0)
    assert 0 <= floor["share"] < 0.5 and floor["n"] == 64


def test_image_adheres_checks_colour_and_shape_and_extra_objects():
    world = get_config("smoke").world
    batch = generate(world, 8, seed=2)
    clip, caption = batch.clips[0], batch.captions[0]
    assert image_adheres(clip[:1], caption)
    named = [c for c in world.colours if f" {c} " in f" {caption} "][0]
    other = [c for c in world.colours if c != named][0]
    assert not image_adheres(clip[:1], caption.replace(named, other))
    assert not image_adheres(np.zeros_like(clip[:1]), caption)
