"""The pipeline end to end at the smoke preset (soralite/pipeline.py): `quickstart` trains, samples,
scores and leaves a directory that `Pipeline.from_pretrained` loads; `generate` returns uint8 clips,
the same for the same seed; prompts outside the checkpoint's world get a clear error."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import soralite
from soralite import quickstart as quickstart_module
from soralite.runs import run_fits
from soralite.cli import main
from soralite.pipeline import Pipeline
from soralite.viz import captioned_grid
from soralite.world import eval_prompts, grid_prompts, held_out_prompts
from soralite.config import get_config
from soralite.models import latent_shape
from soralite.world import PromptError

# the smoke preset with the four colours of the tiny world, so that a colour can be out of it
WORLD = ["--set", "world.colours=red,green,blue,yellow"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    assert main(["quickstart", "--preset", "smoke", "--out", str(out), "--quiet", *WORLD]) == 0
    return out


def test_quickstart_writes_samples_report_and_a_loadable_pipeline(run_dir, capsys):
    for name in ("config.json", "samples.gif", "report.json", "log.jsonl", "vae/model.safetensors",
                 "denoiser/model.safetensors"):
        assert (run_dir / name).exists(), name
    report = json.loads((run_dir / "report.json").read_text())
    ev = report["evaluation"]
    assert ev["in_distribution"]["n"] == 4 and ev["held_out"]["n"] == 2
    assert 0.0 <= report["adherence_in_distribution"] <= 1.0
    assert {"vae", "denoiser", "evaluation", "total"} <= set(report["seconds"])
    # a second run finds everything done and samples nothing
    capsys.readouterr()
    assert main(["quickstart", "--preset", "smoke", "--out", str(run_dir), *WORLD]) == 0
    assert "nothing to sample" in capsys.readouterr().out
    assert json.loads((run_dir / "report.json").read_text()) == report


def test_generate_returns_uint8_clips_and_the_same_seed_the_same_clips(run_dir):
    pipe = Pipeline.from_pretrained(run_dir)
    cfg = pipe.config
    prompts = ["a red circle moving left", "a blue square moving up", ""]
    clips = pipe.generate(prompts, seed=3, allow_empty=True)
    assert clips.dtype == np.uint8
    assert clips.shape == (3, cfg.world.frames, cfg.world.height, cfg.world.width, 3)
    np.testing.assert_array_equal(clips, pipe.generate(prompts, seed=3, allow_empty=True))
    assert not np.array_equal(clips, pipe.generate(prompts, seed=4, allow_empty=True))
    clips, traj = pipe.generate(prompts[:1], seed=3, steps=2, return_trajectory=True)
    assert len(traj.samples) == 3 and traj.samples[0].shape == (1, *latent_shape(cfg))
    x = torch.zeros(1, 3, cfg.world.frames, cfg.world.height, cfg.world.width)
    z = pipe.vae.encode(x).mode()                                 # the model tensors' contract
    assert pipe.vae.decode(z).shape == x.shape
    assert pipe.tokenizer is pipe.denoiser.tokenizer and pipe.text_encoder is pipe.denoiser.text_encoder


def test_bad_prompts_get_a_clear_error(run_dir):
    pipe = Pipeline.from_pretrained(run_dir)
    with pytest.raises(PromptError, match="unknown word 'dragon'"):
        pipe.generate(["a red dragon moving left"])
    with pytest.raises(PromptError, match="colour 'purple'.*not in this world.*red, green, blue, yellow"):
        pipe.generate(["a purple circle moving left"])


def test_save_pretrained_round_trips(run_dir, tmp_path):
    pipe = Pipeline.from_pretrained(run_dir)
    pipe.save_pretrained(tmp_path / "copy")
    again = Pipeline.from_pretrained(tmp_path / "copy")
    np.testing.assert_array_equal(pipe.generate(["a green triangle moving down"], seed=1),
                                  again.generate(["a green triangle moving down"], seed=1))


def test_a_checkpoint_without_per_channel_scales_loads_as_global_scaling(run_dir, tmp_path):
    from soralite.checkpoint import save_pretrained

    pipe = Pipeline.from_pretrained(run_dir)
    assert pipe.config.train.latent_scaling == "decoder_gain"
    assert len(set(pipe.latent_scale.tolist())) > 1                # one factor per channel
    old = pipe.save_pretrained(tmp_path / "old")
    save_pretrained(old / "denoiser", pipe.config.to_dict(), pipe.denoiser.state_dict(),
                    meta={"kind": "denoiser", "step": pipe.step, "weights_only": True})
    again = Pipeline.from_pretrained(old)
    assert again.config.train.latent_scaling == "global"
    assert again.latent_scale.tolist() == pytest.approx([pipe.vae.config.scaling_factor] * len(pipe.latent_scale))
    assert not run_fits(again.config, pipe.config)


def test_sample_command_writes_and_then_skips(run_dir, tmp_path, capsys):
    out = tmp_path / "one.npy"
    assert main(["sample", "--ckpt", str(run_dir), "--prompt", "a red circle moving left",
                 "--seed", "2", "--out", str(out), "--quiet"]) == 0
    clip = np.load(out)
    cfg = get_config("smoke")
    assert clip.shape == (cfg.world.frames, cfg.world.height, cfg.world.width, 3) and clip.dtype == np.uint8
    args = ["sample", "--ckpt", str(run_dir), "--prompt", "a red circle moving left", "--prompt",
            "a green square moving right", "--quiet"]
    assert main(args) == 0
    written = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["out"]
    assert written.endswith(".gif")
    assert main(args) == 0
    assert "already there" in capsys.readouterr().out
    assert main(["sample", "--ckpt", str(run_dir), "--prompt", "a red cat"]) == 2
    assert "unknown word 'cat'" in capsys.readouterr().err


def test_eval_command_scores_fresh_prompts_and_another_seed_gives_others(run_dir, capsys):
    base = ["eval", "--ckpt", str(run_dir), "--n", "3", "--held-out", "2", "--quiet"]
    assert main([*base, "--seed", "5"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert (a["n"], a["n_held_out"], a["seed"]) == (3, 2, 5)
    lo, hi = a["adherence_in_distribution_ci"]
    assert lo <= a["adherence_in_distribution"] <= hi
    assert main([*base, "--seed", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["in_distribution"] == a["in_distribution"]  # seeded
    assert eval_prompts(get_config("smoke").world, 20, 0, 5) != eval_prompts(get_config("smoke").world, 20, 0, 6)
    assert main(["eval", "--ckpt", str(run_dir), "--n", "-1"]) == 2


def test_eval_prompts_keep_held_out_pairs_apart():
    cfg = get_config("tiny")
    ind, held = eval_prompts(cfg.world, 50, 9, seed=0)
    assert len(ind) == 50 and len(held) == 9
    assert not any("yellow triangle" in p or "blue circle" in p for p in ind)
    assert all("yellow triangle" in p or "blue circle" in p for p in held)
    assert len(held_out_prompts(cfg.world)) == 8          # 2 pairs x 4 motions


def test_load_or_quickstart_loads_a_finished_run_and_trains_beside_another_configs(
        run_dir, tmp_path, monkeypatch):
    cfg = get_config("smoke", overrides={"world.colours": ["red", "green", "blue", "yellow"]})
    calls = []
    real = quickstart_module.quickstart
    monkeypatch.setattr(quickstart_module, "quickstart",
                        lambda c, run, **kw: (calls.append(Path(run)), real(c, run, **kw))[1])
    pipe = quickstart_module.load_or_quickstart(cfg, run=run_dir, progress=False, log=lambda *_: None)
    assert calls == [] and pipe.run == run_dir and pipe.step == cfg.train.steps
    assert isinstance(pipe, soralite.Pipeline)
    # the same run asked for more steps: the run is resumed in place
    longer = get_config("smoke", overrides={"world.colours": ["red", "green", "blue", "yellow"],
                                             "train.steps": cfg.train.steps + 2})
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    pipe = quickstart_module.load_or_quickstart(longer, run=copy, progress=False, log=lambda *_: None)
    assert calls == [copy] and pipe.run == copy and pipe.step == longer.train.steps
    # another world: the finished run is left alone and training goes to a sibling folder
    other = get_config("smoke")
    messages = []
    pipe = quickstart_module.load_or_quickstart(other, run=run_dir, progress=False, log=messages.append)
    assert pipe.run != run_dir and pipe.run.parent == run_dir.parent
    assert pipe.run.name.startswith(run_dir.name + "-") and calls[-1] == pipe.run
    assert any("another config" in m for m in messages)
    notice = next(m for m in messages if m.startswith("[quickstart] training"))   # said before it trains
    assert str(pipe.run) in notice and f"({other.train.steps} steps" in notice and "under 1 min" in notice
    assert messages.index(notice) < next(i for i, m in enumerate(messages) if "VAE ready" in m)
    assert Pipeline.from_pretrained(run_dir).config.world.colours == cfg.world.colours


def test_the_training_notice_says_when_settings_differ_from_the_preset(tmp_path):
    tiny = quickstart_module.training_notice(get_config("tiny"), tmp_path / "tiny")
    assert "about 15" in tiny and "differ" not in tiny and str(tmp_path / "tiny") in tiny
    changed = quickstart_module.training_notice(get_config("tiny", overrides={"train.steps": 10}), tmp_path)
    assert "(10 steps" in changed and "differ" in changed
    assert "not measured" in quickstart_module.training_notice(get_config("workshop"), tmp_path)


def test_grid_prompts_are_all_different_and_cover_the_world():
    cfg = get_config("tiny")
    ind = grid_prompts(cfg.world, 40)[:40]                      # 10 allowed pairs x 4 motions
    assert len(set(ind)) == 40
    first = grid_prompts(cfg.world)[:8]
    for word in ("red", "green", "blue", "yellow", "square", "circle", "triangle",
                 "left", "right", "up", "down"):
        assert any(word in p for p in first), word
    held = grid_prompts(cfg.world)[8:]
    assert held and all("yellow triangle" in p or "blue circle" in p for p in held)


def test_captioned_grid_puts_a_caption_under_each_clip():
    clips = np.zeros((3, 4, 16, 16, 3), np.uint8)
    g = captioned_grid(clips, ["a", "b", "c"], scale=2)
    assert g.dtype == np.uint8 and g.shape[0] == 4 and g.shape[2] > 3 * 32
    assert (g < 128).any() and (g == 255).any()           # black clips and text on white
    with pytest.raises(ValueError, match="3 clips but 2 captions"):
        captioned_grid(clips, ["a", "b"])


def test_the_tracker_floor_leaves_out_prompts_the_world_cannot_lay_out(monkeypatch):
    from soralite.eval import adherence
    from soralite.world.scenes import LayoutError
    world = get_config("world").world
    real, tries = adherence.render_prompt, []

    def flaky(prompt, world, seed=0):                 # the first draw of every prompt does not fit
        tries.append((prompt, seed))
        if "never" in prompt or sum(p == prompt for p, _ in tries) == 1:
            raise LayoutError("could not place")
        return real(prompt.replace("never ", ""), world, seed=seed)

    monkeypatch.setattr(adherence, "render_prompt", flaky)
    prompts = ["a red square moving left", "a green circle moving right"]
    assert adherence.tracker_floor(world, prompts, seed=3) == 1.0      # each laid out on its second draw
    assert adherence.tracker_floor(world, ["never a red square moving left"], seed=3) is None
    assert sum(p.startswith("never") for p, _ in tries) == adherence.FLOOR_LAYOUT_TRIES
