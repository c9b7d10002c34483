"""The named seed streams of a run never share clips: every world stream has its own (offset,
epoch), no training stream of one run is a measurement stream of a run with a nearby seed,
and an unknown stream is named."""
import itertools

import pytest

from soralite.seeds import TORCH_STREAMS, WORLD_STREAMS, stream_epoch, stream_seed

SEEDS_APART = 100_000        # runs with seeds below this never reach another stream's clips


def test_world_streams_are_distinct():
    pairs = list(WORLD_STREAMS.values())
    assert len(set(pairs)) == len(pairs), "two world streams draw the same clips"


def test_training_streams_never_reach_measured_clips_of_nearby_seeds():
    """A model trained with seed s is measured with seed s' (another run, or the 3-seed spread):
    no training stream of any s below SEEDS_APART is a measurement stream of any s'."""
    training = [n for n in WORLD_STREAMS                  # what fits the model, statistics too
                if n.endswith(("_train", "_init")) or n in ("pool", "vae_scale", "gain")]
    measured = [n for n in WORLD_STREAMS if n not in training]
    for a, b in itertools.product(training, measured):
        (oa, ea), (ob, eb) = WORLD_STREAMS[a], WORLD_STREAMS[b]
        assert ea != eb or abs(oa - ob) >= SEEDS_APART, f"{a} and {b} overlap for nearby seeds"


def test_stream_seed_and_epoch():
    assert stream_seed(5, "pool") == 5 + WORLD_STREAMS["pool"][0]
    assert stream_seed(5, "noise") == 5 + TORCH_STREAMS["noise"]
    assert stream_epoch("vae_init") == 1
    with pytest.raises(ValueError, match="unknown seed stream 'nope'"):
        stream_seed(0, "nope")
    with pytest.raises(ValueError, match="not a world-clip stream"):
        stream_epoch("noise")
