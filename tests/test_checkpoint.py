"""Checkpoints: round trips, atomic saves, clear errors, resumed VAE training (soralite/checkpoint.py,
soralite/train_vae.py)."""
import json
import subprocess
import sys
import textwrap

import pytest
import torch

import soralite.checkpoint as ckpt_mod
from soralite.checkpoint import (CheckpointError, CheckpointNotFoundError, ConfigMismatchError,
                                 flatten_optimizer_state, load_pretrained, save_pretrained,
                                 unflatten_optimizer_state)
from soralite.config import VAEConfig, get_config
from soralite.models import VideoVAE

torch.set_flush_denormal(True)                  # denormals make CPU conv backward crawl


SMALL = dict(base_channels=8, num_res_blocks=1, patch_channels=16, num_mlp_blocks=1)


def small_vae(seed=0, **kw) -> VideoVAE:
    torch.manual_seed(seed)
    return VideoVAE(VAEConfig(**{**SMALL, **kw})).eval()


def tensors(seed=0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(3, 4, generator=g), "b": torch.arange(5), "s": torch.tensor(2.5)}


# ----------------------------------------------------------------------------------------------
# The generic directory format


def test_save_load_round_trip(tmp_path):
    d = save_pretrained(tmp_path / "c", {"a": 1, "t": (1, 2)}, tensors(), extra_tensors={"x": torch.ones(2)},
                        meta={"step": 7})
    got = load_pretrained(d)
    assert got.config == {"a": 1, "t": [1, 2]} and got.meta == {"step": 7}
    for k, v in tensors().items():
        assert torch.equal(got.state_dict[k], v)
    assert torch.equal(got.extra["x"], torch.ones(2))
    assert sorted(p.name for p in d.iterdir()) == ["config.json", "extra.safetensors", "manifest.json",
                                                   "meta.json", "model.safetensors"]
    assert not list(tmp_path.glob(".c.*")), "no temporary or backup directory is left behind"


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="no checkpoint at .*does not exist"):
        load_pretrained(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointNotFoundError, match="config.json is missing"):
        load_pretrained(tmp_path / "empty")


@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "meta.json"])
def test_corrupt_or_missing_file_is_a_clear_error(tmp_path, name):
    d = save_pretrained(tmp_path / "c", {"a": 1}, tensors(), meta={"step": 1})
    data = bytearray((d / name).read_bytes())
    data[len(data) // 2] ^= 0xFF                                    # flip one byte
    (d / name).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f"{name} is corrupt"):
        load_pretrained(d)
    (d / name).unlink()
    with pytest.raises(CheckpointError, match=f"{name}"):
        load_pretrained(d)


def test_truncated_weights_without_manifest_are_a_clear_error(tmp_path):
    d = save_pretrained(tmp_path / "c", {"a": 1}, tensors())
    (d / "manifest.json").unlink()
    assert load_pretrained(d).config == {"a": 1}                     # still loads without it
    (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:-7])
    with pytest.raises(CheckpointError, match="model.safetensors is corrupt: not a readable safetensors"):
        load_pretrained(d)


def test_a_save_that_fails_midway_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    d = save_pretrained(tmp_path / "c", {"v": 1}, tensors(1))
    calls = []

    def dying_writer(path, data):
        calls.append(path.name)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return real_writer(path, data)

    real_writer = ckpt_mod._write_file
    monkeypatch.setattr(ckpt_mod, "_write_file", dying_writer)
    with pytest.raises(OSError, match="simulated"):
        save_pretrained(d, {"v": 2}, tensors(2))
    monkeypatch.undo()
    got = load_pretrained(d)
    assert got.config == {"v": 1} and torch.equal(got.state_dict["w"], tensors(1)["w"])
    assert not list(tmp_path.glob(".c.tmp-*"))


def test_a_save_killed_between_the_two_renames_is_recovered(tmp_path, monkeypatch):
    d = save_pretrained(tmp_path / "c", {"v": 1}, tensors(1))
    real_rename = ckpt_mod.os.rename

    def rename(src, dst):
        if ".tmp-" in str(src):
            raise KeyboardInterrupt                                  # dies after moving the old one aside
        return real_rename(src, dst)

    monkeypatch.setattr(ckpt_mod.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        save_pretrained(d, {"v": 2}, tensors(2))
    monkeypatch.undo()
    assert not d.exists()
    assert load_pretrained(d).config == {"v": 1}                     # found at its backup name
    save_pretrained(d, {"v": 3}, tensors(3))                         # the next save puts things right
    assert load_pretrained(d).config == {"v": 3}
    assert not list(tmp_path.glob(".c.*"))


def test_a_process_killed_mid_save_leaves_the_previous_checkpoint(tmp_path):
    d = save_pretrained(tmp_path / "c", {"v": 1}, tensors(1))
    script = textwrap.dedent(f"""
        import os, torch
        import soralite.checkpoint as c
        real = c._write_file
        def writer(path, data):
            out = real(path, data)
            if path.name == "model.safetensors":
                os._exit(9)                                         # killed half-way through
            return out
        c._write_file = writer
        c.save_pretrained({str(d)!r}, {{"v": 2}}, {{"w": torch.zeros(3)}})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == 9, proc.stderr.decode()
    assert list(tmp_path.glob(".c.tmp-*")), "the dead save left its temporary directory"
    assert load_pretrained(d).config == {"v": 1}
    save_pretrained(d, {"v": 3}, tensors(3))
    assert not list(tmp_path.glob(".c.tmp-*")), "the next save cleans up after the dead one"


def test_optimizer_state_round_trips_through_tensors_and_json(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.99))
    for _ in range(2):
        model(torch.randn(5, 4)).pow(2).mean().backward()
        opt.step()
    flat, info = flatten_optimizer_state(opt.state_dict())
    d = save_pretrained(tmp_path / "o", {}, model.state_dict(), extra_tensors=flat, meta={"opt": info})
    got = load_pretrained(d)
    model2 = torch.nn.Linear(4, 3)
    model2.load_state_dict(got.state_dict)
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1.0)
    opt2.load_state_dict(unflatten_optimizer_state(got.extra, got.meta["opt"]))
    x = torch.randn(5, 4)
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m(x).pow(2).mean().backward()
        o.step()
    torch.testing.assert_close(model2.weight, model.weight, rtol=0, atol=0)


# ----------------------------------------------------------------------------------------------
# The VAE's checkpoints


def test_vae_round_trip_gives_the_same_outputs(tmp_path):
    vae = small_vae(latent_channels=8)
    vae.config.scaling_factor = 0.5
    vae.save_pretrained(tmp_path / "vae")
    assert json.loads((tmp_path / "vae" / "config.json").read_text())["scaling_factor"] == 0.5
    loaded = VideoVAE.from_pretrained(tmp_path / "vae")
    x = torch.rand(1, 3, 4, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded.encode(x).mean, vae.encode(x).mean)
        z = vae.encode(x).mode()
        assert torch.equal(loaded.decode(z), vae.decode(z))
    assert loaded.config.scaling_factor == 0.5


def test_loading_into_a_different_config_names_the_fields(tmp_path):
    small_vae(latent_channels=4).save_pretrained(tmp_path / "vae")
    other = VAEConfig(**{**SMALL, "latent_channels": 8, "temporal_compression": 4})
    with pytest.raises(ConfigMismatchError, match=r"vae.latent_channels \(checkpoint: 4, config: 8\)") as e:
        VideoVAE.from_pretrained(tmp_path / "vae", config=other)
    assert "vae.temporal_compression" in str(e.value) and "base_channels" not in str(e.value)
    # the measured scale and the chunk length are not part of the architecture
    ok = VAEConfig(**{**SMALL, "scaling_factor": 3.0, "chunk_frames": 8})
    assert VideoVAE.from_pretrained(tmp_path / "vae", config=ok).config.chunk_frames == 8


# ----------------------------------------------------------------------------------------------
# Training: checkpoints, resume


def smoke_cfg(**kw):
    return get_config("smoke", overrides={"train.vae_steps": 4, "train.checkpoint_every": 0, **kw})


def test_train_vae_saves_a_loadable_checkpoint_with_a_measured_scale(tmp_path):
    from soralite.train import train_vae

    cfg = smoke_cfg()
    vae = train_vae(cfg, tmp_path / "vae", progress=False)
    assert vae.config.scaling_factor != 1.0
    loaded = VideoVAE.from_pretrained(tmp_path / "vae", config=cfg.vae)
    assert loaded.config.scaling_factor == vae.config.scaling_factor
    meta = load_pretrained(tmp_path / "vae").meta
    assert meta["step"] == 4 and meta["complete"]
    for (k, v), (k2, v2) in zip(vae.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_vae_precision_trains_under_bf16_where_asked_and_records_it(tmp_path, monkeypatch):
    import soralite.runtime as rt
    from soralite.train import train_vae

    fp32 = train_vae(smoke_cfg(), tmp_path / "fp32", progress=False)
    bf16 = train_vae(smoke_cfg(**{"train.vae_precision": "bf16"}), tmp_path / "bf16", progress=False)
    assert load_pretrained(tmp_path / "fp32").meta["precision"] == "fp32"
    assert load_pretrained(tmp_path / "bf16").meta["precision"] == "bf16"
    # the same init, data and noise: only the forward's precision differs, and it shows
    assert any(not torch.equal(v, bf16.state_dict()[k]) for k, v in fp32.state_dict().items())
    assert all(v.dtype == torch.float32 for v in bf16.state_dict().values())   # fp32 master weights
    # "auto" is bf16 exactly where the CPU multiplies bf16 natively (AMX)
    cpu, cfg = torch.device("cpu"), smoke_cfg(**{"train.vae_precision": "auto"})
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert rt.vae_precision(cfg, cpu) == "bf16"
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert rt.vae_precision(cfg, cpu) == "fp32"
    with pytest.raises(ValueError, match="vae_precision.*auto.*fp32.*bf16"):
        smoke_cfg(**{"train.vae_precision": "fp16"})


def test_a_vae_saved_before_vae_precision_existed_fits_the_fp32_default(tmp_path):
    from soralite.runs import check_stage
    from soralite.train.vae_stage import saved_config, train_vae

    train_vae(smoke_cfg(), tmp_path / "vae", progress=False)
    saved = saved_config(load_pretrained(tmp_path / "vae"))
    saved["train"].pop("vae_precision")                  # as an older kit wrote it
    check_stage(saved, smoke_cfg(), "vae", tmp_path)     # fits: the default keeps fp32
    with pytest.raises(ConfigMismatchError, match="vae_precision"):
        check_stage(saved, smoke_cfg(**{"train.vae_precision": "bf16"}), "vae", tmp_path)


def test_resume_continues_the_same_run(tmp_path):
    from soralite.train import train_vae

    cfg = smoke_cfg()
    straight = train_vae(cfg, tmp_path / "a", progress=False)
    half = train_vae(cfg, tmp_path / "b", progress=False, max_steps=2)
    assert load_pretrained(tmp_path / "b").meta["step"] == 2
    assert any(not torch.equal(v, straight.state_dict()[k]) for k, v in half.state_dict().items())
    resumed = train_vae(cfg, tmp_path / "b", progress=False)
    for k, v in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=1e-5, atol=1e-6)


def test_a_run_stopped_by_hand_saves_and_resumes_to_the_same_weights(tmp_path, monkeypatch):
    import soralite.train.vae_stage as tv

    cfg = smoke_cfg()
    straight = tv.train_vae(cfg, tmp_path / "a", progress=False)
    real_clips = tv.training_clips

    def clips(cfg_, step):
        if step == 3:
            raise KeyboardInterrupt                                  # Ctrl-C during step 3
        return real_clips(cfg_, step)

    monkeypatch.setattr(tv, "training_clips", clips)
    with pytest.raises(KeyboardInterrupt):
        tv.train_vae(cfg, tmp_path / "b", progress=False)
    monkeypatch.undo()
    assert load_pretrained(tmp_path / "b").meta["step"] == 3
    resumed = tv.train_vae(cfg, tmp_path / "b", progress=False)
    for k, v in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=1e-5, atol=1e-6)


def test_evaluate_vae_reports_psnr_and_tracker_adherence():
    from soralite.eval import evaluate_vae

    cfg = smoke_cfg()
    scores = evaluate_vae(small_vae(), cfg.world, n=4, seed=3)
    assert set(scores) >= {"psnr", "adherence", "adherence_original"}
    assert 0 <= scores["adherence"] <= 1 and 0 <= scores["adherence_original"] <= 1
    assert 0 < scores["psnr"] < 100


def test_resume_with_another_config_is_refused_by_name(tmp_path):
    from soralite.train import train_vae

    train_vae(smoke_cfg(), tmp_path / "vae", progress=False, max_steps=1)
    with pytest.raises(ConfigMismatchError, match=r"train.vae_lr"):
        train_vae(smoke_cfg(**{"train.vae_lr": 1e-4}), tmp_path / "vae", progress=False)


def test_load_or_train_vae_loads_a_finished_checkpoint(tmp_path, monkeypatch):
    import soralite.train.vae_stage as tv

    cfg = smoke_cfg()
    first = tv.load_or_train_vae(cfg, tmp_path / "vae", progress=False)
    monkeypatch.setattr(tv, "train_vae", lambda *a, **k: pytest.fail("trained again"))
    again = tv.load_or_train_vae(cfg, tmp_path / "vae", progress=False)
    assert torch.equal(again.encoder.patchify.weight, first.encoder.patchify.weight)
