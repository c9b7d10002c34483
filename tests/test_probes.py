"""World-simulation probes (soralite/studies/probes.py, notebook 11): on a "model" that returns the
world's own clips each probe reads the world's answer (permanence, no morphing, gravity 0.004,
restitution 0.8, velocity error at the tracker's floor), and every probe runs on a smoke
pipeline and on the command line."""
import contextlib
import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest

from soralite.cli import main
from soralite.config import get_config
from soralite.quickstart import quickstart
from soralite.studies.probes import MINUTE_FRAMES, PROBES, _scenes, morphs, probe_minute, run_probe, turns
from soralite.world import render, render_prompt, track_clip


class WorldAsModel:
    """A stand-in pipeline whose continuations are the world's own clips: a perfect simulator."""

    def __init__(self, cfg):
        self.config = cfg
        self.vae = SimpleNamespace(temporal_compression=cfg.vae.temporal_compression)

    def policy_suspended(self):
        return contextlib.nullcontext()

    def fill(self, clips, known, prompts, seed=0):
        return np.asarray(clips).copy()                      # the truth, continued exactly

    def generate(self, prompts, seed=0, **kw):
        return np.stack([render_prompt(p, self.config.world, seed=seed + i)[0]
                         for i, p in enumerate(prompts)])


@pytest.fixture(scope="module")
def truth():
    return WorldAsModel(get_config("world"))


def test_permanence_of_the_world_itself(truth):
    r = run_probe(truth, "permanence", n=24)
    assert r["model"]["expected_to_come_out"] >= 12
    assert r["model"]["reappears"]["share"] >= 0.95
    assert r["model"]["on_time_within_2_frames"]["share"] >= 0.95
    assert r["model"] == r["floor"]


def test_physics_of_the_world_itself(truth):
    r = run_probe(truth, "physics", n=24)
    assert r["falling_model"]["gravity_ratio"] == pytest.approx(1.0, abs=0.2)
    assert r["falling_model"]["restitution_median"] == pytest.approx(0.8, abs=0.15)
    assert r["velocity_error_model"] == r["velocity_error_floor"] < 0.02
    ood = run_probe(truth, "physics_ood", n=12)
    for name in ("speed_0.06", "speed_0.08"):
        assert ood[name]["made_over_given_speed_median"] == pytest.approx(1.0, abs=0.15)
    assert ood["gravity_x2"]["gravity_ratio_to_given"] == pytest.approx(1.0, abs=0.25)


def test_the_world_does_not_morph_and_a_morph_is_seen(truth):
    r = run_probe(truth, "morphing", n=24)
    assert r["continued"]["objects_morphing"]["share"] <= 0.05
    clip, scene = render_prompt("a large red square standing still", truth.config.world, seed=0)
    morph, _ = render_prompt("a large red circle standing still", truth.config.world, seed=0)
    assert morphs(clip, ["red"]) == [False]
    assert morphs(np.concatenate([clip[:8], morph[8:]]), ["red"]) == [True]


def test_many_objects_counts_objects_from_nowhere(truth):
    r = run_probe(truth, "many_objects", n=12)
    assert set(r) >= {"1_objects", "2_objects", "3_objects"}
    assert r["1_objects"]["continued"]["appears_or_vanishes"]["share"] <= 0.1


def _bouncing_minute(cfg, n):
    world = dataclasses.replace(cfg.world, motions=("bouncing",), min_objects=1, max_objects=1,
                                wall_prob=0.0, frames=MINUTE_FRAMES)
    return _scenes(world, n, 0, salt=19)


def test_a_bouncing_object_turns_only_at_the_edges_and_jitter_turns_elsewhere(truth):
    for scene in _bouncing_minute(truth.config, 4):
        o = scene.objects[0]
        v = np.diff(np.stack([o.cx, o.cy]), axis=1)
        reversals = int(sum(np.sum(a[:-1] * a[1:] < 0) for a in v))   # the truth's own bounces
        tr = track_clip(render(scene)).tracks[o.colour]
        at_edges, elsewhere = turns(tr, scene.height, scene.width)
        assert reversals - 1 <= at_edges <= reversals and elsewhere == 0
        shaky = dataclasses.replace(tr, centroid=tr.centroid + np.where(np.arange(len(tr.centroid)) % 2, 1.0, -1.0)[:, None])
        assert turns(shaky, scene.height, scene.width)[1] > 100       # a jittering path is not reflecting


def test_the_minute_reads_a_stalled_model_against_the_worlds_own_minute(truth):
    class Stalled(WorldAsModel):                             # continues with its last given frame
        def extend(self, clips, prompts, frames, seed=0):
            clips = np.asarray(clips)
            return np.concatenate([clips, np.repeat(clips[:, -1:], frames, axis=1)], axis=1)

    r = probe_minute(Stalled(truth.config), n=4)
    assert r["frames"] == MINUTE_FRAMES and r["edge_bounces_per_clip_median"] == 0
    assert r["speed_within_20pct_of_start"]["share"] == 0.0 and r["identity_kept"]["share"] == 1.0
    assert r["floor"]["edge_bounces_per_clip_median"] >= 20 and r["floor"]["turns_elsewhere_per_clip_median"] == 0
    assert r["floor"]["identity_kept"]["share"] == 1.0


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("probes") / "run"
    quickstart(get_config("smoke", overrides={"world.colours": ["red", "green", "blue", "yellow"]}),
               out, progress=False, log=lambda *_: None)
    return out


@pytest.mark.parametrize("name", sorted(PROBES))
def test_every_probe_runs_on_a_trained_pipeline_and_prints_json(name, smoke_run, capsys):
    assert main(["probe", name, "--ckpt", str(smoke_run), "--n", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["probe"] == name and "n" in report


def test_an_unknown_probe_is_named(smoke_run, capsys):
    assert main(["probe", "gravity", "--ckpt", str(smoke_run)]) == 2
    assert "invalid choice: 'gravity'" in capsys.readouterr().err
