"""Scaling with compute (notebook 14): training FLOPs counted, a sweep of DiT sizes and training
budgets, the compute-optimal frontier and a fitted power law, and the base / 4x / 32x figure.

The Sora report shows one prompt and one seed sampled from models trained with base, 4x and 32x
compute, and says that video diffusion transformers scale as language models do (Kaplan et al.
2020; Hoffmann et al. 2022; for DiT, Peebles & Xie 2023). Here that is measured:

- `training_step_flops(cfg)` counts the FLOPs of one real training step (forward and backward of
  the denoiser at the run's batch size) with `torch.utils.flop_counter.FlopCounterMode`; a run's
  training compute is that times its steps;
- `run_sweep(cfg, out)` trains one denoiser per (DiT size of `DIT_PRESETS`, steps) on one shared
  VAE and latent pool, and measures each: the held-out rectified-flow loss at fixed noise levels
  (`soralite.eval.loss_at_levels`, the same latents and noise for every run, as Open-Sora reports
  its loss), tracker adherence on fresh prompts (`soralite.eval.evaluate`), and one sample of
  `FIGURE_PROMPT` from one seed; every run lives in `out/<size>-<steps>/` with a `result.json`
  written last, so a stopped sweep resumes and finished runs are skipped;
- `frontier(runs)` is the compute-optimal frontier (the lowest loss at or below each compute) and
  `fit_power_law(C, L)` fits `loss = a * C^-b + c` to it by nonlinear least squares, with the
  uncertainty of `b` from a bootstrap over the runs (`bootstrap_fit`);
- `figure_runs(runs)` picks the runs of one size whose compute is about 1x, 4x and 32x the least.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from soralite.checkpoint import load_pretrained, load_state_dict_strict, weights_sha256
from soralite.config import Config, apply_overrides
from soralite.diffusion import diffusion_loss, draw_tasks, make_scheduler, parse_tasks
from soralite.eval import DEFAULT_LEVELS, evaluate, loss_at_levels
from soralite.language import VOCABULARY
from soralite.models import Denoiser, VideoVAE, count_parameters, encode_clips, latent_shape, num_tokens
from soralite.models.dit import DIT_PRESETS
from soralite.models.text import Tokenizer
from soralite.pipeline import Pipeline
from soralite.runs import CONFIG_FILE, DENOISER_DIR
from soralite.seeds import stream_seed
from soralite.train import build_pool, load_or_train_vae, train
from soralite.world import generate, score_clips

RESULT_FILE = "result.json"        # in each run's folder, written last: the run is finished
TABLE_FILE = "scaling.json"        # the sweep's table, beside the runs
FIGURE_PROMPT = "a red circle moving right"
FIGURE_RATIOS = (1, 4, 32)         # the report's base, 4x and 32x compute
WARMUP_SHARE = 1 / 12              # warmup steps per step of a run (the tiny preset: 100 of 1200)
BOOTSTRAP = 1000                   # resamples of the runs for the uncertainty of the exponent
TASK_DRAWS = 100                   # tries for a batch with frames given (per-frame noise levels)
B_RANGE = (1e-3, 3.0)              # exponents the fit searches
FIT_GRID, FIT_REFINE = 200, 41     # points of its coarse grid over log b, and of each refinement


@dataclass(frozen=True)
class Grid:
    """A sweep: the DiT sizes (names of `DIT_PRESETS`), the training steps of each, the size the
    base / 4x / 32x figure is drawn from, and the clips each run is measured on."""

    steps: dict[str, tuple[int, ...]]
    figure_size: str
    eval_clips: int = 64           # fresh prompts for adherence
    held_out_clips: int = 64       # held-out latents for the loss

    @property
    def sizes(self) -> tuple[str, ...]:
        return tuple(self.steps)


# The tiny sweep (README, "Scaling with compute"): budgets span 16x to 32x within a size (32x for
# the figure's) and 78x in all, overlapping across sizes; from per-step times measured on the
# 2-core CPU the whole sweep is estimated at about 74 minutes there (at most 90), VAE included.
GRIDS: dict[str, Grid] = {
    "tiny": Grid(steps={"DiT-XS/2": (100, 200, 400, 800, 1600),
                        "DiT-S/2": (50, 100, 200, 400, 800, 1600),
                        "DiT-B/2": (25, 50, 100, 200, 400)},
                 figure_size="DiT-S/2"),
    "smoke": Grid(steps={"DiT-XS/2": (1, 4, 32), "DiT-S/2": (1, 4)},
                  figure_size="DiT-XS/2", eval_clips=2, held_out_clips=4),
}


def grid_for(preset: str, sizes: Sequence[str] | None = None, steps: Sequence[int] | None = None) -> Grid:
    """The preset's grid (tiny's for presets without one), restricted to `sizes` and with the
    same `steps` for every size where given."""
    base = GRIDS.get(preset, GRIDS["tiny"])
    sizes = tuple(sizes) if sizes else base.sizes
    bad = [s for s in sizes if s not in DIT_PRESETS]
    if bad:
        raise ValueError(f"unknown DiT size {bad[0]!r}; allowed: {', '.join(DIT_PRESETS)}")
    if steps is not None and (not steps or any(int(k) < 1 for k in steps)):
        raise ValueError(f"steps must be integers >= 1 (got {list(steps)})")
    default = base.steps[base.sizes[-1]]                   # a size the preset's grid lacks
    table = {s: tuple(sorted({int(k) for k in steps})) if steps else base.steps.get(s, default)
             for s in sizes}
    figure = base.figure_size if base.figure_size in sizes else sizes[0]
    return Grid(table, figure, base.eval_clips, base.held_out_clips)


def run_name(size: str, steps: int) -> str:
    """The folder of one run: `DiT-S/2`, 400 steps -> `DiT-S-2-400`."""
    return f"{size.replace('/', '-')}-{steps}"


def run_config(cfg: Config, size: str, steps: int) -> Config:
    """`cfg` with the DiT of `size` (`DIT_PRESETS`) trained for `steps` steps, warming up over
    `WARMUP_SHARE` of them, checkpointing no more often than every quarter of the run (nor than
    the preset's interval: saving costs more than a step of the small models)."""
    if size not in DIT_PRESETS:
        raise ValueError(f"unknown DiT size {size!r}; allowed: {', '.join(DIT_PRESETS)}")
    dit = DIT_PRESETS[size]
    return apply_overrides(copy.deepcopy(cfg), {
        "dit.hidden_size": dit["hidden_size"], "dit.depth": dit["depth"],
        "dit.num_heads": dit["num_heads"], "dit.patch_size": list(dit["patch_size"]),
        "train.steps": int(steps), "train.warmup_steps": max(1, round(steps * WARMUP_SHARE)),
        "train.checkpoint_every": max(cfg.train.checkpoint_every, steps // 4)})


# ----------------------------------------------------------------------------------------------
# FLOPs, counted


def _cpu_attention_flop(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_attention_backward_flop(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


# torch's counter knows the GPU attention kernels but not the CPU's fused one; without these two
# formulas every attention matmul on a CPU would count as zero.
CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flop,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward_flop,
}


def count_flops(fn: Callable[[], object], by_module: bool = False):
    """The FLOPs of calling `fn()` as `FlopCounterMode` counts them (matmuls, convolutions and
    attention, forward and backward; elementwise work, norms and softmax count zero). With
    `by_module`, also `{module name: FLOPs}` (backward included) for every module that ran."""
    with FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS) as counter:
        fn()
    total = counter.get_total_flops()
    if not by_module:
        return total
    return total, {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}


def training_step_flops(cfg: Config, batch_size: int | None = None, by_module: bool = False):
    """FLOPs of one training step of `cfg`'s denoiser at `train.batch_size` (or `batch_size`):
    the forward and backward pass of a real batch with its tasks drawn as training draws them
    (`soralite.train.DenoiserStage`), counted by `count_flops`; the optimizer's update, which
    has no matmuls, counts zero. A batch where some clip has frames given or a noise level per
    frame runs adaLN once per latent frame rather than once per clip; the step counted is such a
    batch, as nearly every batch of a run is (at batch 32 every one: all 32 clips text-only has
    odds 0.4^32), so a run costs this x steps."""
    B = batch_size or cfg.train.batch_size
    torch.manual_seed(stream_seed(cfg.seed, "init"))
    model = Denoiser(cfg).train()                                           # on the CPU: FLOPs are FLOPs
    scheduler = make_scheduler(cfg)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(B, *latent_shape(cfg), generator=g)                   # (B, C, t, h, w)
    ids, mask = model.encode_prompts([FIGURE_PROMPT] * B)                  # (B, L) x 2
    weights, tasks = parse_tasks(cfg.train.tasks), None
    if set(weights) != {"text"} and x0.shape[2] > 1:
        for _ in range(TASK_DRAWS):                     # a batch with levels per frame: nearly all are
            tasks = draw_tasks(B, x0.shape[2], weights, g)
            if bool(tasks.given.any() or tasks.independent.any()):
                break

    def step():
        loss, _, _ = diffusion_loss(model, scheduler, x0, ids, mask, g, tasks=tasks)
        loss.backward()

    return count_flops(step, by_module=by_module)


# ----------------------------------------------------------------------------------------------
# The frontier and the power law


def frontier(runs: Sequence[dict], x: str = "flops", y: str = "loss") -> list[dict]:
    """The compute-optimal frontier: the runs whose loss is lower than that of every run with
    less or equal compute, in order of compute (so the loss falls along it)."""
    best, out = math.inf, []
    for run in sorted(runs, key=lambda r: (r[x], r[y])):
        if run[y] < best:
            out.append(run)
            best = run[y]
    return out


def _linear_part(b: np.ndarray, x: np.ndarray, loss: np.ndarray):
    """For each exponent `b (K,)`: the best `a' >= 0, c >= 0` of `loss = a' exp(-b x) + c`
    (least squares in closed form: a straight line in `exp(-b x)`) and its sum of squared
    errors; `(K,)` each."""
    f = np.exp(-np.outer(b, x))                                             # (K, n)
    fm, lm = f.mean(1), loss.mean()
    var = ((f - fm[:, None]) ** 2).sum(1)
    a = np.where(var > 0, ((f - fm[:, None]) * (loss - lm)).sum(1) / np.maximum(var, 1e-300), 0.0)
    c = lm - a * fm
    # where the unconstrained optimum leaves the box, the best is on an edge of it: c = 0, or a' = 0
    a0 = np.maximum((f * loss).sum(1) / (f * f).sum(1), 0.0)                # (K,) best a' with c = 0
    options = np.stack([np.stack([a, c]), np.stack([a0, 0 * a0]),
                        np.stack([0 * a0, np.full_like(a0, lm)])])        # (3, 2, K)
    errors = ((options[:, 0, :, None] * f + options[:, 1, :, None] - loss) ** 2).sum(-1)   # (3, K)
    errors = np.where((options >= 0).all(1), errors, np.inf)
    best = options[errors.argmin(0), :, np.arange(len(b))]                  # (K, 2)
    return best[:, 0], best[:, 1], errors.min(0)


def fit_power_law(compute: Sequence[float], loss: Sequence[float], b_range=B_RANGE) -> dict:
    """Fit `loss = a * C^-b + c` (a, c >= 0) by nonlinear least squares.

    For a fixed `b` the model is linear in `a` and `c`, solved in closed form, so only `b` is
    searched (variable projection): a grid over `b_range` on a log scale, refined twice around its
    best point. Compute is measured from its geometric mean inside, which keeps the numbers well
    scaled. Returns `a`, `b`, `c`, the residual RMS and the number of points."""
    C, L = np.asarray(compute, np.float64), np.asarray(loss, np.float64)
    if C.shape != L.shape or len(C) < 3:
        raise ValueError(f"a power law with an offset needs at least 3 points (got {len(C)})")
    if (C <= 0).any() or not np.isfinite(L).all():
        raise ValueError("compute must be positive and losses finite")
    ref = float(np.exp(np.log(C).mean()))
    x = np.log(C / ref)                                                     # (n,)
    lo, hi = np.log(b_range[0]), np.log(b_range[1])
    for points in (FIT_GRID, FIT_REFINE, FIT_REFINE):                       # coarse, then finer
        grid = np.linspace(lo, hi, points)                                  # log b
        k = int(np.argmin(_linear_part(np.exp(grid), x, L)[2]))
        step = grid[1] - grid[0]
        lo, hi = max(grid[k] - step, np.log(b_range[0])), min(grid[k] + step, np.log(b_range[1]))
    b = float(np.exp(grid[k]))
    a_ref, c, s = (v[0] for v in _linear_part(np.array([b]), x, L))
    return {"a": float(a_ref * ref ** b), "b": float(b), "c": float(c),
            "rms": float(math.sqrt(s / len(C))), "points": int(len(C))}


def predict(fit: dict, compute) -> np.ndarray:
    """The fitted loss `a * C^-b + c` at `compute`."""
    return fit["a"] * np.asarray(compute, np.float64) ** -fit["b"] + fit["c"]


def bootstrap_fit(runs: Sequence[dict], n: int = BOOTSTRAP, seed: int = 0) -> dict:
    """The power law fitted to the frontier of `runs`, and the uncertainty of its exponent: the
    runs are resampled with replacement `n` times, the frontier recomputed and refitted; returns
    the fit with `b_se` (the bootstrap standard deviation of b), `b_ci95` (its 2.5 and 97.5
    percentiles) and how many resamples had the 3 distinct points a fit needs."""
    front = frontier(runs)
    fit = fit_power_law([r["flops"] for r in front], [r["loss"] for r in front])
    rng = np.random.default_rng(seed)
    bs = []
    for _ in range(n):
        pick = [runs[i] for i in rng.integers(0, len(runs), len(runs))]
        f = frontier(pick)
        if len({r["flops"] for r in f}) >= 3:
            bs.append(fit_power_law([r["flops"] for r in f], [r["loss"] for r in f])["b"])
    bs = np.array(bs)
    fit.update({"frontier": [{"size": r["size"], "steps": r["steps"]} for r in front],
                "bootstrap": int(len(bs)),
                "b_se": float(bs.std(ddof=1)) if len(bs) > 1 else None,
                "b_ci95": [float(v) for v in np.percentile(bs, [2.5, 97.5])] if len(bs) > 1 else None})
    return fit


# ----------------------------------------------------------------------------------------------
# The figure: one prompt, one seed, base / 4x / 32x compute


def figure_runs(runs: Sequence[dict], size: str | None = None, ratios=FIGURE_RATIOS) -> list[dict]:
    """Runs of one size (`size`, else the one whose budgets span the most) whose compute is
    nearest, on a log scale, to `ratios` times that of its cheapest run; distinct runs, in
    order of compute."""
    by_size: dict[str, list[dict]] = {}
    for r in runs:
        by_size.setdefault(r["size"], []).append(r)
    if size is None:
        size = max(by_size, key=lambda s: max(r["flops"] for r in by_size[s]) / min(r["flops"] for r in by_size[s]))
    pool = sorted(by_size.get(size, []), key=lambda r: r["flops"])
    if len(pool) < len(ratios):
        raise ValueError(f"the figure needs {len(ratios)} runs of {size}; the sweep has {len(pool)}")
    base, chosen = pool[0]["flops"], []
    for ratio in ratios:
        free = [r for r in pool if r not in chosen]
        chosen.append(min(free, key=lambda r: abs(math.log(r["flops"] / (base * ratio)))))
    return sorted(chosen, key=lambda r: r["flops"])


# ----------------------------------------------------------------------------------------------
# The sweep


def held_out_latents(cfg: Config, vae, scale: torch.Tensor, tokenizer, n: int):
    """Latents `(n, C, t, h, w)`, token ids and mask `(n, L)` of `n` clips from the `eval` world
    stream (which no training draws from), the same for every run of a sweep."""
    batch = generate(cfg.world, n, seed=stream_seed(cfg.seed, "eval"))
    latents = encode_clips(vae, batch.clips, scale=scale)                  # (n, C, t, h, w)
    ids, mask = tokenizer.encode(batch.captions, cfg.dit.text_max_length)  # (n, L) x 2
    return latents, ids, mask


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2))
    tmp.replace(path)                                                       # atomic: whole or absent


def _read_result(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def measure_run(cfg: Config, model: Denoiser, vae, scale: torch.Tensor, held, grid: Grid,
                levels=DEFAULT_LEVELS) -> tuple[dict, np.ndarray]:
    """A trained denoiser measured: the held-out loss at `levels` (noise from the eval stream's
    seed), adherence on `grid.eval_clips` fresh prompts with its 95% interval, and its sample of
    `FIGURE_PROMPT` from seed `cfg.seed` (returned as uint8 `(T, H, W, 3)`) with the tracker's
    verdict."""
    seed = stream_seed(cfg.seed, "eval")
    curve = loss_at_levels(model, make_scheduler(cfg), *held, levels=levels, seed=seed)   # (levels,)
    pipe = Pipeline(cfg, vae, model, latent_scale=scale)
    report = evaluate(pipe, n=grid.eval_clips, n_held_out=0)
    sample = pipe.generate([FIGURE_PROMPT], seed=cfg.seed)                 # (1, T, H, W, 3)
    verdict = score_clips(sample, [FIGURE_PROMPT])["per_clip"][0]
    return {"loss": float(curve.mean()), "loss_by_level": [round(float(v), 6) for v in curve],
            "adherence": report["adherence_in_distribution"],
            "adherence_ci": report["adherence_in_distribution_ci"], "eval_clips": grid.eval_clips,
            "tracker_floor": report["tracker_floor"],
            "figure_adheres": verdict["adheres"],
            "figure_verdict": {k: verdict[k] for k in ("colour", "shape", "motion", "no_extra")}}, sample[0]


def share_vae(source: Path, target: Path) -> None:
    """Copy the VAE checkpoint `source` to `target` (through a temporary folder, so that an
    interrupted copy leaves nothing half made); a `target` with other weights is an error."""
    if not source.is_dir():
        raise FileNotFoundError(f"no VAE checkpoint at {source}: give a quickstart run's vae/ folder")
    if target.exists():
        if weights_sha256(VideoVAE.from_pretrained(target).state_dict()) != \
                weights_sha256(VideoVAE.from_pretrained(source).state_dict()):
            raise ValueError(f"{target} holds another VAE than {source}: a sweep's runs share one "
                             f"VAE; sweep into another --out or leave out --vae")
        return
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial)
    partial.rename(target)


def run_sweep(cfg: Config, out: str | Path, grid: Grid | None = None, vae_dir: str | Path | None = None,
              levels=DEFAULT_LEVELS, bootstrap: int = BOOTSTRAP, progress: bool = True,
              log=print) -> dict:
    """Train and measure every run of `grid` (default: the preset's) into `out`, one folder each.

    One VAE for every run, in `out/vae`: copied there from `vae_dir` where given (so that the
    sweep folder holds everything its runs load), else trained or loaded there by
    `load_or_train_vae`; and one latent pool (`out/latents.safetensors`). A run whose
    `result.json` is there and was measured with these settings is skipped; an unfinished one
    resumes from its checkpoint (`soralite.train.train`). Returns the table: every run (size,
    steps, flops, loss, adherence, ...), the frontier and the power-law fit (where there are 3
    frontier points), the figure's runs, and the seconds this call took."""
    t_start = time.perf_counter()
    out = Path(out)
    grid = grid or grid_for(cfg.name)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if vae_dir is not None and Path(vae_dir).resolve() != (out / "vae").resolve():
        share_vae(Path(vae_dir), out / "vae")
    vae = load_or_train_vae(cfg, out / "vae", progress=progress, log=log).eval()
    tokenizer = Tokenizer(VOCABULARY)                                       # every size's
    pool = build_pool(cfg, vae, tokenizer, out=out, progress=progress)
    held = held_out_latents(cfg, vae, pool.scale, tokenizer, grid.held_out_clips)
    setup_seconds = time.perf_counter() - t0
    vae_sha = weights_sha256(vae.state_dict())
    settings = {"preset": cfg.name, "seed": cfg.seed, "batch_size": cfg.train.batch_size,
                "tokens_per_clip": num_tokens(cfg), "levels": [float(v) for v in levels],
                "eval_clips": grid.eval_clips, "held_out_clips": grid.held_out_clips,
                "figure_prompt": FIGURE_PROMPT, "figure_seed": cfg.seed, "vae_sha256": vae_sha,
                "warmup_share": WARMUP_SHARE, "sample_steps": cfg.train.sample_steps,
                "guidance_scale": cfg.train.guidance_scale}
    todo = [(size, steps) for size in grid.sizes for steps in grid.steps[size]]
    flops_of: dict[str, int] = {}
    runs, done = [], 0
    for k, (size, steps) in enumerate(todo):
        rcfg = run_config(cfg, size, steps)
        folder = out / run_name(size, steps)
        key = hashlib.sha256(json.dumps({"config": rcfg.to_dict() | {"name": None, "device": None},
                                         **settings}, sort_keys=True).encode()).hexdigest()[:16]
        result = _read_result(folder / RESULT_FILE)
        if result is not None and result.get("key") == key:
            runs.append(result)
            continue
        log(f"run {k + 1}/{len(todo)}: {size}, {steps} steps -> {folder}")
        t0 = time.perf_counter()
        trained = train(rcfg, folder, vae=vae, pool=pool, progress=progress, log=log)
        train_seconds = time.perf_counter() - t0
        if size not in flops_of:
            flops_of[size] = training_step_flops(rcfg)
        t0 = time.perf_counter()
        measured, sample = measure_run(rcfg, trained.ema, vae, pool.scale, held, grid, levels)
        params = count_parameters(trained.ema)
        tokens = steps * rcfg.train.batch_size * num_tokens(rcfg)
        result = {"size": size, "steps": steps, "flops": flops_of[size] * steps,
                  "flops_per_step": flops_of[size], "parameters": params,
                  "dit_parameters": count_parameters(trained.ema.dit), "tokens": tokens,
                  "flops_6nd": 6 * params * tokens, **measured,
                  "train_seconds": round(train_seconds, 1),
                  "seconds_per_step": round(trained.seconds / max(1, steps - trained.resumed_from), 4),
                  "resumed_from": trained.resumed_from,
                  "eval_seconds": round(time.perf_counter() - t0, 1), "key": key}
        np.save(folder / "figure.npy", sample, allow_pickle=False)
        _write_json(folder / RESULT_FILE, result)                          # last: the run is done
        runs.append(result)
        done += 1
    table = {"preset": cfg.name, "settings": settings, "grid": {s: list(v) for s, v in grid.steps.items()},
             "runs": runs, "runs_measured_now": done,
             "setup_seconds": round(setup_seconds, 1),
             "run_seconds": round(sum(r["train_seconds"] + r["eval_seconds"] for r in runs), 1)}
    table["frontier"] = [{"size": r["size"], "steps": r["steps"]} for r in frontier(runs)]
    table["fit"] = bootstrap_fit(runs, n=bootstrap) if len({r["flops"] for r in frontier(runs)}) >= 3 else None
    try:
        picked = figure_runs(runs, grid.figure_size)
        base = picked[0]["flops"]
        table["figure"] = {"size": grid.figure_size, "prompt": FIGURE_PROMPT, "seed": cfg.seed,
                           "runs": [{"steps": r["steps"], "flops": r["flops"],
                                     "compute_ratio": round(r["flops"] / base, 2),
                                     "adheres": r["figure_adheres"], "adherence": r["adherence"]}
                                    for r in picked]}
    except ValueError:
        table["figure"] = None
    table["seconds"] = round(time.perf_counter() - t_start, 1)
    return table


def figure_clips(out: str | Path, table: dict) -> tuple[np.ndarray, list[dict]]:
    """The figure's samples `uint8 (3, T, H, W, 3)` (read from the runs' folders in `out`) and
    their rows of `table["figure"]["runs"]`."""
    fig = table.get("figure")
    if not fig:
        raise ValueError("the table has no figure (its size needs runs at 3 budgets)")
    clips = [np.load(Path(out) / run_name(fig["size"], r["steps"]) / "figure.npy") for r in fig["runs"]]
    return np.stack(clips), fig["runs"]


def run_pipeline(out: str | Path, size: str, steps: int, vae, device=None) -> Pipeline:
    """The `Pipeline` of one finished run of a sweep in `out`: its config and denoiser (the EMA
    weights) from `out/<size>-<steps>/`, with the sweep's shared `vae`."""
    folder = Path(out) / run_name(size, steps)
    ckpt = load_pretrained(folder / DENOISER_DIR, load_extra=False)
    cfg = Config.from_dict(json.loads((folder / CONFIG_FILE).read_text()))
    model = Denoiser(cfg)
    load_state_dict_strict(model, ckpt.state_dict, folder / DENOISER_DIR)
    pipe = Pipeline(cfg, vae, model, device=device, latent_scale=ckpt.meta.get("latent_scale"))
    pipe.step = int(ckpt.meta.get("step", 0))
    return pipe


def write_table(path: str | Path, table: dict) -> Path:
    """Write the table as JSON, atomically (an interrupted write leaves the earlier table)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(path, table)
    return path


def read_table(path: str | Path) -> dict | None:
    """A table written by `write_table`, or None where there is none (or it is not one)."""
    table = _read_result(Path(path))
    return table if isinstance(table, dict) and "runs" in table else None


__all__ = ["Grid", "GRIDS", "grid_for", "run_name", "run_config", "CPU_ATTENTION_FLOPS", "count_flops",
           "training_step_flops", "frontier", "fit_power_law", "predict", "bootstrap_fit",
           "figure_runs", "held_out_latents", "measure_run", "run_sweep", "figure_clips", "run_pipeline",
           "write_table", "read_table", "RESULT_FILE", "TABLE_FILE", "FIGURE_PROMPT",
           "FIGURE_RATIOS", "WARMUP_SHARE"]
