"""Every random stream of a run, named once (docs/design.md, "Seeds").

A run with `cfg.seed = s` draws from several streams: world clips for each stage, the model's
initial weights, batches and noise, held-out clips for evaluation. Each stream is `(seed, epoch)`
of `soralite.world.render.clip_rng` for world clips, or the seed of a torch generator, and is
derived here from `s` by a named offset, so that no two streams of a run are the same clips:
training never sees what evaluation scores. `stream_seed(s, name)` gives a stream's seed;
`WORLD_STREAMS` lists the world-clip streams and their epochs (tests check that they differ).
"""
from __future__ import annotations

# world-clip streams: name -> (seed offset, epoch). Clip i of a stream is clip_rng(s + offset, i, epoch).
WORLD_STREAMS: dict[str, tuple[int, int]] = {
    "vae_train": (0, 0),              # VAE training batches: step k sees clips k*B .. (k+1)*B - 1
    "vae_init": (0, 1),               # the clips whose patches set a fresh VAE's linear code (PCA)
    "pool": (1_000_003, 0),           # the denoiser's latent pool
    "vae_scale": (1_000_004, 0),      # the clips the VAE's scaling factor is measured on
    "eval": (2_000_003, 0),           # evaluation prompts and noise (adherence on fresh seeds)
    "grid": (2_000_004, 0),           # the sample grid of quickstart (samples.gif)
    "gain": (3_000_017, 0),           # the clips the decoder gains (per-channel latent scale) are measured on
    "vae_eval": (4_000_037, 0),       # held-out clips the VAE is evaluated on (PSNR, tracker)
    "tasks": (5_000_011, 0),          # clips the conditioning tasks are measured on (eval.tasks)
    "captioner_train": (6_300_011, 0),  # the captioner's training batches: step k sees clips k*B .. (k+1)*B - 1
    "captioner_init": (6_300_011, 1), # the clips whose pixels set a fresh captioner's colour classifier
    "captioner_eval": (7_000_003, 0), # held-out clips the captioner is measured on (eval.captioning)
    "captions_eval": (9_000_013, 0),  # the scenes whose captions prompt the recaptioning table (eval.descriptive)
    "sizes": (5_500_007, 0),          # prompts and noise the native-sizes measures sample (eval.sizes)
    "sizes_floor": (5_500_007, 1),    # the world's own clips of each size, the framing floor (eval.sizes)
    "probes": (6_000_023, 0),         # clips the world-simulation probes start from (studies.probes)
    "detector_train": (7_400_027, 0), # captions, world clips and sampling noise the detector trains on
    "detector_eval": (8_000_009, 0),  # held-out captions and clips the detector is measured on (AUC)
}

# torch generator streams: name -> seed offset
TORCH_STREAMS: dict[str, int] = {
    "init": 0,                        # torch.manual_seed(s): a model's initial weights
    "data": 1,                        # denoiser batches and guidance dropout
    "noise": 2,                       # denoiser noise levels and noise
    "detector_batches": 3,            # the detector's batches and augmentations (notebook 13)
    "vae_noise": 0,                   # the VAE posterior's samples while it trains (a CUDA or CPU generator)
}


def stream_seed(seed: int, name: str) -> int:
    """The seed of stream `name` for a run of seed `seed` (epoch: `stream_epoch`)."""
    if name in WORLD_STREAMS:
        return seed + WORLD_STREAMS[name][0]
    if name in TORCH_STREAMS:
        return seed + TORCH_STREAMS[name]
    raise ValueError(f"unknown seed stream {name!r}; streams: "
                     f"{', '.join([*WORLD_STREAMS, *TORCH_STREAMS])}")


def stream_epoch(name: str) -> int:
    """The world epoch of a world-clip stream."""
    if name not in WORLD_STREAMS:
        raise ValueError(f"{name!r} is not a world-clip stream; those are: {', '.join(WORLD_STREAMS)}")
    return WORLD_STREAMS[name][1]


__all__ = ["WORLD_STREAMS", "TORCH_STREAMS", "stream_seed", "stream_epoch"]
