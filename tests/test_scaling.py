"""The scaling study (notebook 14): FLOPs are counted, not estimated, and grow with width and
steps; a sweep writes its table and skips what it finished; the power-law fit recovers a known
law; the frontier is monotone; `soralite scale` never writes the repo's table from smoke."""
import copy
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from soralite import cli
from soralite.checkpoint import weights_sha256
from soralite.config import DATA_DIR, apply_overrides, get_config
from soralite.models import Denoiser, VideoVAE, latent_shape
from soralite.studies import scaling
from soralite.studies.scaling import (count_flops, figure_runs, fit_power_law, frontier, grid_for,
                                      predict, run_config, run_sweep, training_step_flops)
from soralite.train import train as real_train

RUN_KEYS = {"size", "steps", "flops", "loss", "adherence", "adherence_ci", "loss_by_level",
            "flops_per_step", "parameters"}


@pytest.fixture(scope="module")
def smoke():
    return get_config("smoke")


def test_attention_on_the_cpu_is_counted():
    # torch's counter has no formula for the CPU's fused attention; the study adds one
    B, h, N, d = 2, 3, 16, 8
    q = torch.randn(B, h, N, d)
    flops = count_flops(lambda: F.scaled_dot_product_attention(q, q, q))
    assert flops == 2 * (2 * B * h * N * N * d)             # q k^T and (softmax) v


def test_step_flops_are_positive_and_grow_with_width_and_steps(smoke):
    cfg = run_config(smoke, "DiT-XS/2", 1)
    xs = training_step_flops(cfg)
    assert 0 < xs < training_step_flops(run_config(smoke, "DiT-S/2", 1))
    wider = apply_overrides(copy.deepcopy(cfg), {"dit.hidden_size": 2 * cfg.dit.hidden_size})
    assert training_step_flops(wider) > 2 * xs           # the matmuls grow with the width squared
    assert training_step_flops(cfg, batch_size=2 * cfg.train.batch_size) == 2 * xs   # linear in B
    # text alone (one noise level a clip: adaLN once a clip, not once a latent frame) costs less
    text = apply_overrides(copy.deepcopy(cfg), {"train.tasks": "text:1"})
    assert training_step_flops(text, batch_size=4) == 2 * training_step_flops(text, batch_size=2) < 2 * xs
    total, by_module = training_step_flops(cfg, by_module=True)
    assert total == xs and 0 < by_module["Denoiser.dit"] < total


def test_a_training_step_costs_about_three_forward_passes(smoke):
    # backward computes two matmuls for every one of the forward (the input's and the weight's
    # gradients); the first layers, whose inputs need no gradient, skip one, and fused attention
    # recomputes its scores (half an attention more)
    cfg = run_config(smoke, "DiT-S/2", 1)
    model = Denoiser(cfg)
    B = cfg.train.batch_size
    x = torch.randn(B, *latent_shape(cfg))
    ids, mask = model.encode_prompts(["a red circle moving left"] * B)
    with torch.no_grad():
        t = torch.rand(B, x.shape[2])                      # a level per latent frame, as training
        given = torch.zeros(B, x.shape[2], dtype=torch.bool)
        forward = count_flops(lambda: model(x, t, ids, mask, x, given))
    ratio = training_step_flops(cfg) / forward
    assert 2.8 < ratio < 3.1


def test_a_smoke_sweep_writes_its_table_and_skips_finished_runs(smoke, tmp_path, monkeypatch):
    grid = grid_for("smoke", sizes=["DiT-XS/2"], steps=[1, 2, 8])
    table = run_sweep(smoke, tmp_path, grid, bootstrap=50, progress=False, log=lambda *_: None)
    assert len(table["runs"]) == 3 and table["runs_measured_now"] == 3
    for run in table["runs"]:
        assert RUN_KEYS <= set(run)
        assert run["flops"] == run["steps"] * run["flops_per_step"] > 0
        assert np.isfinite(run["loss"]) and 0 <= run["adherence"] <= 1
        assert (tmp_path / scaling.run_name(run["size"], run["steps"]) / scaling.RESULT_FILE).exists()
    flops = [r["flops"] for r in sorted(table["runs"], key=lambda r: r["steps"])]
    assert flops[0] < flops[1] < flops[2]                   # grows with steps
    assert [r["compute_ratio"] for r in table["figure"]["runs"]] == [1, 2, 8]

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(scaling, "train", no_training)
    again = run_sweep(smoke, tmp_path, grid, bootstrap=50, progress=False, log=lambda *_: None)
    assert again["runs_measured_now"] == 0
    assert [r["loss"] for r in again["runs"]] == [r["loss"] for r in table["runs"]]

    # a run without its result is measured again from its checkpoint, not trained from scratch
    (tmp_path / scaling.run_name("DiT-XS/2", 8) / scaling.RESULT_FILE).unlink()
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[0].train.steps)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(scaling, "train", counting)
    third = run_sweep(smoke, tmp_path, grid, bootstrap=50, progress=False, log=lambda *_: None)
    assert calls == [8] and third["runs_measured_now"] == 1
    redone = next(r for r in third["runs"] if r["steps"] == 8)
    assert redone["resumed_from"] == 8 and redone["loss"] == pytest.approx(
        next(r for r in table["runs"] if r["steps"] == 8)["loss"], rel=1e-6)


def test_a_sweep_given_a_vae_keeps_a_copy_in_its_folder(smoke, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    grid = grid_for("smoke", sizes=["DiT-XS/2"], steps=[1])
    run_sweep(smoke, first, grid, bootstrap=10, progress=False, log=lambda *_: None)
    table = run_sweep(smoke, second, grid, vae_dir=first / "vae", bootstrap=10, progress=False,
                      log=lambda *_: None)
    shared = VideoVAE.from_pretrained(second / "vae")              # what notebook 14 loads
    assert weights_sha256(shared.state_dict()) == table["settings"]["vae_sha256"] == \
        weights_sha256(VideoVAE.from_pretrained(first / "vae").state_dict())
    other = tmp_path / "other"
    VideoVAE(smoke.vae).save_pretrained(other)                     # fresh weights, another VAE
    with pytest.raises(ValueError, match="holds another VAE"):
        run_sweep(smoke, second, grid, vae_dir=other, bootstrap=10, progress=False, log=lambda *_: None)


def test_the_cli_writes_a_smoke_table_inside_out_and_never_the_repos(smoke, tmp_path, capsys):
    repo_table = DATA_DIR / scaling.TABLE_FILE
    before = repo_table.stat().st_mtime_ns if repo_table.exists() else None
    code = cli.main(["scale", "--preset", "smoke", "--out", str(tmp_path), "--sizes", "DiT-XS/2",
                     "--steps", "1", "2", "4", "--quiet"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    table = json.loads((tmp_path / scaling.TABLE_FILE).read_text())
    assert printed["table"] == str(tmp_path / scaling.TABLE_FILE)
    assert table["command"].startswith("soralite scale --preset smoke")
    assert {"cpu_count", "torch", "load_average"} <= set(table["machine"])
    assert (tmp_path / "scaling.png").stat().st_size > 0 and (tmp_path / "figure.gif").stat().st_size > 0
    assert (repo_table.stat().st_mtime_ns if repo_table.exists() else None) == before
    code = cli.main(["scale", "--preset", "smoke", "--out", str(tmp_path), "--table", str(repo_table)])
    assert code == 2 and "tiny sweep" in capsys.readouterr().err


def test_the_fit_recovers_a_known_power_law():
    a, b, c = 2.5e3, 0.3, 0.4
    C = np.geomspace(1e11, 1e14, 9)
    exact = fit_power_law(C, a * C ** -b + c)
    assert exact["b"] == pytest.approx(b, rel=1e-3) and exact["c"] == pytest.approx(c, abs=1e-3)
    assert exact["a"] == pytest.approx(a, rel=1e-2)
    rng = np.random.default_rng(0)
    noisy = a * C ** -b + c + rng.normal(0, 0.003, len(C))
    fit = fit_power_law(C, noisy)
    assert abs(fit["b"] - b) < 0.05 and abs(fit["c"] - c) < 0.02
    assert predict(fit, 2 * C[-1]) == pytest.approx(a * (2 * C[-1]) ** -b + c, abs=0.02)
    with pytest.raises(ValueError, match="at least 3 points"):
        fit_power_law(C[:2], noisy[:2])


def test_the_bootstrap_interval_covers_the_exponent():
    a, b, c = 1e3, 0.25, 0.3
    rng = np.random.default_rng(1)
    runs = [{"size": f"s{k}", "steps": n, "flops": C, "loss": a * C ** -b + c + rng.normal(0, 0.002)}
            for k, C0 in enumerate((1e11, 3e11, 1e12))
            for n, C in ((n, C0 * n) for n in (1, 2, 4, 8, 16))]
    fit = scaling.bootstrap_fit(runs, n=200, seed=0)
    assert fit["b_ci95"][0] <= b <= fit["b_ci95"][1]
    assert fit["b_se"] > 0 and fit["bootstrap"] > 100


def test_the_frontier_is_monotone_and_dominates_every_run():
    rng = np.random.default_rng(2)
    runs = [{"size": "s", "steps": k, "flops": float(f), "loss": float(l)}
            for k, (f, l) in enumerate(zip(rng.uniform(1, 100, 60), rng.uniform(0, 1, 60)))]
    front = frontier(runs)
    assert all(p["flops"] < q["flops"] and p["loss"] > q["loss"] for p, q in zip(front, front[1:]))
    for r in runs:                               # every run is matched or beaten at its compute
        assert any(f["flops"] <= r["flops"] and f["loss"] <= r["loss"] for f in front)
    assert front[0] == min(runs, key=lambda r: r["flops"])


def test_the_figure_takes_1_4_and_32_times_the_base_compute():
    runs = [{"size": "A", "steps": n, "flops": 10.0 * n} for n in (50, 100, 200, 400, 800, 1600)]
    runs += [{"size": "B", "steps": n, "flops": 100.0 * n} for n in (25, 50)]
    picked = figure_runs(runs, "A")
    assert [r["steps"] for r in picked] == [50, 200, 1600]
    assert figure_runs(runs)[0]["size"] == "A"              # the size whose budgets span most
    with pytest.raises(ValueError, match="needs 3 runs"):
        figure_runs(runs, "B")


def test_the_grid_names_what_is_wrong():
    with pytest.raises(ValueError, match="unknown DiT size"):
        grid_for("smoke", sizes=["DiT-XXL/2"])
    with pytest.raises(ValueError, match="steps must be"):
        grid_for("smoke", steps=[0])


def test_the_tiny_grid_spans_32x_in_compute_with_a_1_4_32_figure():
    tiny, cfg = grid_for("tiny"), get_config("tiny")
    assert len(tiny.sizes) >= 3 and all(len(v) >= 4 for v in tiny.steps.values())
    per_clip = {s: training_step_flops(run_config(cfg, s, 1), batch_size=1) for s in tiny.sizes}
    compute = [n * per_clip[s] for s in tiny.sizes for n in tiny.steps[s]]
    assert max(compute) / min(compute) >= 32
    steps = tiny.steps[tiny.figure_size]
    assert {steps[0], 4 * steps[0], 32 * steps[0]} <= set(steps)
