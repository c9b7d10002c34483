"""The quickstart: VAE, denoiser, a grid of samples and an evaluation, into one run folder (notebook 00).

`quickstart(cfg, out)` trains (or reuses) the VAE and the denoiser of `cfg` in `out`, writes
`samples.gif` and `report.json`, and returns the report; each stage skips what `out` already
holds. `load_or_quickstart(cfg)` is what the notebooks call: the pipeline of `cfg` trained to
its last step, loaded if a run folder has it, else trained there.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from pathlib import Path

from soralite.checkpoint import CheckpointError, CheckpointNotFoundError
from soralite.config import Config, get_config, runs_dir
from soralite.eval import evaluate
from soralite.language import HeldOutWarning
from soralite.models import Denoiser
from soralite.pipeline import Pipeline
from soralite.runs import REPORT_FILE, SAMPLES_FILE, VAE_DIR, check_run_folder, run_fits
from soralite.safety.provenance import Generation, sidecar_path, sign
from soralite.runtime import is_main_process
from soralite.seeds import stream_seed
from soralite.train import SizeMix, check_denoiser, load_vae_for, train
from soralite.video import save_clip
from soralite.viz import captioned_grid
from soralite.world import grid_prompts


def quickstart(cfg: Config, out: str | os.PathLike, progress: bool = True, log=print,
               fresh: bool = False, provenance: bool = True) -> dict:
    """Train (or reuse) the VAE and the denoiser of `cfg` in `out`, write `samples.gif` and
    `report.json`, and return the report. Each stage skips what `out` already holds; a stage
    trained with other settings is an error naming them, unless `fresh`, which moves it aside
    (`soralite.runs.move_aside`) and trains anew. `report.json` and `samples.gif` record the
    weights they were made from and are made again when those change. `samples.gif` gets a C2PA
    sidecar `samples.gif.c2pa` (`soralite.safety.provenance`) unless `provenance=False`."""
    out = Path(out)
    if is_main_process():
        check_run_folder(out)                         # before any work
        out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    load = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    vae = load_vae_for(cfg, out, progress=progress, fresh=fresh, log=log)
    seconds["vae"] = time.perf_counter() - t0
    log(f"[quickstart] VAE ready in {seconds['vae']:.1f} s ({out / VAE_DIR})")

    check_denoiser(cfg, out, vae, fresh)             # before the pool is built: nothing changes
    t = time.perf_counter()
    mix = SizeMix.of(cfg).build(cfg, vae, Denoiser(cfg).tokenizer, out, progress=progress)
    seconds["latent_pool"] = time.perf_counter() - t
    log(f"[quickstart] {sum(len(p) for p in mix.pools.values())} clips encoded to latents "
        f"({', '.join(str(tuple(p.latents.shape[1:])) for p in mix.pools.values())}) "
        f"in {seconds['latent_pool']:.1f} s")

    t = time.perf_counter()
    result = train(cfg, out, vae=vae, mix=mix, progress=progress, fresh=fresh, log=log)
    seconds["denoiser"] = time.perf_counter() - t
    last = result.history[-1] if result.history else {}
    log(f"[quickstart] denoiser at step {result.step} in {seconds['denoiser']:.1f} s "
        f"(loss {last.get('loss', float('nan')):.4f})")

    if not is_main_process():                         # under torchrun: rank 0 samples and scores
        return {"step": result.step}
    pipe = Pipeline(cfg, vae, result.ema, latent_scale=result.latent_scale)
    pipe.step = result.step
    report_path = out / REPORT_FILE
    settings = {"step": result.step, "steps": cfg.train.sample_steps,
                "guidance": cfg.train.guidance_scale, "eval_clips": cfg.train.eval_clips,
                "eval_held_out_clips": cfg.train.eval_held_out_clips, "made_from": pipe.made_from}
    old = json.loads(report_path.read_text()) if report_path.exists() else {}
    t = time.perf_counter()
    if old.get("settings") == settings and (out / SAMPLES_FILE).exists():
        log(f"[quickstart] {SAMPLES_FILE} and {REPORT_FILE} are up to date; nothing to sample")
        report = old
        if provenance and not sidecar_path(out / SAMPLES_FILE).exists():   # made before provenance
            sign(out / SAMPLES_FILE, Generation.of(pipe, "grid", grid_prompts(cfg.world),
                                                   stream_seed(cfg.seed, "grid")))
    else:
        prompts = grid_prompts(cfg.world)
        with warnings.catch_warnings(), pipe.policy_suspended():   # the kit's grid of its world
            warnings.simplefilter("ignore", HeldOutWarning)   # the held-out prompts are on purpose
            clips = pipe.generate(prompts, seed=stream_seed(cfg.seed, "grid"))
        save_clip(out / SAMPLES_FILE, captioned_grid(clips, prompts), fps=cfg.world.fps)
        if provenance:
            sign(out / SAMPLES_FILE, Generation.of(pipe, "grid", prompts, stream_seed(cfg.seed, "grid")))
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
    log(f"[quickstart] {'kept' if report is old else 'wrote'} {out / SAMPLES_FILE} and {report_path}; "
        f"load it with soralite.Pipeline.from_pretrained({str(out)!r})")
    return report


# Minutes a whole quickstart took on the 2-core CPU (no GPU), measured with `time soralite
# quickstart --preset P` (README, "Text to video"); a notebook that is about to train says so first.
MEASURED_MINUTES = {"smoke": "under 1",
                    "tiny": "about 15 to 25 (24 measured while other work shared the cores)"}


def training_notice(cfg: Config, run: Path) -> str:
    """What a quickstart of `cfg` into `run` will train, how long it takes, where it writes."""
    preset = get_config(cfg.name) if cfg.name in MEASURED_MINUTES else None
    minutes = MEASURED_MINUTES.get(cfg.name, "not measured for this preset")
    if preset is not None and preset.to_json() != cfg.to_json():
        minutes += " for the preset; these settings differ from it, so the time may too"
    return (f"[quickstart] training the {cfg.name} pipeline into {run}: a VAE ({cfg.train.vae_steps} steps) "
            f"unless the folder has one, then the denoiser ({cfg.train.steps} steps at batch "
            f"{cfg.train.batch_size}), samples and an evaluation; on a 2-core CPU: {minutes} min. "
            f"Interrupt to stop; the same call resumes.")


def load_or_quickstart(cfg: Config, run: str | os.PathLike | None = None, device=None,
                       progress: bool = True, log=print) -> Pipeline:
    """The pipeline of `cfg` trained to its last step: loaded from `run` (default
    `<runs dir>/<preset>`, `soralite.config.runs_dir()`) when that holds one, else made there by `quickstart`, which resumes an
    unfinished run. A run of another config is left alone: training then goes to the sibling
    folder `<run>-<hash of cfg>`. The folder used is `pipe.run`.
    """
    run = Path(run) if run is not None else Path(runs_dir()) / cfg.name
    try:
        pipe = _finished_run(run, cfg, device)
    except (CheckpointError, ValueError) as err:      # another config's run: train beside it
        log(f"not using {run}: {err}")
        run = run.with_name(f"{run.name}-{hashlib.sha1(cfg.to_json().encode()).hexdigest()[:8]}")
        pipe = _finished_run(run, cfg, device)
    if pipe is None:                                  # nothing there yet, or unfinished: train there
        log(training_notice(cfg, run))
        quickstart(cfg, run, progress=progress, log=log)
        pipe = Pipeline.from_pretrained(run, device=device)
    pipe.run = run
    return pipe


def _finished_run(run: Path, cfg: Config, device) -> Pipeline | None:
    """The pipeline at `run` if it is a run of `cfg` trained to its last step; None where there is
    none yet or it is unfinished; `CheckpointError` where it is a run of another config."""
    try:
        pipe = Pipeline.from_pretrained(run, device=device)
    except CheckpointNotFoundError:
        return None
    if not run_fits(pipe.config, cfg):
        raise CheckpointError("it was trained with another config")
    return pipe if pipe.step >= cfg.train.steps else None


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


__all__ = ["quickstart", "load_or_quickstart", "training_notice", "MEASURED_MINUTES"]
