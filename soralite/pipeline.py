"""The pipeline: prompt -> text encoder -> DiT sampling in latent space -> VAE decode (notebooks 00 and 07).

`Pipeline.from_pretrained(dir)` loads a directory that `soralite quickstart` (or `train`) leaves:
```
config.json          the full Config (world, vae, dit, train)
vae/                 the video VAE (soralite.vae)
denoiser/            text encoder + DiT; its weights are the EMA model (soralite.train)
```
`pipe.generate(prompts, seed=0)` returns clips `uint8 (N, T, H, W, 3)`. Prompts are checked
against the world of the checkpoint: a word or colour it never saw raises a `PromptError` that
names it and lists what is allowed. The module also holds the evaluation that `quickstart` writes
to `report.json` (adherence on fresh seeds, in-distribution and held-out prompts apart) and the
`quickstart` and `sample` commands.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import torch

from soralite.config import Config
from soralite.dit import Denoiser
from soralite.sampler import sample
from soralite.train import (CONFIG_FILE, DENOISER_DIR, autocast_context, latent_shape,
                            make_scheduler, model_time)
from soralite.world import PromptError, parse_prompt

VAE_DIR = "vae"
SAMPLE_BATCH = 64                  # clips sampled at once (the guided batch is twice this)
EVAL_SEED_OFFSET = 2_000_003       # evaluation prompts and noise: seeds no training run used
GRID_SCALE = 4                     # samples.gif: each 32 px clip drawn 4x larger, caption beneath
GRID_PROMPTS = 8                   # in-distribution prompts in samples.gif
GRID_HELD_OUT = 4                  # held-out prompts added to them
CAPTION_LINE_PX = 11               # caption text: line height and character width of PIL's
CAPTION_CHAR_PX = 6                # default bitmap font
SUMMARY_KEYS = ("n", "adherence", "colour", "shape", "size", "motion", "no_extra",
                "count_consistency", "shape_stability")


class Pipeline:
    """The VAE, the tokenizer, the text encoder and the DiT, with a scheduler to sample with.

    `pipe.denoiser` holds `pipe.text_encoder` and `pipe.dit`; `pipe.vae.encode(x)` /
    `pipe.vae.decode(z)` work on model tensors; the DiT works on the VAE's latents times
    `pipe.latent_scale (C,)`, one factor per channel (`soralite.train.latent_scale`; by default
    `vae.config.scaling_factor` for every channel).
    """

    def __init__(self, config: Config, vae, denoiser: Denoiser, scheduler=None, device=None,
                 latent_scale: torch.Tensor | None = None):
        self.config = config
        self.device = torch.device(device or config.resolved_device())
        self.vae = vae.to(self.device).eval()
        self.denoiser = denoiser.to(self.device).eval()
        self.scheduler = scheduler or make_scheduler(config, for_sampling=True)
        self.step = 0                       # training steps behind the weights
        self.run: Path | None = None        # the folder it was loaded from, if any
        C = config.vae.latent_channels
        if latent_scale is None:
            latent_scale = torch.full((C,), float(vae.config.scaling_factor))
        self.latent_scale = torch.as_tensor(latent_scale, dtype=torch.float32).reshape(-1)   # (C,)
        if self.latent_scale.numel() != C:
            raise ValueError(f"latent_scale has {self.latent_scale.numel()} values; the VAE has {C} "
                             f"latent channels")

    @property
    def dit(self):
        return self.denoiser.dit

    @property
    def text_encoder(self):
        return self.denoiser.text_encoder

    @property
    def tokenizer(self):
        return self.denoiser.tokenizer

    def __repr__(self) -> str:
        from soralite.dit import count_parameters

        return (f"Pipeline(preset={self.config.name!r}, latent={latent_shape(self.config)}, "
                f"dit={count_parameters(self.dit) / 1e6:.2f}M, vae={count_parameters(self.vae) / 1e6:.2f}M, "
                f"scheduler={type(self.scheduler).__name__}, device={self.device})")

    # --- loading and saving ------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device=None) -> "Pipeline":
        """Load `directory` (config.json, vae/, denoiser/); errors name what is missing or differs."""
        from soralite.checkpoint import (CheckpointNotFoundError, check_config, load_pretrained,
                                         load_state_dict_strict)
        from soralite.vae import VideoVAE

        directory = Path(directory)
        if not (directory / CONFIG_FILE).is_file():
            raise CheckpointNotFoundError(f"no pipeline at {directory}: {CONFIG_FILE} is missing "
                                          f"(make one with `soralite quickstart --out {directory}`)")
        try:
            cfg = Config.from_dict(json.loads((directory / CONFIG_FILE).read_text()))
        except (json.JSONDecodeError, ValueError, TypeError) as e:
            raise ValueError(f"{directory / CONFIG_FILE} is not a soralite config: {e}") from None
        device = torch.device(device or cfg.resolved_device())
        vae = VideoVAE.from_pretrained(directory / VAE_DIR, config=cfg.vae, device=device)
        ckpt = load_pretrained(directory / DENOISER_DIR, load_extra=False)
        for part in ("dit", "world"):
            check_config(ckpt.config.get(part, {}), cfg.to_dict()[part], directory / DENOISER_DIR,
                         prefix=f"{part}.")
        if "latent_scale" not in ckpt.meta:
            cfg.train.latent_scaling = "global"       # saved before per-channel scales existed
        denoiser = Denoiser(cfg)
        load_state_dict_strict(denoiser, ckpt.state_dict, directory / DENOISER_DIR)
        pipe = cls(cfg, vae, denoiser, device=device, latent_scale=ckpt.meta.get("latent_scale"))
        pipe.step = int(ckpt.meta.get("step", 0))
        return pipe

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write config.json, vae/ and denoiser/ (weights only) to `directory`, each atomically."""
        from soralite.checkpoint import save_pretrained

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.vae.save_pretrained(directory / VAE_DIR)
        save_pretrained(directory / DENOISER_DIR, self.config.to_dict(), self.denoiser.state_dict(),
                        meta={"kind": "denoiser", "step": self.step, "weights_only": True,
                              "latent_scale": self.latent_scale.tolist()})
        tmp = directory / (CONFIG_FILE + ".tmp")
        tmp.write_text(self.config.to_json())
        tmp.replace(directory / CONFIG_FILE)
        return directory

    # --- prompts -----------------------------------------------------------------------------
    def check_prompts(self, prompts: str | list[str]) -> list[str]:
        """The prompts as a list, each checked against this checkpoint's world ("" is unconditional)."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts:
            raise ValueError("generate needs at least one prompt")
        for p in prompts:
            if not isinstance(p, str):
                raise PromptError(f"a prompt must be a str; got {type(p).__name__}")
            if p.strip():
                parse_prompt(p, self.config.world)          # PromptError names the bad word
        return prompts

    @torch.no_grad()
    def encode_prompts(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts -> text features `(B, L, text_dim)` and mask `(B, L)`."""
        ids, mask = self.denoiser.encode_prompts(prompts, self.device)      # (B, L), (B, L)
        return self.text_encoder(ids, mask)                                 # (B, L, D), (B, L)

    # --- sampling ----------------------------------------------------------------------------
    def _model_fn(self):
        autocast = autocast_context(self.config, self.device)

        def model_fn(x_t, t, cond):
            with autocast:
                v = self.dit(x_t, model_time(self.scheduler, t).to(x_t.device), cond["text"], cond["mask"])
            return v.float()                                                # (B, C, t, h, w)
        return model_fn

    @torch.no_grad()
    def generate_latents(self, prompts, seed: int = 0, steps: int | None = None,
                         guidance: float | None = None, return_trajectory: bool = False,
                         progress: bool = False, batch_size: int = SAMPLE_BATCH):
        """Scaled latents `(N, C, t, h, w)` for the prompts (and the `Trajectory` if asked)."""
        prompts = self.check_prompts(prompts)
        tc = self.config.train
        steps = steps or tc.sample_steps
        guidance = tc.guidance_scale if guidance is None else guidance
        N = len(prompts)
        shape = (N, *latent_shape(self.config))
        noise = torch.randn(shape, generator=torch.Generator().manual_seed(seed))   # (N, C, t, h, w)
        text, mask = self.encode_prompts(prompts)                          # (N, L, D), (N, L)
        null_text, null_mask = self.encode_prompts([""] * N)
        if return_trajectory:
            batch_size = N                                                  # one trajectory
        out, trajectory = [], None
        for i in range(0, N, batch_size):
            sl = slice(i, i + batch_size)
            res = sample(self._model_fn(), self.scheduler, tuple(noise[sl].shape),
                         cond={"text": text[sl], "mask": mask[sl]},
                         uncond={"text": null_text[sl], "mask": null_mask[sl]},
                         guidance_scale=guidance, steps=steps, noise=noise[sl].to(self.device),
                         device=self.device, return_trajectory=return_trajectory,
                         progress=progress)
            if return_trajectory:
                res, trajectory = res
            out.append(res)
        z = torch.cat(out)                                                  # (N, C, t, h, w)
        return (z, trajectory) if return_trajectory else z

    def encode_clips(self, clips) -> torch.Tensor:
        """Clips `uint8 (N, T, H, W, 3)` -> the DiT's latents `(N, C, t, h, w)` (scaled)."""
        from soralite.train import encode_clips

        return encode_clips(self.vae, clips, device=self.device, scale=self.latent_scale)

    @torch.no_grad()
    def decode_latents(self, z: torch.Tensor) -> np.ndarray:
        """The DiT's latents `(N, C, t, h, w)` -> clips `uint8 (N, T, H, W, 3)`."""
        from soralite.video import to_uint8

        scale = self.latent_scale.to(self.device).view(1, -1, 1, 1, 1)     # (1, C, 1, 1, 1)
        clips = []
        for i in range(0, len(z), SAMPLE_BATCH):
            zz = z[i:i + SAMPLE_BATCH].to(self.device) / scale
            x = self.vae.decode(zz, num_frames=self.config.world.frames)   # (b, 3, T, H, W)
            clips.append(to_uint8(x))
        return np.concatenate(clips)                                        # (N, T, H, W, 3)

    def generate(self, prompts, seed: int = 0, steps: int | None = None, guidance: float | None = None,
                 return_trajectory: bool = False, progress: bool = False):
        """Clips `uint8 (N, T, H, W, 3)` for the prompts; the same seed gives the same clips.

        `steps` and `guidance` (the guidance_scale) default to `config.train.sample_steps` and
        `config.train.guidance_scale`. With `return_trajectory`, returns `(clips, trajectory)`,
        the sampler's `Trajectory` of scaled latents."""
        res = self.generate_latents(prompts, seed, steps, guidance, return_trajectory, progress)
        z, trajectory = res if return_trajectory else (res, None)
        clips = self.decode_latents(z)
        return (clips, trajectory) if return_trajectory else clips

    __call__ = generate


# ----------------------------------------------------------------------------------------------
# Evaluation: adherence on fresh seeds


def held_out_prompts(world) -> list[str]:
    """Captions of the world's held-out colour-shape pairs, one object, every motion."""
    sized = len(world.sizes) > 1
    out = []
    for colour, shape in world.held_out:
        if colour in world.colours and shape in world.shapes:
            for motion in world.motions:
                for size in (world.sizes if sized else (None,)):
                    out.append(f"a {size + ' ' if size else ''}{colour} {shape} {motion}")
    return out


def eval_prompts(cfg: Config, n: int, n_held_out: int, seed: int) -> tuple[list[str], list[str]]:
    """`n` in-distribution prompts drawn as the world draws captions, and `n_held_out` held-out
    prompts cycling through `held_out_prompts` in a seeded order."""
    from soralite.world import generate

    ind = generate(cfg.world, n, seed=seed).captions if n else []
    held = held_out_prompts(cfg.world)
    if held and n_held_out:
        order = np.random.default_rng(seed).permutation(len(held))
        held = [held[order[i % len(held)]] for i in range(n_held_out)]
    else:
        held = []
    return ind, held


def _summary(report: dict) -> dict:
    return {k: report.get(k) for k in SUMMARY_KEYS}


def evaluate(pipe: Pipeline, n: int | None = None, n_held_out: int | None = None,
             seed: int | None = None, steps: int | None = None, guidance: float | None = None,
             progress: bool = False) -> dict:
    """Generate clips for fresh prompts and noise and score them with the tracker.

    Returns `adherence_in_distribution`, `adherence_held_out` and each set's per-attribute summary."""
    from soralite.tracker import score_clips

    cfg, tc = pipe.config, pipe.config.train
    n = tc.eval_clips if n is None else n
    n_held_out = tc.eval_held_out_clips if n_held_out is None else n_held_out
    seed = cfg.seed + EVAL_SEED_OFFSET if seed is None else seed
    ind, held = eval_prompts(cfg, n, n_held_out, seed)
    prompts = ind + held
    t0 = time.perf_counter()
    clips = pipe.generate(prompts, seed=seed, steps=steps, guidance=guidance, progress=progress)
    t_sample = time.perf_counter() - t0
    report = {"seed": seed, "steps": steps or tc.sample_steps,
              "guidance": tc.guidance_scale if guidance is None else guidance,
              "sample_seconds": round(t_sample, 1)}
    for name, rows in (("in_distribution", slice(0, len(ind))), ("held_out", slice(len(ind), None))):
        if rows.stop == 0 or not prompts[rows]:
            report[name] = None
            continue
        scores = score_clips(clips[rows], prompts[rows])
        report[name] = _summary(scores)
        report[name]["failures"] = _failures(scores["per_clip"])
    report["adherence_in_distribution"] = (report["in_distribution"] or {}).get("adherence")
    report["adherence_held_out"] = (report["held_out"] or {}).get("adherence")
    return report


def _failures(per_clip: list[dict]) -> dict:
    """How often each attribute was wrong, among the clips that did not adhere."""
    bad = [r for r in per_clip if not r["adheres"]]
    return {k: sum(1 for r in bad if r[k] is False) for k in ("colour", "shape", "motion", "no_extra")}


# ----------------------------------------------------------------------------------------------
# Captioned grids of samples


def caption_band(text: str, width: int) -> np.ndarray:
    """A white band `uint8 (h, width, 3)` with `text` in black, wrapped to fit."""
    from PIL import Image, ImageDraw

    per_line = max(1, width // CAPTION_CHAR_PX)
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > per_line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    img = Image.new("RGB", (width, CAPTION_LINE_PX * len(lines) + 4), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for k, s in enumerate(lines):
        draw.text((2, 2 + CAPTION_LINE_PX * k), s[:per_line], fill=(0, 0, 0))
    return np.asarray(img)


def captioned_grid(clips, captions: list[str], scale: int = GRID_SCALE, cols: int | None = None) -> np.ndarray:
    """Clips `uint8 (N, T, H, W, 3)` tiled into one clip, each enlarged and captioned beneath."""
    from soralite.video import grid

    if len(clips) != len(captions):
        raise ValueError(f"{len(clips)} clips but {len(captions)} captions")
    cells = []
    for clip, text in zip(clips, captions):
        big = np.asarray(clip).repeat(scale, axis=1).repeat(scale, axis=2)  # (T, sH, sW, 3)
        band = caption_band(text, big.shape[2])                             # (h, sW, 3)
        band = np.broadcast_to(band, (big.shape[0], *band.shape))           # (T, h, sW, 3)
        cells.append(np.concatenate([big, band], axis=1))                  # (T, sH + h, sW, 3)
    return grid(cells, cols=cols, pad=4)


def grid_prompts(cfg: Config, n: int = GRID_PROMPTS) -> list[str]:
    """Prompts for the sample grid: `n` different in-distribution ones spread over the world's
    colours, shapes and motions, then held-out ones.

    The same diagonal walk orders both levels: pair k has colour `k % C` and shape
    `(k % C + k // C) % S` (held-out pairs skipped), prompt k has pair `k % P` and motion
    `(k % P + k // P) % M`. So the first prompts show every colour, shape and motion, and no
    prompt comes twice before all P * M have come once.
    """
    w = cfg.world
    held_pairs = set(map(tuple, w.held_out)) if w.exclude_held_out else set()
    C, S = len(w.colours), len(w.shapes)
    pairs = [(w.colours[k % C], w.shapes[(k % C + k // C) % S]) for k in range(C * S)]
    pairs = [p for p in pairs if p not in held_pairs]
    size = f"{w.sizes[-1]} " if len(w.sizes) > 1 else ""
    P, M = len(pairs), len(w.motions)
    out = []
    for k in range(n):
        colour, shape = pairs[k % P]
        motion = w.motions[(k % P + k // P) % M]
        out.append(f"a {size}{colour} {shape} {motion}")
    held = held_out_prompts(cfg.world)
    return out + held[:: max(1, len(held) // GRID_HELD_OUT)][:GRID_HELD_OUT]


# ----------------------------------------------------------------------------------------------
# quickstart: VAE, denoiser, samples, report


def quickstart(cfg: Config, out: str | os.PathLike, progress: bool = True, log=print) -> dict:
    """Train (or reuse) the VAE and the denoiser of `cfg` in `out`, write `samples.gif` and
    `report.json`, and return the report. Each stage skips what `out` already holds."""
    from soralite.train import build_pool, load_vae_for, train
    from soralite.video import save_clip

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    load = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    vae = load_vae_for(cfg, out, progress=progress)
    seconds["vae"] = time.perf_counter() - t0
    log(f"[quickstart] VAE ready in {seconds['vae']:.1f} s ({out / VAE_DIR})")

    t = time.perf_counter()
    pool = build_pool(cfg, vae, Denoiser(cfg).tokenizer, out, progress=progress)
    seconds["latent_pool"] = time.perf_counter() - t
    log(f"[quickstart] {len(pool)} clips encoded to latents {tuple(pool.latents.shape[1:])} "
        f"in {seconds['latent_pool']:.1f} s")

    t = time.perf_counter()
    result = train(cfg, out, vae=vae, pool=pool, progress=progress)
    seconds["denoiser"] = time.perf_counter() - t
    last = result.history[-1] if result.history else {}
    log(f"[quickstart] denoiser at step {result.step} in {seconds['denoiser']:.1f} s "
        f"(loss {last.get('loss', float('nan')):.4f})")

    pipe = Pipeline(cfg, vae, result.ema, latent_scale=result.latent_scale)
    pipe.step = result.step
    report_path = out / "report.json"
    settings = {"step": result.step, "steps": cfg.train.sample_steps,
                "guidance": cfg.train.guidance_scale, "eval_clips": cfg.train.eval_clips,
                "eval_held_out_clips": cfg.train.eval_held_out_clips}
    old = json.loads(report_path.read_text()) if report_path.exists() else {}
    t = time.perf_counter()
    if old.get("settings") == settings and (out / "samples.gif").exists():
        log("[quickstart] samples.gif and report.json are up to date; nothing to sample")
        report = old
    else:
        prompts = grid_prompts(cfg)
        clips = pipe.generate(prompts, seed=cfg.seed + EVAL_SEED_OFFSET + 1)
        save_clip(out / "samples.gif", captioned_grid(clips, prompts), fps=cfg.world.fps)
        seconds["samples"] = time.perf_counter() - t
        t = time.perf_counter()
        report = {"preset": cfg.name, "settings": settings,
                  "evaluation": evaluate(pipe, progress=progress)}
        seconds["evaluation"] = time.perf_counter() - t
        seconds["total"] = time.perf_counter() - t0
        report["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
        report["load_average_at_start"] = load
        report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        report["adherence_in_distribution"] = report["evaluation"]["adherence_in_distribution"]
        report["adherence_held_out"] = report["evaluation"]["adherence_held_out"]
        tmp = report_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=2))
        tmp.replace(report_path)
    log(f"[quickstart] adherence in-distribution {_pct(report.get('adherence_in_distribution'))}, "
        f"held-out {_pct(report.get('adherence_held_out'))}; times (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in report.get("seconds", {}).items()))
    log(f"[quickstart] wrote {out / 'samples.gif'} and {report_path}; "
        f"load it with soralite.Pipeline.from_pretrained({str(out)!r})")
    return report


def run_fits(saved: Config, cfg: Config) -> bool:
    """Would a run trained with config `saved` go on as `cfg`? Settings a run may change between
    calls (steps, sampling, evaluation sizes; the VAE's measured scaling) are left out."""
    from soralite.train import RESUMABLE_FIELDS
    from soralite.vae import NON_ARCH_FIELDS

    def key(c: Config):
        d = c.to_dict()
        vae = {k: v for k, v in d["vae"].items() if k not in NON_ARCH_FIELDS}
        train = {k: v for k, v in d["train"].items() if k not in RESUMABLE_FIELDS}
        return d["seed"], d["world"], vae, d["dit"], train
    return key(saved) == key(cfg)


def load_or_quickstart(cfg: Config, run: str | os.PathLike | None = None, device=None,
                       progress: bool = True, log=print) -> Pipeline:
    """The pipeline of `cfg` trained to its last step: loaded from `run` (default
    `runs/<preset>`) when that holds one, else made there by `quickstart`, which resumes an
    unfinished run. A run of another config is left alone: training then goes to the sibling
    folder `<run>-<hash of cfg>`. The folder used is `pipe.run`.
    """
    import hashlib

    from soralite.checkpoint import CheckpointError
    from soralite.config import runs_dir

    run = Path(run) if run is not None else Path(runs_dir()) / cfg.name
    try:
        pipe = _finished_run(run, cfg, device)
    except (CheckpointError, ValueError) as err:      # another config's run: train beside it
        log(f"not using {run}: {err}")
        run = run.with_name(f"{run.name}-{hashlib.sha1(cfg.to_json().encode()).hexdigest()[:8]}")
        pipe = _finished_run(run, cfg, device)
    if pipe is None:                                  # nothing there yet, or unfinished: train there
        quickstart(cfg, run, progress=progress, log=log)
        pipe = Pipeline.from_pretrained(run, device=device)
    pipe.run = run
    return pipe


def _finished_run(run: Path, cfg: Config, device) -> Pipeline | None:
    """The pipeline at `run` if it is a run of `cfg` trained to its last step; None where there is
    none yet or it is unfinished; `CheckpointError` where it is a run of another config."""
    from soralite.checkpoint import CheckpointError, CheckpointNotFoundError

    try:
        pipe = Pipeline.from_pretrained(run, device=device)
    except CheckpointNotFoundError:
        return None
    if not run_fits(pipe.config, cfg):
        raise CheckpointError("it was trained with another config")
    return pipe if pipe.step >= cfg.train.steps else None


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


# ----------------------------------------------------------------------------------------------
# Command line: `soralite quickstart`, `soralite sample`


def register_cli(sub, add_config_args) -> None:
    p = sub.add_parser("quickstart", help="train the VAE and the DiT, sample, score",
                       description="Train the VAE (or reuse OUT/vae) and the denoiser on the toy "
                                   "world, sample a grid of prompts to OUT/samples.gif, score "
                                   "fresh samples with the tracker into OUT/report.json "
                                   "(in-distribution and held-out prompts apart), and leave a "
                                   "directory that soralite.Pipeline.from_pretrained loads. "
                                   "Run it again to resume; finished stages are skipped.")
    p.add_argument("--out", type=Path, default=None, help="run directory (default runs/<preset>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_args(p)
    p.set_defaults(func=_quickstart)

    p = sub.add_parser("sample", help="generate clips from a prompt with a trained pipeline",
                       description="Generate a clip for each --prompt with the pipeline in --ckpt "
                                   "and write it to --out (.npy, .gif or .mp4; several prompts "
                                   "make a captioned grid, or one .npy array (N, T, H, W, 3)). "
                                   "Without --out, writes OUT/samples/<prompt>-s<seed>.gif in "
                                   "the checkpoint and skips it when it is already there.")
    p.add_argument("--ckpt", type=Path, required=True, help="pipeline directory (from quickstart)")
    p.add_argument("--prompt", action="append", required=True,
                   help="e.g. 'a red circle moving left' (repeat for more)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the config's)")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the config's)")
    p.add_argument("--out", type=Path, default=None, help="FILE.npy, FILE.gif or FILE.mp4")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_sample)


def _quickstart(args: argparse.Namespace) -> int:
    from soralite.config import get_config, runs_dir

    cfg = get_config(args.preset, args.overrides)
    out = args.out or Path(runs_dir()) / cfg.name
    report = quickstart(cfg, out, progress=not args.quiet)
    print(json.dumps({"out": str(out),
                      "adherence_in_distribution": report.get("adherence_in_distribution"),
                      "adherence_held_out": report.get("adherence_held_out"),
                      "seconds": report.get("seconds")}, indent=2))
    return 0


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unconditional"


def _sample(args: argparse.Namespace) -> int:
    from soralite.video import save_clip

    pipe = Pipeline.from_pretrained(args.ckpt)
    prompts = pipe.check_prompts(args.prompt)
    out = args.out
    if out is None:
        tag = f"-n{args.steps}" if args.steps else ""
        tag += f"-g{args.guidance:g}" if args.guidance is not None else ""
        out = args.ckpt / "samples" / f"{_slug(' + '.join(prompts))}-s{args.seed}{tag}.gif"
        if out.exists():
            print(json.dumps({"out": str(out), "skipped": "already there"}))
            return 0
    suffix = out.suffix.lower()
    if suffix not in (".npy", ".gif", ".mp4"):
        raise ValueError(f"--out must end in .npy, .gif or .mp4 (got {out.name!r})")
    clips = pipe.generate(prompts, seed=args.seed, steps=args.steps, guidance=args.guidance,
                          progress=not args.quiet)
    if len(prompts) == 1:
        save_clip(out, clips[0], fps=pipe.config.world.fps)
    elif suffix == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, clips, allow_pickle=False)
    else:
        save_clip(out, captioned_grid(clips, prompts), fps=pipe.config.world.fps)
    print(json.dumps({"out": str(out), "prompts": prompts, "shape": list(clips.shape)}))
    return 0
