"""Training under torchrun (soralite/runtime.py `Distributed`): two processes on the CPU with gloo
compute the losses one process computes for the same global batch, rank 0 alone writes, and the
checkpoint they leave loads and resumes."""
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
import torch

from soralite.checkpoint import load_pretrained
from soralite.cli import main
from soralite.pipeline import Pipeline

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
SMOKE = ["--preset", "smoke", "--quiet", "--set", "world.colours=red,green,blue,yellow"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*argv, processes=2):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={processes}",
           f"--master-port={free_port()}", "-m", "soralite.cli", *argv]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def losses(run):
    return [json.loads(line)["loss"] for line in (run / "log.jsonl").read_text().splitlines()]


def test_two_processes_train_as_one_and_resume(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train-vae", *SMOKE, "--out", str(one / "vae"), "--eval", "0"]) == 0
    two.mkdir()
    shutil.copytree(one / "vae", two / "vae")                     # the same VAE for both
    steps = ["--set", "train.steps=4", "--set", "train.batch_size=4"]
    assert main(["train", *SMOKE, "--out", str(one), *steps]) == 0
    done = torchrun("train", *SMOKE, "--out", str(two), *steps)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count('"step": 4') == 1                    # rank 0 alone prints
    a, b = losses(one), losses(two)
    assert len(a) == len(b) == 4
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-4
    assert not (two / ".denoiser.lock").exists()
    # the checkpoint loads, and training resumes from it under torchrun
    assert load_pretrained(two / "denoiser").meta["step"] == 4
    more = ["--set", "train.steps=6", "--set", "train.batch_size=4"]
    again = torchrun("train", *SMOKE, "--out", str(two), *more)
    assert again.returncode == 0, again.stderr[-2000:]
    assert load_pretrained(two / "denoiser").meta["step"] == 6 and len(losses(two)) == 6
    assert Pipeline.from_pretrained(two).generate("a red circle moving left").shape[0] == 1


def test_the_vae_trains_under_two_processes_as_under_one(tmp_path):
    args = [*SMOKE, "--set", "train.vae_steps=4", "--set", "train.vae_batch_size=4", "--eval", "0"]
    assert main(["train-vae", *args, "--out", str(tmp_path / "one")]) == 0
    done = torchrun("train-vae", *args, "--out", str(tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-2000:]
    a = load_pretrained(tmp_path / "one").state_dict
    b = load_pretrained(tmp_path / "two").state_dict
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)


def test_an_uneven_global_batch_is_named(tmp_path):
    done = torchrun("train", *SMOKE, "--out", str(tmp_path / "r"), "--set", "train.batch_size=3",
                    "--set", "train.steps=2")
    assert done.returncode != 0
    assert "does not split evenly over 2 processes" in done.stderr


def test_bench_peer_prints_both_times_and_their_ratio(capsys):
    pytest.importorskip("diffusers")
    assert main(["bench", "--peer", "--preset", "smoke", "--repeats", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    peer = report["peer"]
    assert peer["seconds_per_step"]["soralite"] > 0 and peer["seconds_per_step"]["peer"] > 0
    assert report["ratio"] == pytest.approx(peer["seconds_per_step"]["soralite"] / peer["seconds_per_step"]["peer"], rel=0.01)
    assert peer["flops_per_step"]["peer"] > 0
