"""scripts/gpu_check.py, the one timed run that measures the README's GPU figures: at `smoke` on
the CPU every stage records its result, a stage that fails or has no time left is recorded and
the next one runs."""
import importlib.util
import json
import threading
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_stage_records_its_result_at_smoke(tmp_path):
    gpu_check = load_script()
    out = tmp_path / "out"
    assert gpu_check.main(["--out", str(out), "--runs", str(tmp_path / "runs"), "--small", "smoke",
                           "--big", "smoke", "--steps", "4,4", "--probe-clips", "4", "--seconds", "600",
                           "--skip", "dit_bf16_compile"]) == 0
    r = json.loads((out / "gpu.json").read_text())
    assert r["dit_fp32"]["seconds_per_step"] > 0 and r["dit_fp32"]["precision"] == "fp32"
    assert r["dit_bf16"]["precision"] == "bf16"
    assert r["quickstart_small"]["settings"]["step"] == 3          # smoke's own 3 steps, whole
    assert r["big_plan"] == {"vae_steps": 4, "steps": 4, "full_vae_steps": 3, "full_steps": 3}
    assert r["quickstart_big"]["settings"]["step"] == 4            # shortened: the steps asked
    assert r["quickstart_big"]["overrides"] == ["train.vae_steps=4", "train.steps=4"]
    assert 0 <= r["quickstart_big"]["vae_quality"]["psnr"] < 100
    assert set(r["probes_big"]) == {"many_objects", "morphing"}
    assert r["dit_bf16_compile"] == {"skipped": "asked to (--skip)"}
    assert "seconds_per_step" in r["peer_bf16"] or "diffusers" in r["peer_bf16"]["error"]
    assert (out / "big_samples.gif").exists() and (out / "small_log.jsonl").exists()
    for t in threading.enumerate():                  # the deadline's SIGINT was called off
        if isinstance(t, threading.Timer):
            t.join(timeout=5)
            assert not t.is_alive()


def test_a_failing_stage_is_recorded_and_one_without_time_is_skipped(tmp_path):
    check = load_script().Check(tmp_path, seconds=30)
    assert check.stage("fails", lambda: 1 / 0) is None
    assert check.stage("runs", lambda: {"ok": 1}) == {"ok": 1}
    assert check.stage("late", lambda: {"ok": 2}, need=3600) is None
    r = json.loads((tmp_path / "gpu.json").read_text())
    assert r["fails"]["error"].startswith("ZeroDivisionError") and r["runs"] == {"ok": 1}
    assert r["late"]["skipped"].endswith("needs 3600")


@pytest.mark.parametrize("args, message", [(["--skip", "dit_fp16"], "unknown stages dit_fp16"),
                                           (["--steps", "500"], "two positive integers")])
def test_bad_arguments_are_named(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit):
        load_script().main(["--out", str(tmp_path), *args])
    assert message in capsys.readouterr().err
