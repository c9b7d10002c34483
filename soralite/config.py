"""Configs and presets (built in every notebook's first cells; see docs/design.md, "Presets").

Every setting of the kit lives in a dataclass here; a *preset* is a named, complete `Config`.
Any field can be overridden from code (`get_config("tiny", world__height=64)` or
`get_config("tiny", overrides={"world.height": 64})`) and from the command line
(`--set world.height=64`). `SORALITE_PRESET` picks the preset where none is given; unset, it is
`tiny` on a CPU and `workshop` on a GPU.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]   # the source checkout (the kit is installed editable)
DATA_DIR = ROOT / "data"                     # small files the kit ships and reads (docs/design.md)

# ----------------------------------------------------------------------------------------------
# The world's fixed vocabulary (docs/world.md: palette, shapes, motions are fixed values)

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (230, 50, 50),
    "green": (50, 200, 80),
    "blue": (60, 110, 240),
    "yellow": (240, 220, 60),
    "purple": (170, 80, 220),
    "cyan": (60, 210, 220),
}
WALL_RGB: tuple[int, int, int] = (128, 128, 128)
BACKGROUND_RGB: tuple[int, int, int] = (0, 0, 0)
COLOURS: tuple[str, ...] = tuple(PALETTE)
SHAPES: tuple[str, ...] = ("square", "circle", "triangle")
SIZES: tuple[str, ...] = ("small", "large")
SIZE_FRACTION: dict[str, float] = {"small": 0.20, "large": 0.30}
MOTIONS: tuple[str, ...] = (
    "moving left", "moving right", "moving up", "moving down",
    "standing still", "bouncing", "falling",
)
# colour-shape pairs the training world never shows, as data/held_out.json lists them
# Named choices of the settings below, in one place (the stages that implement them import these)
OBJECTIVES = ("flow", "ddpm")
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
BETA_SCHEDULE_NAMES = ("linear", "cosine", "sigmoid")
TIME_SAMPLINGS = ("logit_normal", "uniform")
SCHEDULER_NAMES = ("ddpm", "ddim", "flow_euler", "flow_heun")
LATENT_SCALINGS = ("decoder_gain", "global")
PRECISIONS = ("auto", "fp32", "bf16")
ATTENTION_KINDS = ("full", "factorized")
POS_EMBEDS = ("sincos", "rope")
TEMPORAL_COMPRESSIONS = (1, 2, 4)
SPATIAL_COMPRESSIONS = (2, 4, 8)
# the tasks a denoiser trains on (soralite.diffusion.conditioning, notebook 09)
TASKS = ("text", "first", "last", "ends", "random", "independent")
DEFAULT_TASKS = "text:0.4,first:0.25,last:0.1,ends:0.1,random:0.1,independent:0.05"
BATCHINGS = ("bucket", "pack")
CROPS = ("none", "square")
LONGEST_CAPTION_TOKENS = 26           # three objects and the wall, in the standard caption language
# recaptioning (notebook 12): the words a tokenizer knows, where training captions come from
VOCABULARIES = ("standard", "descriptive")
CAPTION_SOURCES = ("standard", "descriptive", "truth_descriptive")
LONGEST_DESCRIPTIVE_TOKENS = 73       # three falling objects and the wall, in descriptive captions
CAPTIONER_WORLDS = ("full", "preset")

HELD_OUT: tuple[tuple[str, str], ...] = tuple(
    tuple(pair) for pair in json.loads((DATA_DIR / "held_out.json").read_text())["pairs"])


@dataclass
class WorldConfig:
    """The toy world of docs/world.md: what a clip may contain and how big it is (notebook 01)."""

    frames: int = 16                      # T
    height: int = 32                      # H
    width: int = 32                       # W
    fps: int = 8
    colours: tuple[str, ...] = COLOURS
    shapes: tuple[str, ...] = SHAPES
    sizes: tuple[str, ...] = SIZES
    motions: tuple[str, ...] = MOTIONS
    min_objects: int = 1
    max_objects: int = 3
    wall_prob: float = 0.2                # chance that a scene has the gray wall
    speed_range: tuple[float, float] = (0.02, 0.04)   # in units of min(H, W) per frame
    gravity: float = 0.004                # falling: units of min(H, W) per frame^2
    restitution: float = 0.8              # falling: share of speed kept at the floor
    wall_width: float = 0.15              # wall width as a share of W
    held_out: tuple[tuple[str, str], ...] = HELD_OUT
    exclude_held_out: bool = True         # training worlds never show the held-out pairs


@dataclass
class VAEConfig:
    """The video VAE (notebook 03, `soralite/vae.py`)."""

    in_channels: int = 3
    latent_channels: int = 4
    base_channels: int = 32               # width of the causal 3D-conv blocks
    patch_channels: int = 256             # width of the per-patch MLP blocks
    num_mlp_blocks: int = 2               # per-patch MLP blocks in the encoder and in the decoder
    temporal_compression: int = 2
    spatial_compression: int = 4
    num_res_blocks: int = 2
    kl_weight: float = 1e-6
    l1_weight: float = 0.0                # loss = MSE + l1_weight * L1 + kl_weight * KL
    scaling_factor: float = 1.0           # measured from data after training (1 / std of latents)
    chunk_frames: int = 16                # longer clips are encoded/decoded in chunks (0 = never)


@dataclass
class DiTConfig:
    """The diffusion transformer (notebook 05, `soralite/dit.py`)."""

    patch_size: tuple[int, int, int] = (1, 2, 2)   # (pt, ph, pw)
    hidden_size: int = 128
    depth: int = 6
    num_heads: int = 4
    mlp_ratio: float = 4.0
    attention: str = "full"               # "full" spacetime or "factorized" (spatial, then temporal)
    pos_embed: str = "sincos"             # "sincos" or "rope"
    text_dim: int = 128                   # width of the text encoder's features
    text_depth: int = 2                   # text encoder layers
    text_heads: int = 4                   # text encoder attention heads (must divide text_dim)
    text_max_length: int = 32             # prompt tokens; the longest standard caption has 26
    vocabulary: str = "standard"          # "standard" captions, or "descriptive" ones too (notebook
                                          # 12; needs text_max_length >= 73, the longest of those)
    timestep_scale: float = 1000.0        # t is scaled before the sinusoid: 1000 for flow times in
                                          # [0, 1], 1.0 for DDPM integer timesteps
    size_embed: bool = False              # the clip's latent (frames, height, width) joins t in c
                                          # (micro-conditioning, as SDXL and Open-Sora do; notebook 10)


@dataclass
class TrainConfig:
    """How long and how fast each stage trains (notebooks 03 and 06)."""

    vae_steps: int = 2000
    vae_batch_size: int = 16
    vae_lr: float = 2e-3
    steps: int = 2000
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    warmup_steps: int = 100
    checkpoint_every: int = 500
    log_every: int = 50
    num_workers: int = 0
    # the denoiser (notebook 06, `soralite/train.py`)
    objective: str = "flow"               # "flow" (rectified flow) or "ddpm"
    prediction_type: str = "v_prediction" # ddpm only: "epsilon", "v_prediction" or "sample"
    beta_schedule: str = "cosine"         # ddpm only: "linear", "cosine" or "sigmoid"
    time_sampling: str = "logit_normal"   # flow only: "logit_normal" or "uniform"
    flow_shift: float = 0.0               # flow only: 0 = the resolution shift sqrt(tokens / 16)
    cfg_dropout: float = 0.1              # share of prompts replaced by "" (classifier-free guidance)
    lr_min_ratio: float = 0.1             # cosine decay ends at lr * lr_min_ratio
    pool_clips: int = 4096                # world clips rendered and VAE-encoded once, then reused
    latent_scaling: str = "decoder_gain"  # "decoder_gain" (per channel, by its pixel effect) or "global"
    precision: str = "auto"               # "auto" (bf16 autocast on a GPU, fp32 on a CPU), "fp32", "bf16"
    vae_precision: str = "fp32"           # the VAE's training: "fp32", "bf16" autocast, or "auto" (bf16
                                          # where the device multiplies bf16 natively: a GPU, a CPU with AMX)
    compile: bool = False                 # torch.compile the denoiser
    threads: int = 0                      # CPU threads, fixed: 0 = the cores given at start; -1 = adaptive
    loss_buckets: int = 5                 # the loss is logged per bucket of noise level t
    # sampling and evaluation (notebook 07, `soralite/pipeline.py`)
    sampler: str = "auto"                 # "auto" (flow_euler for flow, ddim for ddpm) or a scheduler name
    sample_steps: int = 25
    guidance_scale: float = 4.0
    eval_clips: int = 200                 # in-distribution prompts scored after training
    eval_held_out_clips: int = 40         # held-out prompts, scored apart
    # conditioning on frames (notebook 09, `soralite/diffusion/conditioning.py`)
    tasks: str = DEFAULT_TASKS            # task:weight pairs a sample's task is drawn from
    window_overlap: int = 4               # long videos: latent frames each window shares with the last
    context_noise: float = 0.0            # the noise level given frames are shown at when sampling
    history_guidance: bool = False        # guidance on the given frames too, not on the text alone
    history_guidance_scale: float = 0.0   # with it, > 0: guidance on the given frames alone at this
                                          # weight where frames are given (the text not pushed there);
                                          # 0 = one weight, guidance_scale, for text and frames
    edit_strength: float = 0.5            # SDEdit: the share of the schedule an edit re-runs; the
                                          # best one for colour and shape edits at once (README)
    # native sizes (notebook 10, `soralite/train/buckets.py`)
    sizes: str = ""                       # "FxHxW:weight,..." clips of each size trained on; "" = the world's
    batching: str = "bucket"              # "bucket" (one size a batch) or "pack" (NaViT sequences)
    token_budget: int = 0                 # tokens a step; 0 = batch_size x the world's clip tokens
    crop: str = "none"                    # "square": train on centre square crops of the world's clips
    # recaptioning and real clips (notebook 12, `soralite/train/captions.py`, `soralite/train/folder.py`)
    captions: str = "standard"            # the pool's captions: "standard" (the world's), "descriptive"
                                          # (written by the run's captioner), "truth_descriptive"
                                          # (`describe` of the scene truth)
    data: str = ""                        # a folder of clips with captions.jsonl to train on; "" = the world


@dataclass
class CaptionerConfig:
    """The learned video captioner and its training (notebook 12, `soralite/models/captioner.py`)."""

    world: str = "full"                   # "full": docs/world.md's world at the preset's clip size;
                                          # "preset": the preset's own world
    pixel_hidden: int = 0                 # width of the per-pixel colour classifier (0: linear)
    channels: int = 0                     # width of an optional CNN's shape features (0: the masks'
                                          # moments alone)
    frame_stride: int = 4                 # the CNN reads every frame_stride-th frame
    hidden: int = 128                     # width of the per-object MLP
    steps: int = 1000
    batch_size: int = 16
    lr: float = 3e-3
    warmup_steps: int = 20
    checkpoint_every: int = 250
    eval_clips: int = 500                 # held-out clips `soralite eval-captioner` reads


@dataclass
class DetectorConfig:
    """The detection classifier and its training (notebook 13, `soralite/safety/detector.py`): a
    per-frame CNN (the frame classifier) with a temporal head (the clip classifier), trained on a
    pipeline's samples against world clips of the same captions."""

    base_channels: int = 16               # width of the first conv block; the second is twice it
    temporal_kernel: int = 3              # the clip head's convolution over frame features, in frames
    train_clips: int = 256                # generated clips trained on (and as many world clips)
    eval_clips: int = 128                 # held-out generated clips measured (and as many world clips)
    steps: int = 200
    batch_size: int = 16                  # half generated, half world clips
    lr: float = 2e-3
    warmup_steps: int = 20
    frame_weight: float = 0.5             # loss = clip BCE + frame_weight * per-frame BCE
    augment: float = 0.5                  # chance a training clip is perturbed (noise, blur, crop)
    mp4_share: float = 0.25               # share of training clips re-encoded once as .mp4
    threshold: float = 0.5                # generated_probability at or above which a clip is "generated"


@dataclass
class Config:
    """Everything one run needs; a preset is a named instance of this."""

    name: str = "custom"
    seed: int = 0
    device: str = "auto"                  # "auto" picks cuda when present, else cpu
    world: WorldConfig = field(default_factory=WorldConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    dit: DiTConfig = field(default_factory=DiTConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    captioner: CaptionerConfig = field(default_factory=CaptionerConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        """The config a dict (`to_dict`, or a run's `config.json`) describes; unknown fields raise."""
        return _from_dict(cls, d)

    def resolved_device(self) -> str:
        """The torch device string this config runs on."""
        if self.device != "auto":
            return self.device
        return "cuda" if torch.cuda.is_available() else "cpu"


# ----------------------------------------------------------------------------------------------
# Presets


def _smoke() -> Config:
    """Tests and CI: every notebook executes in seconds."""
    return Config(
        name="smoke",
        world=WorldConfig(frames=4, height=16, width=16, max_objects=1, wall_prob=0.0),
        vae=VAEConfig(base_channels=8, num_res_blocks=1, patch_channels=16, num_mlp_blocks=1,
                      chunk_frames=4),
        dit=DiTConfig(hidden_size=32, depth=2, num_heads=2, text_dim=32, text_depth=1),
        train=TrainConfig(vae_steps=3, vae_batch_size=2, steps=3, batch_size=2,
                          warmup_steps=1, checkpoint_every=2, log_every=1, ema_decay=0.9,
                          pool_clips=16, sample_steps=2, eval_clips=4, eval_held_out_clips=2,
                          window_overlap=1),
        captioner=CaptionerConfig(world="preset", hidden=16, steps=3, batch_size=2, warmup_steps=1,
                                  checkpoint_every=2, eval_clips=8),
        detector=DetectorConfig(base_channels=4, train_clips=8, eval_clips=8, steps=3, batch_size=4,
                                warmup_steps=1),
    )


def _tiny() -> Config:
    """A laptop CPU with 2 cores: quickstart in about 9 minutes (README "Speed and scale")."""
    return Config(
        name="tiny",
        world=WorldConfig(
            frames=16, height=32, width=32,
            colours=("red", "green", "blue", "yellow"),
            sizes=("large",),
            motions=("moving left", "moving right", "moving up", "moving down"),
            max_objects=1, wall_prob=0.0,
        ),
        vae=VAEConfig(latent_channels=4, base_channels=64, num_res_blocks=1),
        train=TrainConfig(vae_steps=800, vae_batch_size=8, steps=1200, lr=2e-3, guidance_scale=2.0),
    )


def _workshop() -> Config:
    """One GPU with 16 GB: real quality in well under an hour."""
    return Config(
        name="workshop",
        world=WorldConfig(frames=16, height=64, width=64, max_objects=2, wall_prob=0.0),
        vae=VAEConfig(base_channels=64, latent_channels=8),
        dit=DiTConfig(hidden_size=384, depth=12, num_heads=6, text_dim=256),
        train=TrainConfig(vae_steps=6000, vae_batch_size=16, steps=20000, batch_size=64),
    )


def _world() -> Config:
    """The world-simulation chapter (notebook 11): one to three objects, the wall, every motion
    (bouncing and falling too), every colour and both sizes, on a 2-core CPU in at most 30 min."""
    return Config(
        name="world",
        world=WorldConfig(frames=16, height=32, width=32, max_objects=3, wall_prob=0.3),
        vae=VAEConfig(latent_channels=4, base_channels=64, num_res_blocks=1),
        train=TrainConfig(vae_steps=800, vae_batch_size=8, steps=2400, lr=1e-3, guidance_scale=2.0),
    )


def _sizes() -> Config:
    """The native-sizes chapter (notebook 10): the `tiny` world and models trained on a mix of
    durations, resolutions and aspect ratios, images included, in buckets."""
    cfg = _tiny()
    cfg.name = "sizes"
    cfg.train.sizes = "16x32x32:3,16x32x48:1,16x48x32:1,8x32x32:1,32x32x32:3,1x32x32:1"
    cfg.train.steps = 3000                # with the 32-frame clips weighted 3: every size >= 85%
    cfg.train.lr = 1e-3                   # the rate its README figures were measured at
    return cfg


PRESETS = {"smoke": _smoke, "tiny": _tiny, "workshop": _workshop, "world": _world, "sizes": _sizes}


def default_preset() -> str:
    """`SORALITE_PRESET` if set, else `workshop` on a GPU and `tiny` on a CPU."""
    env = os.environ.get("SORALITE_PRESET", "").strip()
    if env:
        return env
    return "workshop" if torch.cuda.is_available() else "tiny"


def get_config(preset: str | None = None, overrides: dict[str, Any] | list[str] | None = None,
               **kwargs: Any) -> Config:
    """A fresh copy of a preset with overrides applied.

    `overrides` maps dotted keys to values (`{"world.height": 64}`) or is a list of
    `"key=value"` strings as given on the command line; keyword arguments use `__` for the dot
    (`world__height=64`). Unknown presets and unknown keys raise `ValueError`.
    """
    preset = preset or default_preset()
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; allowed presets: {', '.join(PRESETS)}")
    return apply_overrides(PRESETS[preset](), overrides, **kwargs)


def apply_overrides(cfg: Config, overrides: dict[str, Any] | list[str] | None = None,
                    **kwargs: Any) -> Config:
    """Apply overrides (as `get_config` takes them) to `cfg` in place, validate, and return it."""
    items: list[tuple[str, Any]] = []
    if isinstance(overrides, dict):
        items += list(overrides.items())
    elif overrides:
        for s in overrides:
            if "=" not in s:
                raise ValueError(f"override {s!r} is not of the form key=value (e.g. world.height=64)")
            k, v = s.split("=", 1)
            items.append((k.strip(), _parse_value(v.strip())))
    items += [(k.replace("__", "."), v) for k, v in kwargs.items()]
    for key, value in items:
        set_field(cfg, key, value)
    validate(cfg)
    return cfg


def set_field(cfg: Config, key: str, value: Any) -> None:
    """Set a dotted field (`"world.height"`), converting the value to the field's type."""
    obj: Any = cfg
    parts = key.split(".")
    for i, part in enumerate(parts):
        names = [f.name for f in dataclasses.fields(obj)]
        if part not in names:
            where = ".".join(parts[:i]) or "the config"
            raise ValueError(f"unknown config key {key!r}: {where} has fields {', '.join(names)}")
        if i == len(parts) - 1:
            current = getattr(obj, part)
            setattr(obj, part, _coerce(value, current, key))
        else:
            obj = getattr(obj, part)


class _Checker:
    """Collects the checks of one config; `fail` raises the first broken one, naming the field."""

    def __init__(self, obj: Any, prefix: str):
        self.obj, self.prefix = obj, prefix

    def fail(self, name: str, allowed: str, value: Any = None) -> None:
        value = getattr(self.obj, name) if value is None else value
        raise ValueError(f"{self.prefix}{name} must be {allowed} (got {value!r})")

    def number(self, name: str, lo: float | None = None, hi: float | None = None,
               lo_open: bool = False, hi_open: bool = False, integer: bool = False) -> None:
        v = getattr(self.obj, name)
        kind = "an integer" if integer else "a number"
        if lo is not None and hi is not None:
            where = f" in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        elif lo is not None:
            where = f" {'>' if lo_open else '>='} {lo:g}"
        elif hi is not None:
            where = f" {'<' if hi_open else '<='} {hi:g}"
        else:
            where = ""
        ok_type = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok_type or not math.isfinite(v):
            self.fail(name, f"{'an integer' if integer else 'a finite number'}{where}")
        if (lo is not None and (v < lo or (lo_open and v == lo))) or \
                (hi is not None and (v > hi or (hi_open and v == hi))):
            self.fail(name, f"{kind}{where}")

    def choice(self, name: str, allowed) -> None:
        if getattr(self.obj, name) not in allowed:
            self.fail(name, f"one of {', '.join(map(str, allowed))}")

    def flag(self, name: str) -> None:
        if not isinstance(getattr(self.obj, name), bool):
            self.fail(name, "true or false")


def validate_world(w: WorldConfig) -> None:
    """Raise `ValueError` naming the world setting that is outside what docs/world.md allows."""
    c = _Checker(w, "world.")
    if not isinstance(w.frames, int) or isinstance(w.frames, bool) or w.frames < 1:
        raise ValueError(f"world.frames must be >= 1 (got {w.frames!r})")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (w.height, w.width)) \
            or w.height < 16 or w.width < 16:
        raise ValueError(f"world.height and world.width must be >= 16 (got {w.height!r} x {w.width!r})")
    c.number("fps", 1, integer=True)
    for name, allowed in (("colours", COLOURS), ("shapes", SHAPES), ("sizes", SIZES),
                          ("motions", MOTIONS)):
        values = getattr(w, name)
        bad = [v for v in values if v not in allowed]
        if bad or not values:
            raise ValueError(f"world.{name} has {bad or 'nothing'}; allowed: {', '.join(allowed)}")
        twice = sorted({v for v in values if list(values).count(v) > 1})
        if twice:
            raise ValueError(f"world.{name} lists {', '.join(twice)} twice; give each once "
                             f"(allowed: {', '.join(allowed)})")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (w.min_objects, w.max_objects)) \
            or not 1 <= w.min_objects <= w.max_objects <= 3:
        raise ValueError(f"need 1 <= world.min_objects <= world.max_objects <= 3 "
                         f"(got {w.min_objects}, {w.max_objects})")
    if w.max_objects > len(w.colours):
        raise ValueError(f"world.max_objects={w.max_objects} needs at least that many colours "
                         f"(objects in one clip have distinct colours); got {len(w.colours)}")
    c.number("wall_prob", 0, 1)
    sr = w.speed_range
    if (len(sr) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                and math.isfinite(v) for v in sr) or not 0 < sr[0] <= sr[1] <= 0.5):
        c.fail("speed_range", "two numbers 0 < low <= high <= 0.5, in units of min(H, W) per frame",
               sr)
    c.number("gravity", 0, 0.1, lo_open=True)
    c.number("restitution", 0, 1)
    c.number("wall_width", 0, 0.5, lo_open=True)
    bad = [p for p in w.held_out if len(p) != 2 or p[0] not in COLOURS or p[1] not in SHAPES]
    if bad:
        raise ValueError(f"world.held_out has {bad}; each entry is a [colour, shape] pair with a "
                         f"colour of {', '.join(COLOURS)} and a shape of {', '.join(SHAPES)}")
    c.flag("exclude_held_out")


def validate(cfg: Config) -> None:
    """Raise `ValueError` naming the first setting of `cfg` that is out of its range, and the range.

    Every field of every section is checked here, up front, so that a bad value fails before any
    work is done, never inside numpy or after clips were written."""
    c = _Checker(cfg, "")
    c.number("seed", 0, integer=True)
    d = cfg.device
    if not isinstance(d, str) or not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", d):
        c.fail("device", "auto, cpu, cuda, cuda:N or mps")
    if d.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={d!r} but this PyTorch has no CUDA GPU "
                         f"(torch {torch.__version__}); use device=auto or device=cpu")
    if d == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps' but this machine has no Apple GPU; use device=auto or device=cpu")
    validate_world(cfg.world)

    v, c = cfg.vae, _Checker(cfg.vae, "vae.")
    c.number("in_channels", 1, integer=True)
    c.number("latent_channels", 1, integer=True)
    if not isinstance(v.base_channels, int) or v.base_channels < 8 or v.base_channels % 8:
        c.fail("base_channels", "a positive multiple of 8")
    c.number("patch_channels", 1, integer=True)
    c.number("num_mlp_blocks", 0, integer=True)
    c.choice("temporal_compression", TEMPORAL_COMPRESSIONS)
    c.choice("spatial_compression", SPATIAL_COMPRESSIONS)
    c.number("num_res_blocks", 0, integer=True)
    c.number("kl_weight", 0)
    c.number("l1_weight", 0)
    c.number("scaling_factor", 0, lo_open=True)
    if not isinstance(v.chunk_frames, int) or v.chunk_frames < 0 or v.chunk_frames % v.temporal_compression:
        c.fail("chunk_frames", f"0 or a multiple of temporal_compression={v.temporal_compression}")
    w = cfg.world
    if w.height % v.spatial_compression or w.width % v.spatial_compression:
        raise ValueError(f"world.height and world.width ({w.height} x {w.width}) must be multiples "
                         f"of vae.spatial_compression={v.spatial_compression}; nearest that work: "
                         f"{_nearest(w.height, v.spatial_compression)} x "
                         f"{_nearest(w.width, v.spatial_compression)}")
    if w.frames != 1 and w.frames % v.temporal_compression:
        raise ValueError(f"world.frames={w.frames} must be 1 (an image) or a multiple of "
                         f"vae.temporal_compression={v.temporal_compression}; nearest that work: "
                         f"{_nearest(w.frames, v.temporal_compression)}")

    dt, c = cfg.dit, _Checker(cfg.dit, "dit.")
    ps = dt.patch_size
    if len(ps) != 3 or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 1 for p in ps):
        c.fail("patch_size", "three positive integers (pt, ph, pw), e.g. [1, 2, 2]", ps)
    c.number("hidden_size", 16, integer=True)
    c.number("num_heads", 1, integer=True)
    if dt.hidden_size % 16 or dt.hidden_size % dt.num_heads:
        c.fail("hidden_size", f"a multiple of 16 and of num_heads={dt.num_heads}")
    c.number("depth", 1, integer=True)
    c.number("mlp_ratio", 0, lo_open=True)
    c.choice("attention", ATTENTION_KINDS)
    c.choice("pos_embed", POS_EMBEDS)
    c.number("text_dim", 1, integer=True)
    c.number("text_depth", 1, integer=True)
    c.number("text_heads", 1, integer=True)
    if dt.text_dim % dt.text_heads:
        c.fail("text_dim", f"a multiple of text_heads={dt.text_heads}")
    c.number("text_max_length", LONGEST_CAPTION_TOKENS, integer=True)
    c.choice("vocabulary", VOCABULARIES)
    if dt.vocabulary == "descriptive" and dt.text_max_length < LONGEST_DESCRIPTIVE_TOKENS:
        c.fail("text_max_length", f">= {LONGEST_DESCRIPTIVE_TOKENS} with dit.vocabulary=descriptive "
                                  f"(the longest descriptive caption has {LONGEST_DESCRIPTIVE_TOKENS} "
                                  f"tokens); add --set dit.text_max_length=80")
    c.number("timestep_scale", 0, lo_open=True)
    c.flag("size_embed")
    latent = (1 if w.frames == 1 else w.frames // v.temporal_compression,
              w.height // v.spatial_compression, w.width // v.spatial_compression)
    if any(n % p for n, p in zip(latent, ps)):
        raise ValueError(f"dit.patch_size {list(ps)} does not divide the latent (t, h, w) = "
                         f"{latent}; pick a patch size that divides it")

    tc, c = cfg.train, _Checker(cfg.train, "train.")
    c.number("vae_steps", 1, integer=True)
    c.number("vae_batch_size", 1, integer=True)
    c.number("vae_lr", 0, lo_open=True)
    c.number("steps", 1, integer=True)
    c.number("batch_size", 1, integer=True)
    c.number("lr", 0, lo_open=True)
    c.number("weight_decay", 0)
    c.number("grad_clip", 0)
    c.number("ema_decay", 0, 1, hi_open=True)
    c.number("warmup_steps", 0, integer=True)
    c.number("checkpoint_every", 0, integer=True)
    c.number("log_every", 1, integer=True)
    c.number("num_workers", 0, integer=True)
    c.choice("objective", OBJECTIVES)
    c.choice("prediction_type", PREDICTION_TYPES)
    c.choice("beta_schedule", BETA_SCHEDULE_NAMES)
    c.choice("time_sampling", TIME_SAMPLINGS)
    c.number("flow_shift", 0)
    c.number("cfg_dropout", 0, 1)
    c.number("lr_min_ratio", 0, 1)
    c.number("pool_clips", 1, integer=True)
    c.choice("latent_scaling", LATENT_SCALINGS)
    c.choice("precision", PRECISIONS)
    c.choice("vae_precision", PRECISIONS)
    c.flag("compile")
    c.number("threads", -1, integer=True)
    c.number("loss_buckets", 1, integer=True)
    c.choice("sampler", ("auto",) + SCHEDULER_NAMES)
    family = ("flow_euler", "flow_heun") if tc.objective == "flow" else ("ddpm", "ddim")
    if tc.sampler not in ("auto",) + family:
        c.fail("sampler", f"auto or a scheduler of objective {tc.objective!r}: {', '.join(family)}")
    c.number("sample_steps", 1, integer=True)
    c.number("guidance_scale", None)
    c.number("eval_clips", 0, integer=True)
    c.number("eval_held_out_clips", 0, integer=True)
    parse_tasks(tc.tasks)
    c.number("window_overlap", 0, integer=True)
    longest = window_frames(cfg)
    t_latent = 1 if longest == 1 else longest // v.temporal_compression
    if tc.window_overlap >= max(1, t_latent):
        c.fail("window_overlap", f"in 0 .. {max(0, t_latent - 1)} (latent frames of a window of "
                                 f"{t_latent})")
    c.number("context_noise", 0, 1, hi_open=True)
    c.flag("history_guidance")
    c.number("history_guidance_scale", 0)
    c.number("edit_strength", 0, 1)
    c.choice("batching", BATCHINGS)
    c.choice("crop", CROPS)
    if tc.crop != "none" and tc.sizes:
        c.fail("crop", "none where train.sizes is set (a crop trains one size)")
    c.number("token_budget", 0, integer=True)
    c.choice("captions", CAPTION_SOURCES)
    if tc.captions != "standard" and dt.vocabulary != "descriptive":
        c.fail("captions", f"standard where dit.vocabulary={dt.vocabulary!r}: a tokenizer of the "
                           f"standard words cannot read descriptive captions; add --set "
                           f"dit.vocabulary=descriptive --set dit.text_max_length=80")
    if tc.captions != "standard" and (tc.sizes or tc.crop != "none"):
        c.fail("captions", "standard where train.sizes or train.crop is set (descriptive captions "
                           "are written for clips of the world's own size)")
    if not isinstance(tc.data, str):
        c.fail("data", "a folder of clips with captions.jsonl, or \"\" for the world")
    if tc.data and tc.captions == "truth_descriptive":
        c.fail("captions", "standard or descriptive with train.data (a folder of clips has no "
                           "scene truth to describe)")
    if tc.data and (tc.sizes or tc.crop != "none"):
        c.fail("data", '"" where train.sizes or train.crop is set (a folder is trained on at the '
                       'world\'s own size)')
    validate_captioner(cfg.captioner)
    validate_detector(cfg.detector)
    sizes = parse_sizes(tc.sizes)
    for size in sizes:
        problem = size_problem(cfg, *size)
        if problem:
            raise ValueError(f"train.sizes: {problem}")
    tokens = [_tokens(cfg, *s) for s in sizes] or [_tokens(cfg, w.frames, w.height, w.width)]
    if tc.token_budget and tc.token_budget < max(tokens):
        c.fail("token_budget", f"0 or at least the largest clip's {max(tokens)} tokens")


TASKS = ("text", "first", "last", "ends", "random", "independent")


def validate_detector(d: DetectorConfig) -> None:
    """Raise `ValueError` naming the detector setting that is out of its range (notebook 13)."""
    c = _Checker(d, "detector.")
    for name in ("base_channels", "temporal_kernel", "train_clips", "eval_clips", "steps",
                 "batch_size"):
        c.number(name, 1, integer=True)
    if d.temporal_kernel % 2 == 0:
        c.fail("temporal_kernel", "an odd integer >= 1 (the convolution is centred on a frame)")
    c.number("lr", 0, lo_open=True)
    c.number("warmup_steps", 0, integer=True)
    c.number("frame_weight", 0)
    for name in ("augment", "mp4_share"):
        c.number(name, 0, 1)
    c.number("threshold", 0, 1, lo_open=True, hi_open=True)


def validate_captioner(cp: CaptionerConfig) -> None:
    """Raise `ValueError` naming the captioner setting that is out of its range."""
    c = _Checker(cp, "captioner.")
    c.choice("world", CAPTIONER_WORLDS)
    for name in ("frame_stride", "hidden", "steps", "batch_size", "eval_clips"):
        c.number(name, 1, integer=True)
    c.number("pixel_hidden", 0, integer=True)
    c.number("channels", 0, integer=True)
    c.number("lr", 0, lo_open=True)
    c.number("warmup_steps", 0, integer=True)
    c.number("checkpoint_every", 0, integer=True)


def captioner_world(cfg: Config) -> WorldConfig:
    """The world a captioner of `cfg` is trained on: with `captioner.world = "full"` every colour,
    shape, size and motion of docs/world.md, one to three objects, the wall in one clip in five,
    at the preset's clip size; with `"preset"`, the preset's own world."""
    if cfg.captioner.world == "preset":
        return dataclasses.replace(cfg.world)
    w = cfg.world
    return WorldConfig(frames=w.frames, height=w.height, width=w.width, fps=w.fps)


def parse_tasks(spec: str) -> dict[str, float]:
    """`"text:0.4,first:0.25,..."` -> `{task: weight}`, checked: known tasks, weights >= 0, some > 0."""
    weights: dict[str, float] = {}
    for part in str(spec).split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition(":")
        name = name.strip()
        if name not in TASKS or not sep:
            raise ValueError(f"train.tasks: {part.strip()!r} is not task:weight with a task of "
                             f"{', '.join(TASKS)}")
        try:
            w = float(value)
        except ValueError:
            raise ValueError(f"train.tasks: the weight of {name!r} must be a number (got {value!r})") from None
        if not w >= 0 or w == float("inf"):
            raise ValueError(f"train.tasks: the weight of {name!r} must be a finite number >= 0 (got {w})")
        weights[name] = weights.get(name, 0.0) + w
    if sum(weights.values()) <= 0:
        raise ValueError(f"train.tasks must give some task a weight > 0 (got {spec!r}); tasks: "
                         f"{', '.join(TASKS)}")
    return weights


def parse_sizes(spec: str) -> dict[tuple[int, int, int], float]:
    """`"16x32x32:3,1x32x32:1"` -> `{(16, 32, 32): 3.0, (1, 32, 32): 1.0}` (frames x height x width:
    weight; the weight may be left out, meaning 1); "" -> {} (the world's size alone)."""
    sizes: dict[tuple[int, int, int], float] = {}
    for part in str(spec).split(","):
        if not part.strip():
            continue
        dims, _, weight = part.strip().partition(":")
        try:
            size = tuple(int(v) for v in dims.lower().split("x"))
            w = float(weight) if weight else 1.0
        except ValueError:
            size, w = (), 0.0
        if len(size) != 3 or not w > 0 or not math.isfinite(w):
            raise ValueError(f"train.sizes: {part.strip()!r} is not FRAMESxHEIGHTxWIDTH[:weight] with "
                             f"a weight > 0, e.g. 16x32x48:1")
        sizes[size] = sizes.get(size, 0.0) + w
    return sizes


def window_frames(cfg: Config) -> int:
    """Frames of one sampling window: the longest clips `cfg` trains on (`train.sizes`, else the
    world's), so that every size the model trained on is sampled whole, in one window, and only
    longer videos slide windows (`Pipeline.window`)."""
    sizes = parse_sizes(cfg.train.sizes)
    return max(f for f, _, _ in sizes) if sizes else cfg.world.frames


def size_problem(cfg: Config, frames: int, height: int, width: int) -> str | None:
    """Why a clip of `frames x height x width` cannot be made by `cfg`'s VAE and DiT (None if it
    can): the sizes that work nearest to it are named."""
    v, ps = cfg.vae, cfg.dit.patch_size
    s = v.spatial_compression
    if frames < 1 or (frames != 1 and frames % v.temporal_compression):
        return (f"frames={frames} must be 1 (an image) or a multiple of the VAE's temporal "
                f"compression {v.temporal_compression}; nearest that work: "
                f"{_nearest(max(frames, 1), v.temporal_compression)}")
    t = 1 if frames == 1 else frames // v.temporal_compression
    if t % ps[0]:
        return f"frames={frames} gives {t} latent frames, which the temporal patch {ps[0]} does not divide"
    for name, n, p in (("height", height, ps[1]), ("width", width, ps[2])):
        if n < 16:
            return f"{name}={n} is below 16 pixels, the smallest the world renders"
        if n % (s * p):
            return (f"{name}={n} is not a multiple of {s * p} (the VAE's {s}x times the patch's "
                    f"{p}); nearest that work: {_nearest(n, s * p)}")
    return None


def _tokens(cfg: Config, frames: int, height: int, width: int) -> int:
    v, ps = cfg.vae, cfg.dit.patch_size
    t = 1 if frames == 1 else frames // v.temporal_compression
    return (t // ps[0]) * (height // v.spatial_compression // ps[1]) * (width // v.spatial_compression // ps[2])


def _nearest(n: int, k: int) -> str:
    """The multiples of `k` on either side of `n` (as text)."""
    lo = max(k, n // k * k)
    return f"{lo} or {lo + k}" if lo != n else str(n)


def _parse_value(s: str) -> Any:
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        return s


def _coerce(value: Any, current: Any, key: str) -> Any:
    if isinstance(current, bool):
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{key} takes true or false (got {value!r})")
        return bool(value)
    try:
        if isinstance(current, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if isinstance(current, float):
            return float(value)
        if isinstance(current, tuple):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} takes a {type(current).__name__} (got {value!r})") from None
    return value


def _from_dict(cls: type, d: dict[str, Any]) -> Any:
    kwargs = {}
    names = {f.name: f for f in dataclasses.fields(cls)}
    for k, v in d.items():
        if k not in names:
            raise ValueError(f"unknown field {k!r} for {cls.__name__}; fields: {', '.join(names)}")
        default = getattr(cls(), k) if k in names else None
        if dataclasses.is_dataclass(default):
            kwargs[k] = _from_dict(type(default), v)
        elif isinstance(default, tuple):
            kwargs[k] = tuple(tuple(x) if isinstance(x, list) else x for x in v)
        else:
            kwargs[k] = v
    return cls(**kwargs)


def runs_dir() -> Path:
    """Where runs (checkpoints, samples, reports) go by default, shared by the command line and
    the notebooks: `$SORALITE_RUNS`, else the user's cache folder (`$XDG_CACHE_HOME/soralite/runs`,
    usually `~/.cache/soralite/runs`), never inside the repository."""
    env = os.environ.get("SORALITE_RUNS")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "soralite" / "runs"
