import json

import numpy as np
import pytest

from soralite.cli import main
from soralite.config import PALETTE, WALL_RGB


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_lists_the_commands(capsys):
    code, out, _ = run(capsys)
    assert code == 0 and "make-data" in out and "score" in out


def test_make_data_then_score(tmp_path, capsys):
    code, out, _ = run(capsys, "make-data", "--n", "12", "--seed", "11", "--out", str(tmp_path),
                       "--quiet", "--height", "32", "--width", "48", "--wall-prob", "0.5")
    assert code == 0
    lines = [json.loads(x) for x in (tmp_path / "captions.jsonl").read_text().splitlines()]
    assert len(lines) == 12
    allowed = {(0, 0, 0), WALL_RGB, *PALETTE.values()}
    for row in lines:
        clip = np.load(tmp_path / row["file"], allow_pickle=False)
        assert clip.shape == (16, 32, 48, 3) and clip.dtype == np.uint8
        assert {tuple(c) for c in clip.reshape(-1, 3)} <= allowed
        assert (tmp_path / row["file"]).with_suffix(".gif").exists()
        obj = row["scene"]["objects"][0]
        assert len(obj["cx"]) == 16 and obj["colour"] in PALETTE and row["caption"]
    code, out, _ = run(capsys, "score", str(tmp_path), "--quiet")
    report = json.loads(out)
    assert code == 0 and report["n"] == 12 and report["adherence"] == 1.0
    for key in ("colour", "shape", "size", "motion", "no_extra", "count_consistency",
                "shape_stability", "velocity_error"):
        assert key in report
    # the same seed gives the same clips
    run(capsys, "make-data", "--n", "2", "--seed", "11", "--out", str(tmp_path / "again"),
        "--quiet", "--height", "32", "--width", "48", "--wall-prob", "0.5", "--no-gif")
    np.testing.assert_array_equal(np.load(tmp_path / "clip_00001.npy"),
                                  np.load(tmp_path / "again" / "clip_00001.npy"))


def test_score_detects_wrong_captions(tmp_path, capsys):
    run(capsys, "make-data", "--n", "6", "--out", str(tmp_path), "--quiet", "--no-gif")
    rows = [json.loads(x) for x in (tmp_path / "captions.jsonl").read_text().splitlines()]
    rows = [{"file": r["file"], "caption": rows[(i + 1) % 6]["caption"]} for i, r in enumerate(rows)]
    (tmp_path / "captions.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    _, out, _ = run(capsys, "score", str(tmp_path), "--quiet")
    assert json.loads(out)["adherence"] < 0.5


@pytest.mark.parametrize("argv,message", [
    (["make-data", "--n", "2", "--out", "{tmp}", "--height", "8"], "must be >= 16"),
    (["make-data", "--n", "2", "--out", "{tmp}", "--frames", "0"], "must be >= 1"),
    (["make-data", "--n", "2", "--out", "{tmp}", "--preset", "huge"], "unknown preset 'huge'"),
    (["make-data", "--n", "0", "--out", "{tmp}"], "at least 1"),
    (["score", "{tmp}/missing"], "no folder"),
    (["score", "{tmp}"], "no captions.jsonl"),
])
def test_bad_input_exits_with_a_clear_error(tmp_path, capsys, argv, message):
    code, _, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2 and message in err


def test_corrupt_clip_is_named(tmp_path, capsys):
    run(capsys, "make-data", "--n", "2", "--out", str(tmp_path), "--quiet", "--no-gif")
    (tmp_path / "clip_00001.npy").write_bytes(b"not a clip")
    code, _, err = run(capsys, "score", str(tmp_path), "--quiet")
    assert code == 2 and "clip_00001.npy" in err
