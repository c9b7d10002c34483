"""Recaptioning (notebook 12): the learned captioner, captions from attributes, the descriptive
language, `soralite caption DIR`, training on a folder, upsampling, and the measures."""
import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from soralite.checkpoint import ConfigMismatchError, load_pretrained
from soralite.cli import main
from soralite.config import (LONGEST_DESCRIPTIVE_TOKENS, CaptionerConfig, WorldConfig, captioner_world,
                             get_config)
from soralite.eval.captioning import caption_clips, evaluate_captioner
from soralite.eval.descriptive import (chance, descriptive_adherence, descriptive_targets,
                                       summarize_descriptive)
from soralite.language import (DESCRIPTIVE_VOCABULARY, REGIONS, VOCABULARY, PromptError, is_descriptive,
                               parse_description, parse_prompt)
from soralite.models import Captioner, Denoiser, Tokenizer, VideoVAE
from soralite.pipeline import Pipeline
from soralite.train.captioner_stage import pixel_targets, train_captioner
from soralite.train.captions import pool_captions
from soralite.world import (caption, caption_from_attributes, compare_attributes, describe, generate,
                            render, summarize_comparisons, tracked_attributes, truth_attributes)

DESCRIPTIVE = {"dit.vocabulary": "descriptive", "dit.text_max_length": 80}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def captioner(tmp_path_factory):
    """A captioner of the smoke world, trained for a few seconds (enough to find its objects)."""
    cfg = get_config("smoke", {"captioner.steps": 250, "captioner.batch_size": 8,
                               "captioner.hidden": 32, "captioner.checkpoint_every": 0})
    out = tmp_path_factory.mktemp("captioner") / "captioner"
    torch.set_num_threads(1)
    model = train_captioner(cfg, out, progress=False, log=lambda *_: None)
    return cfg, model, out


# ----------------------------------------------------------------------------------------------
# The model


def test_the_captioner_answers_for_every_colour_slot():
    model = Captioner(CaptionerConfig(hidden=16), frames=4)
    for H, W in ((16, 16), (16, 24)):
        x = torch.rand(2, 3, 4, H, W) * 2 - 1
        out = model(x)
        K = len(model.colours)
        assert out.presence.shape == (2, K) and out.wall.shape == (2,)
        assert out.shape.shape == (2, K, 3) and out.size.shape == (2, K, 2)
        assert out.motion.shape == (2, K, 7) and out.start.shape == (2, K, 2)
        assert out.speed.shape == (2, K) and out.pixel_logits.shape == (2, 4, H, W, K + 2)
    with pytest.raises(ValueError, match=r"\(B, 3, 4, H, W\)"):
        model(torch.zeros(1, 3, 5, 16, 16))


def test_a_fresh_captioner_reads_its_pixels_as_the_palette_and_starts_at_the_centroid():
    world = WorldConfig(frames=4, height=16, width=16, wall_prob=0.5)
    init, fresh = generate(world, 16, seed=1), generate(world, 16, seed=2)
    model = Captioner(CaptionerConfig(hidden=16), frames=4)
    model.init_from_data(init.videos, pixel_targets(init.clips, model.colours))
    out = model(fresh.videos)
    labels = pixel_targets(fresh.clips, model.colours)                 # (B, T, H, W)
    assert (out.pixel_logits.argmax(-1) == labels).float().mean() == 1.0
    # the heads' last layer starts at zero: the start is the first frame's centroid of the mask
    tracks = model.trajectories(out.pixel_logits.softmax(-1)[..., 2:])  # (B, K, T, 9)
    torch.testing.assert_close(out.start, tracks[:, :, 0, :2])
    for b, scene in enumerate(fresh.scenes):
        for o in scene.objects:
            hidden = scene.wall is not None and not (o.cx[0] + o.side / 2 < scene.wall[0]
                                                     or o.cx[0] - o.side / 2 > scene.wall[1])
            if not hidden:
                k = model.colours.index(o.colour)
                truth = torch.tensor([o.cx[0] / 16, o.cy[0] / 16], dtype=torch.float32)
                assert (out.start[b, k].detach() - truth).abs().max() < 0.1


def test_shape_moments_tell_a_square_from_a_disc_and_a_triangle():
    scenes = {}
    for shape in ("square", "circle", "triangle"):
        clip, scene = render_one(shape)
        masks = torch.from_numpy((clip.sum(-1) > 0).astype(np.float32))[None, ..., None]   # (1, T, H, W, 1)
        scenes[shape] = Captioner.trajectories(masks)[0, 0, 0]        # (9,) frame 0
    cross = {s: float(v[7]) for s, v in scenes.items()}
    skew = {s: float(v[8]) for s, v in scenes.items()}
    assert abs(cross["square"] - 1) < 0.05 and cross["circle"] < 0.85
    assert abs(skew["square"]) < 0.05 and abs(skew["circle"]) < 0.05 and abs(skew["triangle"]) > 0.3


def render_one(shape):
    from soralite.world import sample_scene
    from soralite.language import ObjectSpec, PromptSpec
    world = WorldConfig(frames=2, height=32, width=32)
    scene = sample_scene(world, np.random.default_rng(0),
                         PromptSpec([ObjectSpec("red", shape, "standing still", "large")]))
    return render(scene), scene


def test_a_smoke_training_saves_loads_resumes_and_refuses_other_settings(captioner, tmp_path):
    cfg, model, out = captioner
    ckpt = load_pretrained(out, load_extra=False)
    assert ckpt.meta["kind"] == "captioner" and ckpt.meta["step"] == 250
    loaded = Captioner.from_pretrained(out)
    x = generate(cfg.world, 3, seed=5).videos
    torch.testing.assert_close(loaded(x).presence, model.eval()(x).presence)
    more = dataclasses.replace(cfg, captioner=dataclasses.replace(cfg.captioner, steps=252))
    shutil.copytree(out, tmp_path / "cap")
    resumed = train_captioner(more, tmp_path / "cap", progress=False, log=lambda *_: None)
    assert load_pretrained(tmp_path / "cap", load_extra=False).meta["step"] == 252
    assert not torch.equal(resumed.slot_mlp[0].weight, loaded.slot_mlp[0].weight)
    other = get_config("smoke", {"captioner.hidden": 24, "captioner.steps": 260})
    with pytest.raises(ConfigMismatchError, match="captioner.hidden"):
        train_captioner(other, tmp_path / "cap", progress=False, log=lambda *_: None)


def test_the_trained_captioner_reads_the_smoke_world(captioner):
    cfg, model, _ = captioner
    report = evaluate_captioner(model, captioner_world(cfg), n=48, seed=123)
    assert report["captioner"]["colour"] >= 0.8 and report["captioner"]["start"] >= 0.8
    assert report["tracker"]["colour"] == 1.0
    assert all("truth" in m and "wrong" in m for m in report["mistakes"])


# ----------------------------------------------------------------------------------------------
# The language


def test_captions_from_attributes_are_the_worlds_captions():
    world = WorldConfig()
    for i, scene in enumerate(generate(world, 200, seed=3).scenes):
        attrs = truth_attributes(scene)
        standard, described = caption_from_attributes(attrs["objects"], attrs["wall"], scene.with_size)
        assert standard == caption(scene) and described == describe(scene)
        spec = parse_description(described, world)
        assert spec.standard() == parse_prompt(standard, world)
        assert all(o.start in REGIONS for o in spec.objects)
    one = {"colour": "red", "shape": "circle", "size": "large", "motion": "moving left",
           "start_x": 0.9, "start_y": 0.1, "speed": 0.025}
    assert caption_from_attributes([one], False, False) == (
        "a red circle moving left",
        "a large red circle that starts at the top right and moves slowly left, on a black background")


def test_the_descriptive_vocabulary_reads_every_description_of_200_scenes():
    tok = Tokenizer(DESCRIPTIVE_VOCABULARY)
    descriptions = [describe(s) for s in generate(WorldConfig(), 200, seed=4).scenes]
    ids, mask = tok.encode(descriptions, LONGEST_DESCRIPTIVE_TOKENS)
    assert tok.decode(ids, mask) == descriptions
    assert tok.encode(["a red circle moving left"], 80)[1].sum() == 5     # standard captions too
    worst = "; ".join(f"a large {c} triangle that starts at the bottom right and falls from rest "
                      f"and bounces off the bottom edge" for c in ("red", "green", "blue"))
    worst += ", passing behind a gray wall, on a black background"
    parse_description(worst)
    assert len(tok.tokenize(worst)) == LONGEST_DESCRIPTIVE_TOKENS
    with pytest.raises(PromptError, match="unknown word 'that'"):
        Tokenizer(VOCABULARY).tokenize(descriptions[0])


@pytest.mark.parametrize("prompt,message", [
    ("a large red circle that starts at the top and moves slowly left", "expected a column"),
    ("a large red circle that starts at the top left and moves slowly", "expected a direction"),
    ("a large red circle that begins at the top left", "unknown word 'begins'"),
    ("a large red circle that starts at the top left and stays still; a large red square that "
     "starts at the centre and stays still", "used twice"),
])
def test_descriptive_prompts_are_checked_word_by_word(prompt, message):
    with pytest.raises(PromptError, match=message):
        parse_description(prompt)


def test_the_standard_part_of_a_description_is_checked_against_the_world():
    tiny = get_config("tiny").world
    ok = "a large red circle that starts at the top left and moves quickly right, on a black background"
    assert parse_description(ok, tiny).standard().objects[0].motion == "moving right"
    with pytest.raises(PromptError, match="colour 'purple'"):
        parse_description(ok.replace("red", "purple"), tiny)
    assert is_descriptive(ok) and not is_descriptive("a red circle moving right")


def test_vocabulary_and_captions_settings_are_validated_and_default_to_standard():
    cfg = get_config("tiny")
    assert (cfg.dit.vocabulary, cfg.train.captions, cfg.train.data) == ("standard", "standard", "")
    assert Denoiser(get_config("smoke")).tokenizer.vocab[2:] == list(VOCABULARY)
    with pytest.raises(ValueError, match="dit.text_max_length must be >= 73"):
        get_config("smoke", {"dit.vocabulary": "descriptive"})
    with pytest.raises(ValueError, match="train.captions must be standard where dit.vocabulary"):
        get_config("smoke", {"train.captions": "descriptive"})
    with pytest.raises(ValueError, match="train.captions must be one of"):
        get_config("smoke", {**DESCRIPTIVE, "train.captions": "long"})
    assert len(Denoiser(get_config("smoke", DESCRIPTIVE)).tokenizer) == len(DESCRIPTIVE_VOCABULARY) + 2


# ----------------------------------------------------------------------------------------------
# The pipeline: descriptive prompts and upsampling


def _pipeline(overrides):
    cfg = get_config("smoke", overrides)
    torch.manual_seed(0)
    return Pipeline(cfg, VideoVAE(cfg.vae), Denoiser(cfg))


def test_upsample_changes_the_prompt_only_where_asked():
    pipe = _pipeline(DESCRIPTIVE)
    short = "a red circle moving left"
    long_ = "a small green square that starts at the centre and stays still, on a black background"
    up = pipe.upsample([short, long_, ""], seed=3)
    assert up[1:] == [long_, ""] and up[0] != short and is_descriptive(up[0])
    assert parse_description(up[0]).standard().objects[0].colour == "red"
    assert pipe.upsample([short], seed=3) == up[:1]               # seeded
    plain = pipe.generate([short, long_], seed=1)
    assert np.array_equal(plain, pipe.generate([short, long_], seed=1, upsample=False))
    assert np.array_equal(pipe.generate([short, long_], seed=1, upsample=True),
                          pipe.generate(pipe.upsample([short, long_], seed=1), seed=1))
    standard = _pipeline({})
    with pytest.raises(ValueError, match="dit.vocabulary=standard"):
        standard.generate([short], upsample=True)
    with pytest.raises(PromptError, match="reads standard captions only"):
        standard.check_prompts([long_])
    with pytest.raises(PromptError, match="colour 'cyan'"):
        _pipeline({**DESCRIPTIVE, "world.colours": "red,green"}).check_prompts([long_.replace("green", "cyan")])


# ----------------------------------------------------------------------------------------------
# soralite caption DIR, and training on a folder


def test_caption_dir_writes_the_contract_and_refuses_to_overwrite(captioner, tmp_path, capsys):
    cfg, _, ckpt = captioner
    world_dir, clips_dir = tmp_path / "world", tmp_path / "clips"
    assert run(capsys, "make-data", "--preset", "smoke", "--n", "12", "--seed", "77", "--out",
               world_dir, "--quiet", "--no-gif")[0] == 0
    clips_dir.mkdir()
    for f in world_dir.glob("*.npy"):
        shutil.copy(f, clips_dir / f.name)                            # the clips, no captions
    code, out, _ = run(capsys, "caption", clips_dir, "--ckpt", ckpt, "--quiet")
    assert code == 0 and json.loads(out)["clips"] == 12
    lines = [json.loads(x) for x in (clips_dir / "captions.jsonl").read_text().splitlines()]
    truth = {json.loads(x)["file"]: json.loads(x) for x in (world_dir / "captions.jsonl").read_text().splitlines()}
    assert sorted(r["file"] for r in lines) == sorted(truth)
    right = 0
    for r in lines:
        assert {"file", "caption", "description", "objects"} <= set(r)
        for o in r["objects"]:
            assert set(o) == {"colour", "shape", "size", "motion", "start_x", "start_y", "speed"}
            assert 0 <= o["start_x"] <= 1 and 0 <= o["start_y"] <= 1 and o["speed"] >= 0
        if r["objects"]:
            parse_prompt(r["caption"]) and parse_description(r["description"])
        t = truth[r["file"]]["scene"]["objects"][0]
        right += any(o["colour"] == t["colour"] and abs(o["start_x"] - t["cx"][0] / 16) < 0.1
                     for o in r["objects"])
    assert right >= 9
    code, out, _ = run(capsys, "eval-captioner", "--written", clips_dir / "captions.jsonl", "--truth", world_dir)
    measured = json.loads(out)
    assert code == 0 and measured["n"] == 12 and measured["tracker"]["colour"] == 1.0
    assert measured["captioner"]["colour"] >= 0.75
    before = (clips_dir / "captions.jsonl").read_text()
    code, _, err = run(capsys, "caption", clips_dir, "--ckpt", ckpt, "--quiet")
    assert code == 2 and "already exists" in err and "--force" in err
    assert (clips_dir / "captions.jsonl").read_text() == before
    assert run(capsys, "caption", clips_dir, "--ckpt", ckpt, "--quiet", "--force")[0] == 0
    kept = list((clips_dir / "replaced").iterdir())
    assert len(kept) == 1 and kept[0].read_text() == before             # nothing deleted


def test_data_dir_trains_a_vae_and_a_denoiser_on_clips_the_test_writes(tmp_path, capsys):
    world = get_config("smoke").world
    data = tmp_path / "mine"
    batch = generate(world, 6, seed=9)
    from soralite.video import save_clip
    lines = []
    for i, (clip, scene) in enumerate(zip(batch.clips, batch.scenes)):
        name = f"sub/clip-{i}.gif" if i % 2 else f"clip-{i}.npy"
        save_clip(data / name, clip)
        lines.append({"file": name, "caption": scene.caption, "description": describe(scene)})
    (data / "captions.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    run_dir = tmp_path / "run"
    code, out, err = run(capsys, "train-vae", "--preset", "smoke", "--data", data, "--out",
                         run_dir / "vae", "--quiet")
    assert code == 0, err
    code, out, err = run(capsys, "train", "--preset", "smoke", "--data", data, "--out", run_dir, "--quiet")
    assert code == 0, err
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["train"]["data"] == str(data.resolve())
    from safetensors import safe_open
    with safe_open(str(run_dir / "latents.safetensors"), "pt") as f:
        pool = json.loads(f.metadata()["captions"])
    assert set(pool) == {x["caption"] for x in lines}
    # descriptive captions of the same folder, with the descriptive vocabulary
    code, _, err = run(capsys, "train", "--preset", "smoke", "--data", data, "--out", tmp_path / "run2",
                       "--quiet", "--set", "dit.vocabulary=descriptive", "--set",
                       "dit.text_max_length=80", "--set", "train.captions=descriptive")
    assert code == 0, err
    with safe_open(str(tmp_path / "run2" / "latents.safetensors"), "pt") as f:
        assert set(json.loads(f.metadata()["captions"])) == {x["description"] for x in lines}
    # a caption outside the language is refused, naming the file and the word
    lines[3]["caption"] = "a red circle dancing"
    (data / "captions.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    code, _, err = run(capsys, "train", "--preset", "smoke", "--data", data, "--out", tmp_path / "run3", "--quiet")
    assert code == 2 and "clip-3.gif" in err and "'dancing'" in err


def test_pool_captions_follow_train_captions():
    cfg = get_config("smoke", {**DESCRIPTIVE, "train.captions": "truth_descriptive"})
    batch = generate(cfg.world, 4, seed=2)
    assert pool_captions(cfg, batch) == [describe(s) for s in batch.scenes]
    assert pool_captions(get_config("smoke"), batch) == batch.captions


# ----------------------------------------------------------------------------------------------
# Reading clips: the tracker's attributes and descriptive adherence


def test_the_tracker_reads_the_attributes_of_world_clips():
    batch = generate(WorldConfig(), 100, seed=6)
    s = summarize_comparisons([compare_attributes(tracked_attributes(c), truth_attributes(sc))
                               for c, sc in zip(batch.clips, batch.scenes)])
    assert s["colour"] == 1.0 and s["shape"] >= 0.97 and s["motion"] >= 0.97
    assert s["start"] >= 0.97 and s["region"] >= 0.9 and s["pace"] >= 0.9
    shuffled = [compare_attributes(tracked_attributes(c), truth_attributes(sc))
                for c, sc in zip(batch.clips, batch.scenes[1:] + batch.scenes[:1])]
    assert summarize_comparisons(shuffled)["all"] < 0.2


def test_descriptive_adherence_of_world_clips_and_of_the_wrong_details():
    world = get_config("tiny").world
    batch = generate(world, 60, seed=8)
    targets = [descriptive_targets(describe(s)) for s in batch.scenes]
    own = summarize_descriptive([descriptive_adherence(c, t) for c, t in zip(batch.clips, targets)])
    assert own["start"] >= 0.9 and own["pace"] >= 0.85
    flipped = [{c: {**t, "pace": "slowly" if t["pace"] == "quickly" else "quickly"} for c, t in ts.items()}
               for ts in targets]
    wrong = summarize_descriptive([descriptive_adherence(c, t) for c, t in zip(batch.clips, flipped)])
    assert wrong["pace"] <= 0.15
    c = chance(targets)
    assert 0 < c["start"] < 0.5 and 0.4 < c["pace"] <= 1


def test_caption_clips_writes_captions_in_the_language(captioner):
    cfg, model, _ = captioner
    batch = generate(cfg.world, 8, seed=31)
    for row in caption_clips(model, batch.clips):
        if row["objects"]:
            parse_prompt(row["caption"], cfg.world)
            parse_description(row["description"], cfg.world)
        else:
            assert row["caption"] == row["description"] == ""
