"""What a user may do wrong, and what the kit answers (docs/errors.md): nothing is deleted or
overwritten that the kit did not make, nothing stale is served as current, a stopped training
keeps what it did, a run folder is locked while it trains, and every bad value is a one-line
error that names the setting and what is allowed."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from soralite.checkpoint import (CheckpointError, ConfigMismatchError, TargetError, load_pretrained,
                                 saved_weights_sha256, weights_sha256)
from soralite.cli import main
from soralite.config import get_config
from soralite.language import HeldOutWarning, PromptError, parse_prompt
from soralite.models import VideoVAE
from soralite.pipeline import Pipeline
from soralite.quickstart import quickstart
from soralite.runs import REPLACED_DIR, RunLock, check_run_folder
from soralite.train import train, train_vae

QUIET = dict(progress=False, log=lambda *_: None)


def smoke(**overrides):
    return get_config("smoke", overrides={"world.colours": ["red", "green", "blue", "yellow"],
                                          **overrides})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults") / "run"
    quickstart(smoke(), out, **QUIET)
    return out


def copy_run(run_dir, tmp_path, name="run"):
    dest = tmp_path / name
    shutil.copytree(run_dir, dest)
    return dest


def files_of(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------------------------
# 1. A save never deletes what was there


def test_saving_a_vae_into_a_folder_of_something_else_is_refused_and_deletes_nothing(tmp_path):
    assert main(["make-data", "--n", "2", "--out", str(tmp_path / "data"), "--quiet"]) == 0
    (tmp_path / "data" / "notes.txt").write_text("mine")
    before = files_of(tmp_path / "data")
    with pytest.raises(TargetError, match="not a soralite checkpoint.*captions.jsonl"):
        VideoVAE(smoke().vae).save_pretrained(tmp_path / "data")
    assert files_of(tmp_path / "data") == before
    code = main(["train-vae", "--preset", "smoke", "--out", str(tmp_path / "data"), "--quiet"])
    assert code == 2 and files_of(tmp_path / "data") == before


def test_saving_onto_a_file_or_under_a_file_is_refused(tmp_path):
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(TargetError, match="it is a file"):
        VideoVAE(smoke().vae).save_pretrained(tmp_path / "afile")
    with pytest.raises(TargetError, match="is a file"):
        VideoVAE(smoke().vae).save_pretrained(tmp_path / "afile" / "vae")
    assert (tmp_path / "afile").read_text() == "mine"
    assert not any(p.name.startswith(".afile") for p in tmp_path.iterdir())


def test_a_checkpoint_of_another_kind_is_not_replaced(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    with pytest.raises(TargetError, match="holds a denoiser checkpoint"):
        VideoVAE(smoke().vae).save_pretrained(run / "denoiser")


def test_a_run_folder_must_be_a_run_folder(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "clip_00000.npy").write_bytes(b"x")
    with pytest.raises(TargetError, match="not a soralite run folder.*clip_00000.npy"):
        check_run_folder(tmp_path / "clips")
    check_run_folder(tmp_path / "new")                           # missing: fine
    code = main(["quickstart", "--preset", "smoke", "--out", str(tmp_path / "clips"), "--quiet"])
    assert code == 2 and sorted(p.name for p in (tmp_path / "clips").iterdir()) == ["clip_00000.npy"]


# ----------------------------------------------------------------------------------------------
# 2. An experiment never overwrites a trained model


def test_a_changed_vae_setting_is_an_error_and_fresh_moves_the_old_one_aside(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    before = files_of(run)
    changed = smoke(**{"vae.latent_channels": 8})
    with pytest.raises(ConfigMismatchError, match=r"vae.latent_channels.*--fresh"):
        quickstart(changed, run, **QUIET)
    assert files_of(run) == before                               # nothing touched
    code = main(["quickstart", "--preset", "smoke", "--out", str(run), "--quiet",
                 "--set", "world.colours=red,green,blue,yellow", "--set", "vae.latent_channels=8"])
    assert code == 2 and files_of(run) == before
    quickstart(changed, run, fresh=True, **QUIET)
    replaced = sorted(p.name.rsplit("-", 2)[0] for p in (run / REPLACED_DIR).iterdir())
    assert replaced == ["denoiser", "log.jsonl", "vae"]
    old_vae = next((run / REPLACED_DIR).glob("vae-*"))
    assert (old_vae / "model.safetensors").read_bytes() == before["vae/model.safetensors"]
    assert Pipeline.from_pretrained(run).config.vae.latent_channels == 8


def test_a_changed_denoiser_setting_is_refused_by_train(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    with pytest.raises(ConfigMismatchError, match=r"dit.hidden_size.*--fresh"):
        train(smoke(**{"dit.hidden_size": 48}), run, **QUIET)


# ----------------------------------------------------------------------------------------------
# 3. Nothing stale is served as current


def test_a_swapped_vae_is_refused_by_the_pipeline(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    other = copy_run(run_dir, tmp_path, "other")
    train_vae(smoke(seed=5), other / "vae", resume=False, progress=False, log=lambda *_: None)
    shutil.rmtree(run / "vae")
    shutil.copytree(other / "vae", run / "vae")
    with pytest.raises(CheckpointError, match="not the one the denoiser .* was trained on"):
        Pipeline.from_pretrained(run)


def test_the_weights_identity_is_the_same_in_memory_and_on_disk(run_dir):
    pipe = Pipeline.from_pretrained(run_dir)
    assert pipe.made_from["denoiser_sha256"] == weights_sha256(pipe.denoiser.state_dict())
    assert pipe.made_from["vae_sha256"] == saved_weights_sha256(run_dir / "vae")
    assert load_pretrained(run_dir / "denoiser").meta["vae_sha256"] == pipe.made_from["vae_sha256"]


def test_the_report_is_made_again_after_more_training(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    first = json.loads((run / "report.json").read_text())
    more = smoke(**{"train.steps": smoke().train.steps + 1})
    report = quickstart(more, run, **QUIET)
    assert report["settings"]["step"] == more.train.steps
    assert report["settings"]["made_from"] != first["settings"]["made_from"]


def test_sample_without_out_names_the_file_by_the_weights(run_dir, tmp_path, capsys):
    run = copy_run(run_dir, tmp_path)
    args = ["sample", "--ckpt", str(run), "--prompt", "a red circle moving left", "--quiet"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)["out"]
    assert main(args) == 0 and "already there" in capsys.readouterr().out
    quickstart(smoke(**{"train.steps": smoke().train.steps + 1}), run, **QUIET)
    capsys.readouterr()
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)["out"]
    assert second != first and "step4" in second


# ----------------------------------------------------------------------------------------------
# 4. A stop keeps the work; a run folder is locked while it trains

STOPPED_BY_SIGTERM = textwrap.dedent("""
    import os, signal, sys
    import soralite.train.vae_stage as vs
    from soralite.config import get_config
    cfg = get_config("smoke", overrides={"train.vae_steps": 6, "train.checkpoint_every": 0})
    real = vs.training_clips
    def clips(c, step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)          # what timeout and schedulers send
        return real(c, step)
    vs.training_clips = clips
    try:
        vs.train_vae(cfg, sys.argv[1], progress=False)
    except KeyboardInterrupt:
        sys.exit(130)
""")


def test_sigterm_saves_the_finished_steps_and_resume_matches_a_straight_run(tmp_path):
    out = tmp_path / "vae"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", STOPPED_BY_SIGTERM, str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 130, proc.stderr
    assert "stopped by SIGTERM at step 3" in proc.stdout + proc.stderr
    assert load_pretrained(out).meta["step"] == 3
    cfg = get_config("smoke", overrides={"train.vae_steps": 6, "train.checkpoint_every": 0})
    resumed = train_vae(cfg, out, progress=False)
    straight = train_vae(cfg, tmp_path / "straight", progress=False)
    for k, v in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=1e-5, atol=1e-6)


def test_a_second_training_into_the_same_folder_is_refused_while_the_first_lives(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out = tmp_path / "vae"
        (tmp_path / ".vae.lock").write_text(json.dumps({"pid": sleeper.pid, "host": os.uname().nodename}))
        with pytest.raises(CheckpointError, match=f"another training \\(process {sleeper.pid}\\)"):
            train_vae(smoke(), out, progress=False)
        assert not out.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    messages = []                                                # the holder died: taken over
    with RunLock(out, log=messages.append):
        assert json.loads((tmp_path / ".vae.lock").read_text())["pid"] == os.getpid()
    assert any("no longer running" in m for m in messages)
    assert not (tmp_path / ".vae.lock").exists()


# ----------------------------------------------------------------------------------------------
# 5. Every setting is checked up front, and the error names the field and its range

BAD_SETTINGS = [
    ("world.wall_prob=1.5", r"world.wall_prob must be a number in \[0, 1\]"),
    ("world.wall_prob=-0.1", r"world.wall_prob must be a number in \[0, 1\]"),
    ("world.wall_prob=nan", r"world.wall_prob must be a finite number"),
    ("world.colours=red,red", "world.colours lists red twice"),
    ('world.held_out=[["pink","circle"]]', "world.held_out has .*pink"),
    ("world.speed_range=[0.5,0.1]", r"world.speed_range must be two numbers 0 < low <= high"),
    ("world.gravity=-0.004", r"world.gravity must be a number in \(0, 0.1\]"),
    ("world.fps=0", "world.fps must be an integer >= 1"),
    ("world.restitution=1.5", r"world.restitution must be a number in \[0, 1\]"),
    ("world.height=18", "multiples of vae.spatial_compression=4; nearest that work: 16 or 20"),
    ("world.frames=5", "world.frames=5 must be 1 .* multiple of vae.temporal_compression=2"),
    ("dit.patch_size=[1,2]", r"dit.patch_size must be three positive integers"),
    ("dit.patch_size=[3,2,2]", "does not divide the latent"),
    ("dit.hidden_size=40", "dit.hidden_size must be a multiple of 16"),
    ("dit.attention=sparse", "dit.attention must be one of full, factorized"),
    ("train.vae_batch_size=0", "train.vae_batch_size must be an integer >= 1"),
    ("train.vae_steps=-3", "train.vae_steps must be an integer >= 1"),
    ("train.steps=0", "train.steps must be an integer >= 1"),
    ("train.sample_steps=0", "train.sample_steps must be an integer >= 1"),
    ("train.guidance_scale=nan", "train.guidance_scale must be a finite number"),
    ("train.lr=0", "train.lr must be a number > 0"),
    ("train.ema_decay=1", r"train.ema_decay must be a number in \[0, 1\)"),
    ("train.sampler=ddim", "train.sampler must be auto or a scheduler of objective 'flow'"),
    ("train.threads=-2", "train.threads must be an integer >= -1"),
    ("vae.base_channels=12", "vae.base_channels must be a positive multiple of 8"),
    ("vae.kl_weight=-1", "vae.kl_weight must be a number >= 0"),
    ("seed=-1", "seed must be an integer >= 0"),
    ("device=tpu", "device must be auto, cpu, cuda, cuda:N or mps"),
]


@pytest.mark.parametrize("override,message", BAD_SETTINGS, ids=[o for o, _ in BAD_SETTINGS])
def test_a_bad_setting_is_named_with_its_range(override, message):
    with pytest.raises(ValueError, match=message):
        get_config("tiny", [override])


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_on_a_cpu_build_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA GPU.*device=auto or device=cpu"):
        get_config("tiny", ["device=cuda"])


# ----------------------------------------------------------------------------------------------
# 6. No raw tracebacks: one line and exit status 2, checked before the work

BAD_COMMANDS = [
    (["sample", "--ckpt", "{run}", "--prompt", "a red circle moving left", "--guidance", "nan"],
     "guidance must be a finite number"),
    (["sample", "--ckpt", "{run}", "--prompt", "a red circle moving left", "--guidance", "inf"],
     "guidance must be a finite number"),
    (["sample", "--ckpt", "{run}", "--prompt", "a red circle moving left", "--steps", "0"],
     "at least 1"),
    (["sample", "--ckpt", "{run}", "--prompt", "a red circle moving left", "--seed", "1.5"],
     "must be an integer"),
    (["sample", "--ckpt", "{run}", "--prompt", "a red circle moving left", "--out", "{tmp}"],
     "it is a folder"),
    (["sample", "--ckpt", "{run}", "--prompt", "a red circle moving left", "--out", "{tmp}/a.txt"],
     "must end in .npy, .gif, .mp4"),
    (["sample", "--ckpt", "{run}", "--prompt", "a red circle moving left",
      "--out", "{tmp}/afile/x.gif"], "is a file, not a folder"),
    (["sample", "--ckpt", "{run}", "--prompt", ""], "empty prompt asks for an unconditional sample"),
    (["sample", "--ckpt", "{run}", "--prompt", "a red circle moving left, passing behind a gray wall"],
     "never shows one"),
    (["sample", "--ckpt", "{run}", "--prompt", "a röd circle moving left"], "unknown word 'röd'"),
    (["sample", "--ckpt", "{tmp}/nothing", "--prompt", "a red circle moving left"], "no pipeline at"),
    (["check-tracker", "--n", "0"], "at least 1"),
    (["bench", "--repeats", "0"], "at least 1"),
    (["train-vae", "--preset", "smoke", "--eval", "-5", "--out", "{tmp}/v"], "at least 0"),
    (["train-vae", "--preset", "smoke", "--out", "{tmp}/afile"], "it is a file"),
    (["quickstart", "--preset", "smoke", "--out", "{tmp}/afile/run"], "is a file"),
    (["make-data", "--n", "2", "--out", "{tmp}/d", "--wall-prob", "1.5"], r"world.wall_prob"),
    (["make-data", "--n", "2", "--out", "{tmp}/d", "--set", "world.gravity=-1"], "world.gravity"),
    (["train", "--preset", "smoke", "--set", "device=cuda:0", "--out", "{tmp}/r"], "device"),
]


@pytest.mark.parametrize("argv,message", BAD_COMMANDS, ids=[" ".join(a[:1] + a[-2:]) for a, _ in BAD_COMMANDS])
def test_a_bad_command_is_one_line_and_exit_status_2(argv, message, run_dir, tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    argv = [a.replace("{run}", str(run_dir)).replace("{tmp}", str(tmp_path)) for a in argv]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err or __import__("re").search(message, err), err
    assert "Traceback" not in err
    assert (tmp_path / "afile").read_text() == "mine"


def test_debug_shows_the_traceback(tmp_path, capsys):
    assert main(["--debug", "sample", "--ckpt", str(tmp_path), "--prompt", "a red circle moving left"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_generate_checks_its_arguments(run_dir):
    pipe = Pipeline.from_pretrained(run_dir)
    for bad, message in (([], "no prompts given"), ([3], "must be a str"), (42, "a str or a list"),
                         ([""], "empty prompt")):
        with pytest.raises(PromptError, match=message):
            pipe.generate(bad)
    for kwargs, message in ((dict(steps=0), "steps must be an integer >= 1"),
                            (dict(steps=2.5), "steps must be an integer"),
                            (dict(seed=-1), "seed must be an integer >= 0"),
                            (dict(seed="1"), "seed must be an integer"),
                            (dict(guidance=float("nan")), "guidance must be a finite number")):
        with pytest.raises(ValueError, match=message):
            pipe.generate("a red circle moving left", **kwargs)
    assert pipe.generate([""], allow_empty=True).shape[0] == 1


def test_a_held_out_prompt_is_accepted_with_a_word(run_dir, capsys):
    pipe = Pipeline.from_pretrained(run_dir)
    with pytest.warns(HeldOutWarning, match="never saw it in training"):
        pipe.check_prompts("a blue circle moving left")
    out = run_dir.parent / "held.npy"
    assert main(["sample", "--ckpt", str(run_dir), "--prompt", "a blue circle moving left",
                 "--out", str(out), "--quiet"]) == 0
    assert "note:" in capsys.readouterr().err and np.load(out).dtype == np.uint8


def test_a_word_with_other_letters_is_named_whole():
    with pytest.raises(PromptError, match="unknown word 'röd'"):
        parse_prompt("a röd circle moving left")


# ----------------------------------------------------------------------------------------------
# 7. Reproducible: the same run twice gives the same weights


def test_two_runs_of_one_training_give_identical_weights(tmp_path):
    cfg = get_config("smoke", overrides={"train.vae_steps": 3, "train.steps": 3})
    a = quickstart(cfg, tmp_path / "a", **QUIET)
    b = quickstart(cfg, tmp_path / "b", **QUIET)
    assert a["settings"]["made_from"] == b["settings"]["made_from"]
    assert load_pretrained(tmp_path / "a" / "denoiser").meta["threads"] == torch.get_num_threads()


def test_the_tracker_floor_is_reported_beside_adherence(run_dir):
    ev = json.loads((run_dir / "report.json").read_text())["evaluation"]
    assert 0 <= ev["tracker_floor"] <= 1
    low, high = ev["adherence_in_distribution_ci"]
    assert low <= ev["adherence_in_distribution"] <= high


# ----------------------------------------------------------------------------------------------
# 8. More faults: corrupt weights, a checkpoint given for a run, exports, locks of other hosts


def test_corrupt_weights_are_named_and_fresh_moves_them_aside(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    weights = run / "denoiser" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="its sha256 differs.*--fresh"):
        quickstart(smoke(), run, **QUIET)
    quickstart(smoke(), run, fresh=True, **QUIET)
    assert any(p.name.startswith("denoiser-") for p in (run / REPLACED_DIR).iterdir())
    assert Pipeline.from_pretrained(run).step == smoke().train.steps


def test_a_stage_checkpoint_given_for_a_run_folder_says_so(run_dir):
    with pytest.raises(CheckpointError, match="is a vae checkpoint, not a run folder.*holds it"):
        Pipeline.from_pretrained(run_dir / "vae")


def test_a_changed_pool_is_refused_before_anything_is_rebuilt(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    before = (run / "latents.safetensors").read_bytes()
    with pytest.raises(ConfigMismatchError, match="train.pool_clips"):
        quickstart(smoke(**{"train.pool_clips": 32}), run, **QUIET)
    assert (run / "latents.safetensors").read_bytes() == before


def test_make_data_never_writes_into_a_folder_of_other_things(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    assert main(["make-data", "--n", "2", "--out", str(tmp_path / "mine"), "--quiet"]) == 2
    assert "not an earlier export" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
    (tmp_path / "afile").write_text("mine")
    assert main(["make-data", "--n", "2", "--out", str(tmp_path / "afile"), "--quiet"]) == 2
    assert "it is a file" in capsys.readouterr().err
    assert main(["make-data", "--n", "2", "--out", str(tmp_path / "export"), "--quiet"]) == 0
    assert main(["make-data", "--n", "2", "--out", str(tmp_path / "export"), "--quiet"]) == 0  # again: fine


def test_a_lock_of_another_host_is_not_taken_over(tmp_path):
    lock = tmp_path / ".vae.lock"
    lock.write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    with pytest.raises(CheckpointError, match="on host elsewhere.*delete"):
        with RunLock(tmp_path / "vae", log=lambda *_: None):
            pass
    assert json.loads(lock.read_text())["host"] == "elsewhere"
