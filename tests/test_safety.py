"""Safety (notebook 13): C2PA provenance on what the kit writes, the usage policy before sampling,
the detection classifier and its ROC AUC."""
import hashlib
import json
import os
import stat

import c2pa
import numpy as np
import pytest
import torch

from soralite.cli import main
from soralite.config import COLOURS, MOTIONS, SHAPES, SIZES, get_config
from soralite.eval.detection import roc_auc, roc_curve
from soralite.language import WALL_PHRASE, PromptError
from soralite.pipeline import Pipeline
from soralite.safety import provenance as prov
from soralite.safety.detector import Detector, detect
from soralite.safety.policy import Policy, PolicyRefusal, default_policy, normalize
from soralite.train.detector_stage import DetectorStage
from soralite.train.loop import fit
from soralite.video import save_clip, to_tensor
from soralite.world import generate

PROMPT = "a red circle moving left"


@pytest.fixture(scope="module", autouse=True)
def home(tmp_path_factory):
    """Signing credentials go to a folder of the test's own, never the user's config folder."""
    folder = tmp_path_factory.mktemp("soralite-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SORALITE_HOME", str(folder))
        mp.delenv("SORALITE_SIGN_CERT", raising=False)
        mp.delenv("SORALITE_SIGN_KEY", raising=False)
        yield folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["quickstart", "--preset", "smoke", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def pipe(run_dir):
    return Pipeline.from_pretrained(run_dir)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def sample(capsys, run_dir, out, *extra, prompt=PROMPT):
    code, stdout, err = run(capsys, "sample", "--ckpt", run_dir, "--prompt", prompt, "--out", out,
                            "--quiet", *extra)
    assert code == 0, err
    return json.loads(stdout)


def assertions(manifest: dict) -> dict:
    return {a["label"]: a["data"] for a in manifest["assertions"]}


# ----------------------------------------------------------------------------------------------
# Provenance


def test_sample_mp4_and_png_validate_with_c2pas_own_reader_as_generated_naming_the_prompt(
        run_dir, pipe, tmp_path, capsys):
    sample(capsys, run_dir, tmp_path / "a.mp4")
    sample(capsys, run_dir, tmp_path / "a.png", "--frames", "1", "--seed", "3")
    for name, seed in (("a.mp4", 0), ("a.png", 3)):
        with c2pa.Reader(str(tmp_path / name)) as reader:                 # the library's reader
            state, manifest = reader.get_validation_state(), reader.get_active_manifest()
        assert state in ("Valid", "Trusted")
        found = assertions(manifest)
        created = [a for label, d in found.items() if label.startswith("c2pa.actions")
                   for a in d["actions"] if a["action"] == "c2pa.created"]
        assert created and created[0]["digitalSourceType"] == (
            "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia")
        gen = found["soralite.generation"]
        assert gen["prompt"] == PROMPT and gen["seed"] == seed and gen["task"] == "text"
        assert gen["steps"] == pipe.config.train.sample_steps
        assert gen["guidance"] == pipe.config.train.guidance_scale
        assert gen["checkpoint"]["denoiser_sha256"] == pipe.made_from["denoiser_sha256"]
        assert gen["checkpoint"]["vae_sha256"] == pipe.made_from["vae_sha256"]
        code, out, _ = run(capsys, "verify", tmp_path / name)
        report = json.loads(out)
        assert code == 0 and report["intact"] and report["generated"] and not report["problems"]


def _box(data: bytes, kind: bytes) -> tuple[int, int]:
    """(start, end) of the top-level MP4 box `kind`."""
    i = 0
    while i < len(data):
        size = int.from_bytes(data[i:i + 4], "big")
        if data[i + 4:i + 8] == kind:
            return i, i + size
        i += size
    raise AssertionError(f"no {kind!r} box")


def _flipped(path, pos, tmp_path):
    data = bytearray(path.read_bytes())
    data[pos] ^= 0x01
    out = tmp_path / f"changed-{pos}{path.suffix}"
    out.write_bytes(data)
    side = prov.sidecar_path(path)
    if side.exists():
        prov.sidecar_path(out).write_bytes(side.read_bytes())
    return out


def test_one_changed_byte_outside_the_manifest_fails_verify_with_a_nonzero_exit(run_dir, tmp_path, capsys):
    files = {ext: tmp_path / f"s{ext}" for ext in (".mp4", ".gif", ".npy")}
    for path in files.values():
        sample(capsys, run_dir, path)
    files[".png"] = tmp_path / "s.png"
    sample(capsys, run_dir, files[".png"], "--frames", "1")
    for ext, path in files.items():
        data = path.read_bytes()
        assert run(capsys, "verify", path)[0] == 0
        if ext == ".mp4":                    # every box but the manifest's own (uuid)
            u0, u1 = _box(data, b"uuid")
            positions = [p for p in range(len(data)) if not u0 <= p < u1]
        elif ext == ".png":                  # every byte but the manifest's chunk (caBX)
            c0 = data.index(b"caBX") - 4
            c1 = c0 + 12 + int.from_bytes(data[c0:c0 + 4], "big")
            positions = [p for p in range(len(data)) if not c0 <= p < c1]
        else:                                # a sidecar binds every byte
            positions = list(range(len(data)))
        for pos in positions[::max(1, len(positions) // 60)] + [positions[-1]]:
            changed = _flipped(path, pos, tmp_path)
            report = prov.verify(changed)
            assert not report["intact"] and report["problems"], f"{ext} byte {pos} went unnoticed"
            changed.unlink()
        code, out, err = run(capsys, "verify", _flipped(path, positions[len(positions) // 2], tmp_path))
        assert code == 1 and json.loads(out)["intact"] is False and "FAILED" in err


def test_a_file_without_a_manifest_fails_and_says_so(tmp_path, capsys):
    clip = generate(get_config("smoke").world, 1, seed=0).clips[0]
    for name in ("world.mp4", "world.gif", "world.npy", "world.png"):
        path = save_clip(tmp_path / name, clip[:1] if name.endswith(".png") else clip)
        code, out, err = run(capsys, "verify", path)
        report = json.loads(out)
        assert code == 1 and report["manifest"] is None and not report["intact"]
        assert "no C2PA manifest" in report["problems"][0] and "no C2PA manifest" in err


def test_sidecar_binds_the_files_sha256_and_belongs_to_that_file_only(run_dir, tmp_path, capsys):
    for ext in (".gif", ".npy"):
        path = tmp_path / f"c{ext}"
        sample(capsys, run_dir, path)
        side = prov.sidecar_path(path)
        assert side.name == f"c{ext}.c2pa" and side.exists()
        report = prov.verify(path)
        asset = assertions(report["active_manifest"])["soralite.asset"]
        assert asset["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert report["intact"] and report["manifest"] == "sidecar"
        other = tmp_path / f"other{ext}"                     # another clip with this sidecar
        sample(capsys, run_dir, other, "--seed", "5", prompt="a blue square moving up")
        prov.sidecar_path(other).write_bytes(side.read_bytes())
        assert not prov.verify(other)["intact"]


def test_the_self_made_certificate_is_reported_untrusted_and_lives_outside_the_repo(
        run_dir, home, tmp_path, capsys):
    path = tmp_path / "t.mp4"
    sample(capsys, run_dir, path)
    report = prov.verify(path)
    assert report["intact"] and not report["trusted"] and report["self_made"]
    assert report["trust_note"].startswith("untrusted")
    assert any(f["code"] == "signingCredential.untrusted" for f in report["validation_failures"])
    folder = prov.credentials_dir()
    assert folder == home / "c2pa" and (folder / "signer.key").exists()
    assert stat.S_IMODE(os.stat(folder / "signer.key").st_mode) == 0o600
    trusted = prov.verify(path, trust=folder / "root.pem")            # trusting its own root
    assert trusted["intact"] and trusted["trusted"]
    stranger = tmp_path / "stranger"
    prov.make_credentials(stranger)                                   # another root: still untrusted
    assert not prov.verify(path, trust=stranger / "root.pem")["trusted"]


def test_a_users_own_key_must_match_its_certificate(tmp_path):
    chain, _, _ = prov.make_chain()
    _, other_key, _ = prov.make_chain()
    (tmp_path / "chain.pem").write_bytes(chain)
    (tmp_path / "key.pem").write_bytes(other_key)
    with pytest.raises(ValueError, match="does not belong"):
        prov.Credentials.from_files(tmp_path / "chain.pem", tmp_path / "key.pem")


def test_no_provenance_writes_none_and_says_what_it_drops(run_dir, tmp_path, capsys):
    for name in ("n.mp4", "n.gif"):
        code, out, err = run(capsys, "sample", "--ckpt", run_dir, "--prompt", PROMPT, "--out",
                             tmp_path / name, "--quiet", "--no-provenance")
        assert code == 0 and json.loads(out)["provenance"] is None
        assert "--no-provenance" in err and "marks the file as generated" in err
        assert not prov.sidecar_path(tmp_path / name).exists()
        assert not prov.verify(tmp_path / name)["intact"]
    assert c2pa.Reader.try_create(str(tmp_path / "n.mp4")) is None


def test_quickstart_signs_its_sample_grid(run_dir):
    report = prov.verify(run_dir / "samples.gif")
    assert report["intact"] and report["generation"]["task"] == "grid"
    assert len(report["generation"]["prompts"]) > 1


def test_the_provenance_bench_measures_every_format():
    from soralite.bench import run_benches
    report = run_benches(["provenance"], 1, get_config("smoke"))["provenance"]
    for ext in ("mp4", "png", "gif", "npy"):
        assert report[ext]["intact"] and report[ext]["sign_ms"] > 0


# ----------------------------------------------------------------------------------------------
# The usage policy


ADVERSARIAL = ["a purple square moving left", "a PURPLE  squаre moving left",   # Cyrillic а
               "a p u r p l e square moving left", "a purp1e square moving left",
               "a purple squ\u200bare moving left", "ａ ｐｕｒｐｌｅ ｓｑｕａｒｅ", "a pürple square",
               "a p-u-r-p-l-e s.q.u.a.r.e", "a purrrple square", "a large purple square falling",
               "apurplesquare", "a pur ple square", "a violet box", "a square that is purple",
               "a ΡURΡLE square", "ᴀ ᴘᴜʀᴘʟᴇ ꜱqᴜᴀʀᴇ"]


@pytest.mark.parametrize("prompt", ADVERSARIAL)
def test_adversarial_spellings_of_a_purple_square_are_refused_naming_the_rule(prompt):
    refusal = default_policy().check(prompt)
    assert refusal is not None and refusal.rule == "no-purple-squares"
    assert "no-purple-squares" in str(refusal) and refusal.reason in str(refusal)


@pytest.mark.parametrize("prompt,rule", [("a g u n", "no-violence"), ("a red circle and a wеapon", "no-violence"),
                                         ("a b1ood red circle", "no-violence"), ("a KILL", "no-violence"),
                                         ("the president moving left", "no-real-people"),
                                         ("a famous   person", "no-real-people")])
def test_blocked_words_are_refused_by_their_rule_before_the_caption_language(pipe, prompt, rule):
    with pytest.raises(PolicyRefusal, match=rule) as err:
        pipe.check_prompts(prompt)
    assert "unknown word" not in str(err.value)
    assert isinstance(err.value, PromptError)                     # the CLI's one-line error, status 2


def _language_prompts(rng, n_multi=600):
    """Every one-object prompt of the caption language, and random ones of two and three objects."""
    single = [f"a {s + ' ' if s else ''}{c} {sh} {m}{w}" for s in (None, *SIZES) for c in COLOURS
              for sh in SHAPES for m in MOTIONS for w in ("", WALL_PHRASE)]
    objects = [(c, sh, f"a {c} {sh} {m}") for c in COLOURS for sh in SHAPES for m in MOTIONS]
    multi = []
    for _ in range(n_multi):
        k = rng.integers(2, 4)
        picked = [objects[i] for i in rng.choice(len(objects), k, replace=False)]
        multi.append((" and ".join(p[2] for p in picked), picked))
    return single, multi


def test_every_prompt_of_the_caption_language_passes_but_purple_squares():
    policy = default_policy()
    single, multi = _language_prompts(np.random.default_rng(0))
    for prompt in single:
        refused = policy.check(prompt) is not None
        assert refused == ("purple square" in prompt), prompt
    for prompt, picked in multi:
        refused = policy.check(prompt) is not None
        assert refused == any(c == "purple" and sh == "square" for c, sh, _ in picked), prompt


def test_normalization_reads_look_alikes_as_latin():
    assert normalize("a PURPLE  squаre") == ["a purple square"]
    assert normalize("a purp1e square") == ["a purple square", "a purpie square"]
    assert normalize("ａ ｒｅｄ\u200b ｃｉｒｃｌｅ") == ["a red circle"]


def test_a_refused_prompt_exits_2_with_the_rule_and_no_policy_bypasses_it(run_dir, tmp_path, capsys):
    out = tmp_path / "p.gif"
    code, _, err = run(capsys, "sample", "--ckpt", run_dir, "--prompt", "a purple square moving left",
                       "--out", out, "--quiet")
    assert code == 2 and "no-purple-squares" in err and not out.exists()
    code, stdout, err = run(capsys, "sample", "--ckpt", run_dir, "--prompt",
                            "a purple square moving left", "--out", out, "--quiet", "--no-policy")
    assert code == 0 and out.exists() and "--no-policy" in err
    assert prov.verify(out)["generation"]["prompt"] == "a purple square moving left"


def test_pipeline_policy_none_bypasses_and_suspension_restores_it(pipe):
    with pytest.raises(PolicyRefusal):
        pipe.generate("a purple square moving left")
    with pipe.policy_suspended():
        assert pipe.generate("a purple square moving left").shape[0] == 1
    assert pipe.policy is not None
    saved, pipe.policy = pipe.policy, None
    try:
        assert pipe.generate("a purple square moving left").shape[0] == 1
    finally:
        pipe.policy = saved


def test_the_frame_review_refuses_by_its_rule_where_a_policy_asks_for_it(pipe):
    saved = pipe.policy
    try:
        pipe.policy = default_policy().with_frame_review(lambda clips: np.zeros(clips.shape[:2]))
        with pytest.raises(PolicyRefusal, match="generated-frames-look-generated"):
            pipe.generate(PROMPT)
        pipe.policy = default_policy().with_frame_review(lambda clips: np.ones(clips.shape[:2]))
        assert pipe.generate(PROMPT).shape[0] == 1
    finally:
        pipe.policy = saved
    assert default_policy().review(np.zeros((1, 4, 16, 16, 3), np.uint8)) is None   # off by default
    on = default_policy().with_frame_review(lambda c: np.zeros(c.shape[:2]))
    on.frame_classifier = None
    with pytest.raises(ValueError, match="no frame classifier"):
        on.review(np.zeros((1, 4, 16, 16, 3), np.uint8))


def test_a_policy_rule_without_a_reason_is_a_clear_error(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"rules": [{"id": "x", "kind": "words", "words": ["a"]}]}))
    with pytest.raises(ValueError, match="needs an 'id' and a 'reason'"):
        Policy.load(path)


# ----------------------------------------------------------------------------------------------
# The detector


def test_a_smoke_detector_trains_and_detect_gives_probabilities_per_clip_and_frame(run_dir, tmp_path, capsys):
    det_dir = tmp_path / "det"
    code, out, err = run(capsys, "train-detector", "--ckpt", run_dir, "--out", det_dir, "--quiet")
    assert code == 0, err
    assert json.loads(out)["steps"] == get_config("smoke").detector.steps
    sample(capsys, run_dir, tmp_path / "clips" / "a.gif")
    sample(capsys, run_dir, tmp_path / "clips" / "b.png", "--frames", "1")
    code, out, err = run(capsys, "detect", tmp_path / "clips", "--ckpt", det_dir)
    rows = json.loads(out)
    assert code == 0 and [os.path.basename(r["file"]) for r in rows] == ["a.gif", "b.png"]
    for row, frames in zip(rows, (4, 1)):
        assert 0 <= row["generated_probability"] <= 1 and len(row["frame_probabilities"]) == frames
        assert all(0 <= p <= 1 for p in row["frame_probabilities"])
    detector = Detector.from_pretrained(det_dir)
    clips = generate(get_config("smoke").world, 3, seed=1).clips                # (3, T, H, W, 3)
    found = detect(clips, detector)
    assert len(found) == 3 and all(len(r["frame_probabilities"]) == clips.shape[1] for r in found)


def test_eval_detector_reports_auc_and_the_robustness_rows(run_dir, tmp_path, capsys):
    det_dir = tmp_path / "det"
    assert run(capsys, "train-detector", "--ckpt", run_dir, "--out", det_dir, "--quiet")[0] == 0
    code, out, err = run(capsys, "eval-detector", "--ckpt", run_dir, "--detector", det_dir,
                         "--other", run_dir, "--n", "4", "--quiet")
    report = json.loads(out)
    assert code == 0, err
    assert [r["name"] for r in report["rows"]] == ["clean", "mp4", "resize", "crop", "noise", "other model"]
    assert all(0 <= r["auc"] <= 1 and 0 <= r["frame_auc"] <= 1 for r in report["rows"])


def test_the_detector_learns_to_tell_a_separable_toy_case():
    """Class 1 is world clips with a faint grey haze, class 0 the clean clips: a real signal that
    the detector must find in a few dozen steps (a broken loss or head would stay near 0.5)."""
    cfg = get_config("smoke").detector
    cfg.steps, cfg.batch_size, cfg.augment = 40, 8, 0.0
    world = get_config("smoke").world
    clean = generate(world, 40, seed=0).clips
    hazy = np.clip(generate(world, 40, seed=1).clips.astype(int) + 24, 0, 255).astype(np.uint8)
    torch.manual_seed(0)
    model = Detector(cfg)
    stage = DetectorStage(cfg, model, to_tensor(hazy[:32]), to_tensor(clean[:32]),
                          torch.Generator().manual_seed(0), torch.device("cpu"), None, {})
    fit(stage, model, torch.optim.AdamW(model.parameters(), lr=1e-2), start=0, stop=cfg.steps,
        total=cfg.steps, base_lr=1e-2, warmup=1, device=torch.device("cpu"), progress=False)
    p_hazy, _ = model.probabilities(hazy[32:])
    p_clean, _ = model.probabilities(clean[32:])
    assert roc_auc(np.r_[p_hazy, p_clean], np.r_[np.ones(8), np.zeros(8)]) >= 0.9


def test_roc_auc_of_a_perfect_a_reversed_a_constant_and_a_random_scorer():
    labels = np.r_[np.ones(50), np.zeros(50)]
    assert roc_auc(np.r_[np.linspace(0.6, 1, 50), np.linspace(0, 0.4, 50)], labels) == 1.0
    assert roc_auc(np.r_[np.linspace(0, 0.4, 50), np.linspace(0.6, 1, 50)], labels) == 0.0
    assert roc_auc(np.full(100, 0.3), labels) == 0.5                  # ties count one half
    rng = np.random.default_rng(0)
    assert abs(roc_auc(rng.random(4000), rng.random(4000) < 0.5) - 0.5) < 0.03
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75      # 3 of the 4 pairs in order
    fpr, tpr, _ = roc_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert abs(np.trapezoid(tpr, fpr) - 0.75) < 1e-9
    with pytest.raises(ValueError):
        roc_auc([0.1, 0.2], [1, 1])


def test_detector_checkpoints_round_trip_and_refuse_another_kind(run_dir, tmp_path):
    model = Detector(get_config("smoke").detector)
    model.save_pretrained(tmp_path / "d", {"note": "test"})
    again = Detector.from_pretrained(tmp_path / "d")
    clips = generate(get_config("smoke").world, 2, seed=0).clips
    np.testing.assert_allclose(model.probabilities(clips)[0], again.probabilities(clips)[0])
    with pytest.raises(ValueError, match="not a detector"):
        Detector.from_pretrained(run_dir / "vae")
