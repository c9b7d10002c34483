"""The `soralite` command line (docs/design.md, "Contracts"): every subcommand's arguments here, in
one place, and a thin runner for each over the package, so that what a command does, a notebook
can do with the same functions.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

from soralite.bench import BENCHES, machine, run_benches
from soralite.bench import OPTIONAL as OPTIONAL_BENCHES
from soralite.config import (DATA_DIR, PRESETS, Config, apply_overrides, captioner_world,
                             default_preset, get_config, runs_dir)
from soralite.eval import evaluate, evaluate_vae
from soralite.eval.detection import PERTURBATIONS, evaluate_detector
from soralite.eval.sizes import EXTRAPOLATE as SIZES_EXTRAPOLATE
from soralite.eval.sizes import measure_sizes
from soralite.eval.tasks import MEASURES as TASK_MEASURES
from soralite.eval.tasks import evaluate_tasks
from soralite.eval.captioning import caption_folder, evaluate_captioner, evaluate_written
from soralite.eval.descriptive import caption_table, table_markdown
from soralite.checkpoint import load_pretrained
from soralite.models import Captioner
from soralite.train.captioner_stage import train_captioner
from soralite.train.folder import read_folder
from soralite.models.dit import DIT_PRESETS
from soralite.pipeline import Pipeline, check_sampling
from soralite.quickstart import quickstart
from soralite.language import HeldOutWarning
from soralite.runs import CAPTIONER_DIR, DETECTOR_DIR, SAMPLES_DIR, VAE_DIR
from soralite.runtime import is_main_process
from soralite.safety.detector import Detector, detect_files
from soralite.safety.policy import NO_POLICY_NOTE
from soralite.safety.provenance import NO_PROVENANCE_NOTE, Generation, file_sha256, sidecar_path, sign, verify
from soralite.seeds import stream_seed
from soralite.studies.probes import PROBES, run_probe
from soralite.studies.scaling import TABLE_FILE as SCALE_TABLE
from soralite.studies.scaling import figure_clips, grid_for, run_sweep, write_table
from soralite.train import train, train_vae
from soralite.train.detector_stage import train_detector
from soralite.video import check_output_path, load_clip, save_clip
from soralite.viz import captioned_grid, compute_figure, plot_scaling
from soralite.world import agreement, export_clips, prompt_set, score_folder

DESCRIPTION = """\
soralite: a Sora-style video generator, rebuilt small enough to train in minutes.

It learns a toy world of coloured shapes (red circles moving left, blue squares falling, ...),
so that every clip it makes can be checked by an exact tracker. Start with
  soralite make-data --n 300 --seed 11 --out runs/data    # clips of the world, with captions
  soralite score runs/data                                # how well clips follow their captions
  soralite quickstart --preset tiny                       # train a VAE and a DiT, sample, score
Runs go to <runs>: $SORALITE_RUNS, else ~/.cache/soralite/runs (never the repository).
"""
PRESET_HELP = ("named settings: smoke (seconds, for tests), tiny (a laptop CPU), world (the "
               "world-simulation chapter, 1-3 objects, walls, every motion), sizes (a mix of "
               "durations, resolutions and aspect ratios), workshop (one GPU); default: "
               "$SORALITE_PRESET, else tiny on a CPU and workshop on a GPU")


# ----------------------------------------------------------------------------------------------
# Arguments


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=None, help=PRESET_HELP)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change one setting of the preset, e.g. --set world.height=64 "
                        "(repeat for more)")


def _quiet_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _safety_args(p: argparse.ArgumentParser, policy: bool = True) -> None:
    p.add_argument("--no-provenance", action="store_true",
                   help="write no C2PA manifest (research only): the file then carries nothing that "
                        "marks it as generated or records its prompt, seed and weights")
    if policy:
        p.add_argument("--no-policy", action="store_true",
                       help="do not check prompts against the usage policy (data/policy.json) nor "
                            "review generated frames (research only)")


def _data_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="train on the clips of DIR (with its captions.jsonl, as `soralite caption "
                        "DIR` writes it) instead of the toy world; sets train.data")


def _with_data(args: argparse.Namespace) -> list[str]:
    """The --set overrides, with --data as train.data (an absolute path)."""
    overrides = list(args.overrides)
    if getattr(args, "data", None) is not None:
        if not args.data.is_dir():
            raise FileNotFoundError(f"--data {args.data}: no such folder")
        overrides.append(f"train.data={args.data.resolve()}")
    return overrides


def _fresh_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--fresh", action="store_true",
                   help=f"train {what} anew even where OUT holds one of other settings; the "
                        f"earlier weights are moved to OUT/replaced/, never deleted")


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, at least {low} (got {text!r})") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer, at least {low} (got {value})")
        return value
    return parse


def _float_above(low: float):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a finite number above {low:g} (got {text!r})") from None
        if not math.isfinite(value) or value <= low:
            raise argparse.ArgumentTypeError(f"must be a finite number above {low:g} (got {text})")
        return value
    return parse


VERB_HELP = [
    ("animate", "animate an image: a clip whose first frame is it",
     "Make a clip whose first frame is the --image and that follows --prompt, with the pipeline in "
     "--ckpt (the image is given to the model as the first latent frame). Writes --out (.gif, "
     ".mp4, .npy), by default CKPT/samples/animate-....gif."),
    ("extend", "extend a clip forward (or backward) in time",
     "Make --frames new frames after the --clip (or before it, with --backward) that go on as "
     "the clip goes; writes the clip and the new frames together."),
    ("connect", "connect two clips with a transition",
     "Make --frames new frames that lead from the end of --clip-a into the start of --clip-b; "
     "writes A, the transition and B together."),
    ("edit", "re-make a clip from a new prompt (SDEdit)",
     "Noise --clip to a share --strength of the schedule and re-run that share with --prompt: "
     "low strengths keep the clip's layout and motion, high ones follow the prompt more."),
]


def _history_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--history-guidance", action="store_true",
                   help="guide towards the given frames as well as the text: the unconditional "
                        "branch sees neither (train.history_guidance; notebook 09)")
    p.add_argument("--history-scale", type=_float_above(0.0), default=None, metavar="S",
                   help="history guidance on the given frames alone, at weight S, where frames "
                        "are given (the text is not pushed there; --guidance still guides windows "
                        "with nothing given): train.history_guidance_scale; implies --history-guidance")


def _sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument("--steps", type=_int_at_least(1), default=None,
                   help="sampler steps, >= 1 (default: the config's)")
    p.add_argument("--guidance", type=float, default=None,
                   help="guidance scale, a finite number: 1 no guidance, 0 unconditional "
                        "(default: the config's)")
    p.add_argument("--out", type=Path, default=None, help="FILE.gif, FILE.mp4 or FILE.npy")
    _history_arg(p)
    _safety_args(p)
    _quiet_arg(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="soralite", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the whole traceback instead of one line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("make-data", help="export clips of the toy world with their captions",
                       description="Render N clips of the toy world and write one .npy per clip "
                                   "(uint8, T x H x W x 3), a .gif beside it to look at, and "
                                   "captions.jsonl: one line per clip with its file, caption, "
                                   "descriptive caption and scene truth (every object's position "
                                   "in every frame). The same --seed gives the same clips.")
    p.add_argument("--n", type=_int_at_least(1), required=True, help="how many clips")
    p.add_argument("--out", type=Path, required=True, help="folder to write (created if missing)")
    p.add_argument("--seed", type=_int_at_least(0), default=0, help="random seed (default 0)")
    p.add_argument("--frames", type=int, help="frames per clip, T >= 1 (default: the preset's)")
    p.add_argument("--height", type=int, help="frame height in pixels, >= 16")
    p.add_argument("--width", type=int, help="frame width in pixels, >= 16 (need not equal height)")
    p.add_argument("--max-objects", type=int, help="at most this many objects a clip (1 to 3)")
    p.add_argument("--wall-prob", type=float, help="chance that a clip has the gray wall (0 to 1)")
    p.add_argument("--no-gif", dest="gif", action="store_false", help="write only the .npy files")
    _quiet_arg(p)
    p.add_argument("--preset", default=None,
                   help="draw the world of this preset (smoke, tiny, workshop); without it, the "
                        "full world of docs/world.md (every colour, shape, size and motion, one to "
                        "three objects, a wall in one clip in five), whatever $SORALITE_PRESET says")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change one world setting, e.g. --set world.fps=4 (repeat for more)")
    p.set_defaults(func=_make_data)

    p = sub.add_parser("score", help="score clips against their captions with the tracker",
                       description="Read the clips in DIR (captions from DIR/captions.jsonl) and "
                                   "check each against its caption with the analytic tracker. "
                                   "Prints JSON: 'adherence' is the share of clips whose every "
                                   "object has the named colour, shape, size and motion with no "
                                   "extra object; beside it the share right for each attribute, "
                                   "and consistency measures (object count, shape stability, "
                                   "velocity error against the scene truth when captions.jsonl "
                                   "holds it, reappearance after the wall).")
    p.add_argument("dir", type=Path, help="folder with clips (.npy, .gif or .mp4) and captions.jsonl")
    p.add_argument("--per-clip", action="store_true", help="include every clip's own scores")
    _quiet_arg(p)
    p.set_defaults(func=_score)

    p = sub.add_parser("check-tracker", help="measure the tracker against the world's own captions",
                       description="Render N world clips across settings (1-3 objects, walls, "
                                   "32 and 64 px, non-square), score each against its own caption "
                                   "(the tracker's agreement: the floor every generated-video score "
                                   "is read against) and against a shuffled caption (chance).")
    p.add_argument("--n", type=_int_at_least(1), default=1000, help="clips in all (default 1000)")
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    _quiet_arg(p)
    p.set_defaults(func=_check_tracker)

    p = sub.add_parser("train-vae", help="train the video VAE on the toy world",
                       description="Train the causal video VAE of a preset on world clips rendered "
                                   "on the fly, with checkpoints in OUT (resumed when OUT holds "
                                   "one), then report held-out PSNR and the tracker's adherence on "
                                   "the reconstructions as JSON.")
    p.add_argument("--out", type=Path, default=None,
                   help="checkpoint directory (default <runs>/<preset>/vae); resumed if it holds one")
    p.add_argument("--fresh", action="store_true",
                   help="start a new run even if OUT holds one; the earlier checkpoint is moved "
                        "to replaced/ beside OUT, never deleted")
    p.add_argument("--eval", type=_int_at_least(0), default=256, metavar="N",
                   help="held-out clips to score at the end (PSNR, tracker adherence); 0 skips")
    _data_arg(p)
    _quiet_arg(p)
    _config_args(p)
    p.set_defaults(func=_train_vae)

    p = sub.add_parser("train", help="train the denoiser (text encoder + DiT) on VAE latents",
                       description="Train the denoiser of a preset on latents of the toy world: "
                                   "rectified flow by default (--set train.objective=ddpm for "
                                   "DDPM), guidance dropout, EMA, checkpoints in OUT/denoiser and "
                                   "the loss per noise level in OUT/log.jsonl. Uses the VAE in "
                                   "OUT/vae (trained there first if missing). Run it again to "
                                   "resume where it stopped.")
    p.add_argument("--out", type=Path, default=None, help="run directory (default <runs>/<preset>)")
    _fresh_arg(p, "the denoiser (and the VAE)")
    _data_arg(p)
    _quiet_arg(p)
    _config_args(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("quickstart", help="train the VAE and the DiT, sample, score",
                       description="Train the VAE (or reuse OUT/vae) and the denoiser on the toy "
                                   "world, sample a grid of prompts to OUT/samples.gif, score "
                                   "fresh samples with the tracker into OUT/report.json "
                                   "(in-distribution and held-out prompts apart), and leave a "
                                   "directory that soralite.Pipeline.from_pretrained loads. "
                                   "Run it again to resume; finished stages are skipped.")
    p.add_argument("--out", type=Path, default=None, help="run directory (default <runs>/<preset>)")
    _fresh_arg(p, "a stage")
    _safety_args(p, policy=False)
    _quiet_arg(p)
    _config_args(p)
    p.set_defaults(func=_quickstart)

    p = sub.add_parser("sample", help="generate clips from a prompt with a trained pipeline",
                       description="Generate a clip for each --prompt with the pipeline in --ckpt "
                                   "and write it to --out (.npy, .gif or .mp4; several prompts "
                                   "make a captioned grid, or one .npy array (N, T, H, W, 3)). "
                                   "Without --out, writes OUT/samples/<prompt>-s<seed>.gif in "
                                   "the checkpoint and skips it when it is already there.")
    p.add_argument("--ckpt", type=Path, required=True, help="pipeline directory (from quickstart)")
    p.add_argument("--prompt", action="append", default=[],
                   help="e.g. 'a red circle moving left' (repeat for more); an empty prompt \"\" "
                        "asks for an unconditional sample and needs --allow-empty")
    p.add_argument("--allow-empty", action="store_true",
                   help="accept the empty prompt (an unconditional sample, no text)")
    p.add_argument("--prompt-set", metavar="NAME",
                   help="the prompts of data/prompts/NAME.txt (after any --prompt)")
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument("--steps", type=_int_at_least(1), default=None,
                   help="sampler steps, >= 1 (default: the config's)")
    p.add_argument("--guidance", type=float, default=None,
                   help="guidance scale, a finite number: 1 no guidance, 0 unconditional "
                        "(default: the config's)")
    p.add_argument("--frames", type=_int_at_least(1), default=None,
                   help="frames of each clip (default the training length); clips longer than "
                        "the longest it trained on are made by a sliding window; 1 makes an image "
                        "(write it as .png)")
    p.add_argument("--height", type=_int_at_least(1), default=None,
                   help="frame height in pixels (default the checkpoint's); any size the patch divides")
    p.add_argument("--width", type=_int_at_least(1), default=None,
                   help="frame width in pixels (default the checkpoint's); any size the patch divides")
    p.add_argument("--out", type=Path, default=None, help="FILE.npy, FILE.gif, FILE.mp4 or FILE.png")
    p.add_argument("--upsample", action="store_true",
                   help="turn each standard prompt into a descriptive one first (size, where each "
                        "object starts, how fast it goes; notebook 12); for a model trained with "
                        "dit.vocabulary=descriptive")
    _history_arg(p)
    _safety_args(p)
    _quiet_arg(p)
    p.set_defaults(func=_sample)

    for name, help_, description in VERB_HELP:
        p = sub.add_parser(name, help=help_, description=description)
        p.add_argument("--ckpt", type=Path, required=True, help="pipeline directory (from quickstart)")
        p.add_argument("--prompt", required=True, help="e.g. 'a red circle moving left'")
        if name == "animate":
            p.add_argument("--image", type=Path, required=True,
                           help="the first frame: .png, or the first frame of a .gif, .mp4 or .npy")
        elif name == "connect":
            p.add_argument("--clip-a", type=Path, required=True, help="the clip to start from")
            p.add_argument("--clip-b", type=Path, required=True, help="the clip to lead into")
        else:
            p.add_argument("--clip", type=Path, required=True, help="a clip: .gif, .mp4, .npy or .png")
        if name in ("extend", "connect"):
            p.add_argument("--frames", type=_int_at_least(1), required=True,
                           help="new frames to make, a multiple of the VAE's temporal compression")
        if name == "animate":
            p.add_argument("--frames", type=_int_at_least(1), default=None,
                           help="frames of the clip (default the training length)")
        if name == "extend":
            p.add_argument("--backward", action="store_true",
                           help="make the new frames before the clip, leading into it")
        if name == "edit":
            p.add_argument("--strength", type=float, default=None,
                           help="share of the schedule re-run, in [0, 1] (default the config's "
                                "train.edit_strength)")
        p.add_argument("--resize", action="store_true",
                       help="resize inputs of another size to the checkpoint's (cover, then crop)")
        _sampling_args(p)
        p.set_defaults(func=_verb)

    p = sub.add_parser("eval", help="text-to-video adherence of a pipeline on fresh prompts and seeds, as JSON",
                       description="Sample --n in-distribution and --held-out held-out prompts on fresh "
                                   "seeds with the pipeline in --ckpt and score them with the tracker: "
                                   "adherence with its 95%% interval, per attribute, and the tracker's "
                                   "floor. Another --seed gives other prompts and noise (the spread over "
                                   "seeds); the quickstart's report.json is --seed unset.")
    p.add_argument("--ckpt", type=Path, required=True, help="pipeline directory (from quickstart)")
    p.add_argument("--n", type=_int_at_least(0), default=None,
                   help="in-distribution prompts (default the config's train.eval_clips)")
    p.add_argument("--held-out", type=_int_at_least(0), default=None,
                   help="held-out prompts (default the config's train.eval_held_out_clips)")
    p.add_argument("--seed", type=_int_at_least(0), default=None,
                   help="the prompts' and noise's seed (default the run's evaluation stream)")
    p.add_argument("--steps", type=_int_at_least(1), default=None, help="sampling steps")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale")
    _quiet_arg(p)
    p.set_defaults(func=_eval)

    p = sub.add_parser("eval-tasks", help="measure every conditioning task with the tracker, as JSON",
                       description="Measure animate, extend (forward and backward), connect, edit "
                                   "(by strength), loop and long videos of the pipeline in --ckpt on "
                                   "fresh world clips, with the tracker; prints JSON (notebook 09).")
    p.add_argument("--ckpt", type=Path, required=True, help="pipeline directory (from quickstart)")
    p.add_argument("--n", type=_int_at_least(1), default=48, help="clips per measure (default 48)")
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument("--only", action="append", metavar="NAME",
                   help=f"only these measures: {', '.join(TASK_MEASURES)} (repeat for more)")
    p.add_argument("--guidance", type=float, default=None,
                   help="guidance scale of every task (default: the config's)")
    _history_arg(p)
    _quiet_arg(p)
    p.set_defaults(func=_eval_tasks)

    p = sub.add_parser("eval-sizes", help="adherence and framing at every size a pipeline makes, as JSON",
                       description="Sample fresh world prompts at every size the pipeline in --ckpt "
                                   "trained on (train.sizes, else its world's) and at sizes it never "
                                   "saw; print adherence (images: colour and shape), the share of "
                                   "first frames that cut their subject, and that share on the "
                                   "world's own clips, each with a 95%% interval (notebook 10).")
    p.add_argument("--ckpt", type=Path, required=True, help="pipeline directory (from quickstart)")
    p.add_argument("--n", type=_int_at_least(1), default=48, help="clips per size (default 48)")
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument("--size", action="append", metavar="FxHxW", type=_size_arg,
                   help="only these sizes, e.g. 16x32x48 or 1x32x32 (repeat for more), each "
                        "reported as trained or untrained; no other sizes are added")
    p.add_argument("--no-extrapolate", action="store_true",
                   help="without --size: leave out the sizes no preset trains on")
    p.set_defaults(func=_eval_sizes)

    p = sub.add_parser("caption", help="caption a folder of clips with the learned captioner",
                       description="Read every clip of DIR (.npy, .gif, .mp4, .png, recursively) "
                                   "with the video captioner and write DIR/captions.jsonl: per "
                                   "clip its file, the standard caption, the descriptive one and "
                                   "its objects (colour, shape, size, motion, start_x and start_y "
                                   "as shares of the frame, speed in units of min(H, W) per "
                                   "frame); `soralite train --data DIR` trains on it (notebook 12).")
    p.add_argument("dir", type=Path, help="folder of clips")
    p.add_argument("--ckpt", type=Path, default=None,
                   help="captioner checkpoint (default <runs>/<$SORALITE_PRESET or tiny>/captioner, "
                        "from soralite train-captioner)")
    p.add_argument("--out", type=Path, default=None, help="the file to write (default DIR/captions.jsonl)")
    p.add_argument("--force", action="store_true",
                   help="write over an existing captions file; the earlier one is moved to "
                        "replaced/ beside it, never deleted")
    _quiet_arg(p)
    p.set_defaults(func=_caption)

    p = sub.add_parser("train-captioner", help="train the video captioner on world clips and their truth",
                       description="Train the learned video captioner (notebook 12) on world clips "
                                   "rendered on the fly, with their scene truth as targets (the full "
                                   "world of docs/world.md unless --set captioner.world=preset), "
                                   "with checkpoints in OUT (resumed when OUT holds one); then "
                                   "report its accuracy per attribute on held-out clips beside the "
                                   "analytic tracker's, as JSON.")
    p.add_argument("--out", type=Path, default=None,
                   help="checkpoint directory (default <runs>/<preset>/captioner); resumed if it holds one")
    p.add_argument("--fresh", action="store_true",
                   help="start anew even if OUT holds a captioner; it is moved to replaced/, never deleted")
    p.add_argument("--eval", type=_int_at_least(0), default=None, metavar="N",
                   help="held-out clips to read at the end (default captioner.eval_clips); 0 skips")
    _quiet_arg(p)
    _config_args(p)
    p.set_defaults(func=_train_captioner)

    p = sub.add_parser("eval-captioner", help="measure a captioner on held-out clips, as JSON",
                       description="Read held-out world clips (a seed stream no training draws from) "
                                   "with the captioner of --ckpt and with the analytic tracker, "
                                   "and print each one's accuracy per attribute against the scene "
                                   "truth as JSON, with some clips the captioner got wrong. With "
                                   "--written FILE --truth DIR instead: what `soralite caption` "
                                   "wrote to FILE against the scene truth of the make-data folder "
                                   "DIR the clips came from.")
    p.add_argument("--ckpt", type=Path, default=None, help="captioner checkpoint directory")
    p.add_argument("--written", type=Path, default=None, metavar="FILE",
                   help="a captions.jsonl that `soralite caption` wrote (needs --truth)")
    p.add_argument("--truth", type=Path, default=None, metavar="DIR",
                   help="the `soralite make-data` folder of the same clips, with their scene truth")
    p.add_argument("--n", type=_int_at_least(1), default=500, help="clips (default 500)")
    p.add_argument("--seed", type=_int_at_least(0), default=None,
                   help="seed of the clips (default the captioner_eval stream of seed 0)")
    p.add_argument("--preset", default=None,
                   help="read clips of this preset's world (default: the world the captioner "
                        "trained on)")
    p.set_defaults(func=_eval_captioner)

    p = sub.add_parser("eval-captions", help="the recaptioning table: training captions x prompt style",
                       description="Sample the run trained on standard captions and the run trained "
                                   "on descriptive ones (the same world, both with "
                                   "dit.vocabulary=descriptive) with standard, descriptive and "
                                   "upsampled prompts of the same fresh scenes, and print JSON: per "
                                   "run and prompt style, adherence to the standard attributes and "
                                   "to the descriptive ones (start region, pace), the floors and "
                                   "chance (notebook 12).")
    p.add_argument("--standard", type=Path, required=True, help="run trained with train.captions=standard")
    p.add_argument("--descriptive", type=Path, required=True,
                   help="run trained with train.captions=descriptive (or truth_descriptive)")
    p.add_argument("--n", type=_int_at_least(1), default=200, help="scenes (default 200)")
    p.add_argument("--seed", type=_int_at_least(0), default=None,
                   help="seed of the scenes and noise (default the captions_eval stream)")
    p.add_argument("--steps", type=_int_at_least(1), default=None, help="sampler steps (default the config's)")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale (default the config's)")
    p.add_argument("--markdown", action="store_true", help="also print the table as Markdown (to stderr)")
    _quiet_arg(p)
    p.set_defaults(func=_eval_captions)

    p = sub.add_parser("probe", help="a world-simulation probe of a trained pipeline, as JSON",
                       description="Run a probe of soralite.studies.probes on the pipeline in --ckpt "
                                   "(notebook 11): permanence behind the wall, objects from nowhere "
                                   "by count, morphing, physics in and out of distribution, a minute "
                                   "of video. Each reads the model's clips and the world's own "
                                   "(the floor) with the tracker and prints JSON.")
    p.add_argument("name", choices=sorted(PROBES), help="the probe")
    p.add_argument("--ckpt", type=Path, required=True, help="pipeline directory (from quickstart)")
    p.add_argument("--n", type=_int_at_least(1), default=None, help="clips (default: the probe's)")
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    _history_arg(p)
    p.set_defaults(func=_probe)

    p = sub.add_parser("verify", help="check a file's C2PA Content Credentials, as JSON",
                       description="Read the C2PA manifest of FILE (embedded in .mp4 and .png, the "
                                   "sidecar FILE.c2pa beside .gif and .npy), check its signature "
                                   "and that the file is unchanged, and print JSON: the manifest, "
                                   "intact, the signer and whether its certificate is trusted "
                                   "(soralite's self-made one is not). Exit status 0 only for an "
                                   "intact file whose manifest could be read; 1 for a changed file "
                                   "or one with no manifest (notebook 13).")
    p.add_argument("file", type=Path, help="a .mp4, .png, .gif or .npy (or any file c2pa reads)")
    p.add_argument("--trust", type=Path, default=None, metavar="ROOT.pem",
                   help="trust certificates that chain to this root (PEM), e.g. the root.pem of "
                        "soralite's config folder")
    p.add_argument("--brief", action="store_true", help="leave out the full active manifest")
    p.set_defaults(func=_verify)

    p = sub.add_parser("detect", help="was a clip generated? the detector's probabilities, as JSON",
                       description="Run the detection classifier on FILE, or on every clip file "
                                   "under DIR, and print JSON: per file its generated_probability "
                                   "(the clip classifier), generated (at the detector's threshold) "
                                   "and frame_probabilities (the frame classifier; notebook 13).")
    p.add_argument("path", type=Path, help="a clip file (.npy, .gif, .mp4, .png) or a folder of them")
    p.add_argument("--ckpt", type=Path, default=None, metavar="DETECTOR_DIR",
                   help="the detector (default <runs>/<preset>/detector)")
    p.set_defaults(func=_detect)

    p = sub.add_parser("train-detector", help="train the detection classifier on a pipeline's samples",
                       description="Sample the pipeline in --ckpt on fresh captions of its world and "
                                   "train the detector to tell those samples from the world's own "
                                   "clips of the same captions (notebook 13). Writes the detector "
                                   "to --out (default CKPT/detector) and prints JSON. The detector "
                                   "settings are those of --preset (default the run's preset) and "
                                   "--set detector.KEY=VALUE.")
    p.add_argument("--ckpt", type=Path, required=True, help="pipeline directory (from quickstart)")
    p.add_argument("--out", type=Path, default=None, help="detector directory (default CKPT/detector)")
    _quiet_arg(p)
    _config_args(p)
    p.set_defaults(func=_train_detector)

    p = sub.add_parser("eval-detector", help="measure the detector on held-out clips, as JSON",
                       description="ROC AUC of the detector on held-out pairs of the pipeline in "
                                   "--ckpt (its samples against world clips of the same captions), "
                                   "clean and after mp4 re-encoding, resizing, cropping and noise, "
                                   "and on the samples of --other (a model it never saw). Prints "
                                   "JSON (notebook 13).")
    p.add_argument("--ckpt", type=Path, required=True, help="pipeline directory the detector was trained on")
    p.add_argument("--detector", type=Path, default=None, help="detector directory (default CKPT/detector)")
    p.add_argument("--other", type=Path, default=None, metavar="RUN",
                   help="another pipeline (another seed or preset) whose samples it never saw")
    p.add_argument("--n", type=_int_at_least(2), default=None,
                   help="held-out clips of each class (default the preset's detector.eval_clips)")
    p.add_argument("--seed", type=_int_at_least(0), default=None,
                   help="base seed of the held-out stream (default the run's seed)")
    p.add_argument("--only", action="append", choices=[k for k in PERTURBATIONS if k != "clean"],
                   help="only these perturbations (repeat for more; clean is always measured)")
    _quiet_arg(p)
    p.set_defaults(func=_eval_detector)

    p = sub.add_parser("scale", help="the scaling sweep: DiT sizes x training budgets, as JSON",
                       description="Train one denoiser per DiT size (DIT_PRESETS) and training "
                                   "budget on one shared VAE, and measure each: training FLOPs "
                                   "(counted), the held-out loss at fixed noise levels, tracker "
                                   "adherence; then the compute-optimal frontier, the power law "
                                   "loss = a C^-b + c fitted to it, and the base/4x/32x figure "
                                   "(notebook 14). Writes OUT/<size>-<steps>/ per run, the table "
                                   "(--table), OUT/scaling.png and OUT/figure.gif; prints JSON. "
                                   "Finished runs are kept and skipped: run it again to resume.")
    p.add_argument("--out", type=Path, default=None,
                   help="sweep folder (default <runs>/scale-<preset>)")
    p.add_argument("--sizes", nargs="+", choices=sorted(DIT_PRESETS), default=None, metavar="SIZE",
                   help=f"DiT sizes (default the preset's grid; allowed: {', '.join(DIT_PRESETS)})")
    p.add_argument("--steps", nargs="+", type=_int_at_least(1), default=None, metavar="N",
                   help="training steps, the same for every size (default the preset's grid)")
    p.add_argument("--vae", type=Path, default=None, metavar="DIR",
                   help="a trained VAE checkpoint of this preset to share (default OUT/vae, "
                        "trained there if missing)")
    p.add_argument("--table", type=Path, default=None, metavar="FILE.json",
                   help="where the table goes, with its .png and .gif beside it (default "
                        "data/scaling.json for the full tiny grid, else OUT/scaling.json)")
    _quiet_arg(p)
    _config_args(p)
    p.set_defaults(func=_scale)

    p = sub.add_parser("bench", help="speed benchmarks, as JSON",
                       description="Measure how fast the parts of the kit run on this machine "
                                   "(medians of several repeats) and print JSON. "
                                   f"Benchmarks: {', '.join(BENCHES)}.")
    p.add_argument("--only", action="append", choices=sorted({**BENCHES, **OPTIONAL_BENCHES}),
                   help="run only these")
    p.add_argument("--peer", action="store_true",
                   help="race soralite's DiT against diffusers' LatteTransformer3DModel at the same "
                        "width, depth, heads, patch, tokens and batch (needs the bench extra: "
                        "pip install -e \".[bench]\"); prints both step times and their ratio")
    p.add_argument("--repeats", type=_int_at_least(1), default=5,
                   help="repeats a figure (median is reported)")
    _config_args(p)
    p.set_defaults(func=_bench)
    return parser


# ----------------------------------------------------------------------------------------------
# Runners


def _make_data(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    for key, value in (("frames", args.frames), ("height", args.height), ("width", args.width),
                       ("max_objects", args.max_objects), ("wall_prob", args.wall_prob)):
        if value is not None:
            overrides.append(f"world.{key}={value}")
    if args.max_objects is not None and args.max_objects < 1:
        raise ValueError("--max-objects must be 1, 2 or 3")
    # without --preset, the full world of docs/world.md (every colour, shape, size and motion)
    cfg = get_config(args.preset, overrides) if args.preset else apply_overrides(Config(), overrides)
    info = export_clips(cfg.world, args.n, args.out, seed=args.seed, gif=args.gif,
                        progress=not args.quiet)
    print(json.dumps(info, indent=2))
    return 0


def _score(args: argparse.Namespace) -> int:
    report = score_folder(args.dir, progress=not args.quiet)
    if not args.per_clip:
        report.pop("per_clip", None)
    print(json.dumps(report, indent=2))
    return 0


def _check_tracker(args: argparse.Namespace) -> int:
    print(json.dumps(agreement(args.n, seed=args.seed, progress=not args.quiet), indent=2))
    return 0


def _train_vae(args: argparse.Namespace) -> int:
    cfg = get_config(args.preset, _with_data(args))
    out = args.out or Path(runs_dir()) / cfg.name / VAE_DIR
    t0 = time.perf_counter()
    vae = train_vae(cfg, out, resume=not args.fresh, progress=not args.quiet, log=_note)
    report = {"out": str(out), "preset": cfg.name, "seconds": round(time.perf_counter() - t0, 1),
              "scaling_factor": vae.config.scaling_factor,
              "parameters": sum(p.numel() for p in vae.parameters())}
    if args.eval and cfg.train.data:                 # a folder has no held-out world clips
        report["evaluation"] = "skipped: trained on --data; held-out PSNR is measured on world clips"
    elif args.eval:
        report.update(evaluate_vae(vae, cfg.world, n=args.eval, seed=stream_seed(cfg.seed, "vae_eval")))
    print(json.dumps(report, indent=2))
    return 0


def _train(args: argparse.Namespace) -> int:
    cfg = get_config(args.preset, _with_data(args))
    if cfg.train.data:
        read_folder(cfg)                             # every caption checked before any training
    out = args.out or Path(runs_dir()) / cfg.name
    result = train(cfg, out, progress=not args.quiet, fresh=args.fresh, log=_note)
    last = result.history[-1] if result.history else {}
    print(json.dumps({"out": str(out), "step": result.step, "resumed_from": result.resumed_from,
                      "seconds": round(result.seconds, 1), "loss": last.get("loss"),
                      "loss_by_t": last.get("loss_by_t")}, indent=2))
    return 0


def _quickstart(args: argparse.Namespace) -> int:
    cfg = get_config(args.preset, args.overrides)
    if cfg.train.data:
        read_folder(cfg)                             # --set train.data=DIR: captions checked first
    out = args.out or Path(runs_dir()) / cfg.name
    if args.no_provenance:
        _note(NO_PROVENANCE_NOTE)
    report = quickstart(cfg, out, progress=not args.quiet, fresh=args.fresh,
                        provenance=not args.no_provenance)
    print(json.dumps({"out": str(out),
                      "adherence_in_distribution": report.get("adherence_in_distribution"),
                      "adherence_held_out": report.get("adherence_held_out"),
                      "seconds": report.get("seconds")}, indent=2))
    return 0


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unconditional"


def _load_pipeline(args: argparse.Namespace) -> Pipeline:
    """The pipeline of --ckpt, with the usage policy off where --no-policy says so (noted), and
    history guidance on where --history-guidance or --history-scale asks for it."""
    pipe = Pipeline.from_pretrained(args.ckpt)
    if getattr(args, "history_guidance", False) or getattr(args, "history_scale", None) is not None:
        pipe.config.train.history_guidance = True
    if getattr(args, "history_scale", None) is not None:
        pipe.config.train.history_guidance_scale = args.history_scale
    if getattr(args, "no_policy", False):
        _note(NO_POLICY_NOTE)
        pipe.policy = None
    return pipe


def _provenance(args: argparse.Namespace, out: Path, generation: Generation) -> str | None:
    """Sign `out` (the C2PA manifest of soralite.safety.provenance) unless --no-provenance; then a
    sidecar left from an earlier file of that name is removed, so it cannot vouch for this one."""
    if args.no_provenance:
        stale = sidecar_path(out)
        if stale.exists():
            stale.unlink()
        return None
    return sign(out, generation)["manifest"]


def _sample(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_output_path(args.out)                  # before the work
        if args.out.suffix.lower() == ".png" and args.frames != 1:
            raise ValueError("a .png holds one frame: add --frames 1 for an image, or write .gif, "
                             ".mp4 or .npy")
    pipe = _load_pipeline(args)
    pipe.size(args.frames, args.height, args.width)  # a size the model cannot make: said now
    if args.no_provenance:
        _note(NO_PROVENANCE_NOTE)
    prompts = list(args.prompt) + (prompt_set(args.prompt_set) if args.prompt_set else [])
    if not prompts:
        raise ValueError("give at least one --prompt (or --prompt-set NAME)")
    with warnings.catch_warnings():                  # generate gives the held-out note, once
        warnings.simplefilter("ignore", HeldOutWarning)
        prompts = pipe.check_prompts(prompts, allow_empty=args.allow_empty)
    asked = prompts
    if args.upsample:                                # standard -> descriptive (notebook 12)
        prompts = pipe.upsample(prompts, seed=args.seed)
    out = args.out
    if out is None:                                  # named by what made it: remade when that changes
        tag = f"-n{args.steps}" if args.steps else ""
        tag += f"-g{args.guidance:g}" if args.guidance is not None else ""
        made = pipe.made_from
        tag += f"-f{args.frames}" if args.frames else ""
        tag += f"-{args.height or pipe.config.world.height}x{args.width or pipe.config.world.width}" \
            if args.height or args.width else ""
        tag += "-up" if args.upsample else ""
        name = (f"{_slug(' + '.join(asked))[:200]}-s{args.seed}{tag}-step{made['step']}-"
                f"{(made['denoiser_sha256'] or '')[:8]}.gif")
        out = check_output_path(args.ckpt / SAMPLES_DIR / name)
        if out.exists():
            signed = None
            if not args.no_provenance and not sidecar_path(out).exists():   # made before provenance
                signed = _provenance(args, out, Generation.of(
                    pipe, "text" if len(prompts) == 1 else "grid", prompts, args.seed, args.steps,
                    args.guidance, frames=args.frames))
            print(json.dumps({"out": str(out), "skipped": "already there, made by these weights",
                              **({"provenance": signed} if signed else {})}))
            return 0
    suffix = out.suffix.lower()
    clips = pipe.generate(prompts, seed=args.seed, steps=args.steps, guidance=args.guidance,
                          progress=not args.quiet, allow_empty=args.allow_empty, frames=args.frames,
                          height=args.height, width=args.width)
    if len(prompts) == 1:
        save_clip(out, clips[0], fps=pipe.config.world.fps)
    elif suffix == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, clips, allow_pickle=False)
    else:
        save_clip(out, captioned_grid(clips, prompts), fps=pipe.config.world.fps)
    task = "text" if len(prompts) == 1 or suffix == ".npy" else "grid"
    signed = _provenance(args, out, Generation.of(pipe, task, prompts, args.seed, args.steps,
                                                  args.guidance, frames=args.frames))
    print(json.dumps({"out": str(out), "prompts": prompts, "shape": list(clips.shape),
                      **({"asked": asked} if args.upsample else {}), "provenance": signed}))
    return 0


def _read_input(path: Path, what: str) -> np.ndarray:
    """A clip file given on the command line, as uint8 (T, H, W, 3), with a clear error."""
    clip = load_clip(path)                           # FileNotFoundError / ValueError name the file
    if len(clip) == 0:
        raise ValueError(f"{what} {path} holds no frames")
    return clip


def _verb(args: argparse.Namespace) -> int:
    """animate, extend, connect, edit: read the inputs, check the output, run, write."""
    if args.out is not None:
        check_output_path(args.out, (".gif", ".mp4", ".npy"))
    pipe = _load_pipeline(args)
    if args.no_provenance:
        _note(NO_PROVENANCE_NOTE)
    sampling = dict(seed=args.seed, steps=args.steps, guidance=args.guidance, resize=args.resize,
                    progress=not args.quiet)
    if args.command == "animate":
        clips = pipe.animate(_read_input(args.image, "--image")[0], args.prompt, frames=args.frames,
                             **sampling)
        source = args.image
    elif args.command == "extend":
        clips = pipe.extend(_read_input(args.clip, "--clip"), args.prompt, args.frames,
                            direction="backward" if args.backward else "forward", **sampling)
        source = args.clip
    elif args.command == "connect":
        a, b = _read_input(args.clip_a, "--clip-a"), _read_input(args.clip_b, "--clip-b")
        clips = pipe.connect(a, b, args.prompt, args.frames, **sampling)
        source = args.clip_a
    else:
        clips = pipe.edit(_read_input(args.clip, "--clip"), args.prompt, strength=args.strength,
                          **sampling)
        source = args.clip
    out = args.out
    if out is None:
        made = pipe.made_from
        out = check_output_path(args.ckpt / SAMPLES_DIR / (
            f"{args.command}-{_slug(source.stem)}-{_slug(args.prompt)}-s{args.seed}-"
            f"step{made['step']}-{(made['denoiser_sha256'] or '')[:8]}.gif"))
    save_clip(out, clips[0], fps=pipe.config.world.fps)
    inputs = [args.clip_a, args.clip_b] if args.command == "connect" else [source]
    extra = {"frames": getattr(args, "frames", None), "strength": getattr(args, "strength", None),
             "direction": ("backward" if args.backward else "forward") if args.command == "extend" else None,
             "inputs": [{"file": p.name, "sha256": file_sha256(p)} for p in inputs]}
    task = {"animate": "image"}.get(args.command, args.command)
    signed = _provenance(args, out, Generation.of(pipe, task, [args.prompt], args.seed, args.steps,
                                                  args.guidance, **extra))
    print(json.dumps({"out": str(out), "prompt": args.prompt, "shape": list(clips[0].shape),
                      "provenance": signed}))
    return 0


def _eval(args: argparse.Namespace) -> int:
    pipe = Pipeline.from_pretrained(args.ckpt)
    t0 = time.perf_counter()
    report = evaluate(pipe, n=args.n, n_held_out=args.held_out, seed=args.seed, steps=args.steps,
                      guidance=args.guidance, progress=not args.quiet)
    keys = ("adherence_in_distribution", "adherence_in_distribution_ci", "adherence_held_out",
            "adherence_held_out_ci", "tracker_floor", "seed", "steps", "guidance")
    out = {"ckpt": str(args.ckpt), **{k: report[k] for k in keys},
           "n": report["in_distribution"] and report["in_distribution"]["n"],
           "n_held_out": report["held_out"] and report["held_out"]["n"],
           "in_distribution": report["in_distribution"], "held_out": report["held_out"],
           "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(_finite(out), indent=2))
    return 0


def _eval_tasks(args: argparse.Namespace) -> int:
    pipe = _load_pipeline(args)
    if args.guidance is not None:
        check_sampling(0, None, args.guidance)
        pipe.config.train.guidance_scale = args.guidance
    log = (lambda *_: None) if args.quiet else _note
    report = evaluate_tasks(pipe, args.only, n=args.n, seed=args.seed, log=log)
    print(json.dumps(_finite(report), indent=2))
    return 0


def _size_arg(text: str) -> tuple[int, int, int]:
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(s.isdigit() and int(s) > 0 for s in parts):
        raise argparse.ArgumentTypeError(f"a size is FRAMESxHEIGHTxWIDTH, e.g. 16x32x48 (got {text!r})")
    return tuple(int(s) for s in parts)


def _eval_sizes(args: argparse.Namespace) -> int:
    pipe = Pipeline.from_pretrained(args.ckpt)
    if args.size:
        for size in args.size:
            pipe.size(*size)                                         # every size checked first
    extrapolate = () if args.no_extrapolate else SIZES_EXTRAPOLATE
    report = measure_sizes(pipe, args.size, n=args.n, seed=args.seed, extrapolate=extrapolate)
    report = {"ckpt": str(args.ckpt), "n": args.n, "seed": args.seed, **report}
    print(json.dumps(_finite(report), indent=2))
    return 0


def _captioner_dir(path: Path | None) -> Path:
    return path if path is not None else Path(runs_dir()) / default_preset() / CAPTIONER_DIR


def _caption(args: argparse.Namespace) -> int:
    ckpt = _captioner_dir(args.ckpt)
    if not ckpt.exists():
        raise FileNotFoundError(f"no captioner at {ckpt}: train one with `soralite train-captioner "
                                f"--out {ckpt}` or give --ckpt")
    captioner = Captioner.from_pretrained(ckpt)
    report = caption_folder(args.dir, captioner, out=args.out, force=args.force,
                            progress=not args.quiet, log=_note)
    print(json.dumps({**report, "captioner": str(ckpt)}, indent=2))
    return 0


def _train_captioner(args: argparse.Namespace) -> int:
    cfg = get_config(args.preset, args.overrides)
    out = args.out or Path(runs_dir()) / cfg.name / CAPTIONER_DIR
    t0 = time.perf_counter()
    captioner = train_captioner(cfg, out, resume=not args.fresh, progress=not args.quiet, log=_note)
    report = {"out": str(out), "preset": cfg.name, "world": cfg.captioner.world,
              "seconds": round(time.perf_counter() - t0, 1),
              "parameters": sum(p.numel() for p in captioner.parameters())}
    n = cfg.captioner.eval_clips if args.eval is None else args.eval
    if n:
        report["evaluation"] = evaluate_captioner(captioner, captioner_world(cfg), n=n,
                                                  seed=stream_seed(cfg.seed, "captioner_eval"))
    print(json.dumps(_finite(report), indent=2))
    return 0


def _eval_captioner(args: argparse.Namespace) -> int:
    if args.written is not None or args.truth is not None:
        if args.written is None or args.truth is None:
            raise ValueError("--written FILE and --truth DIR go together")
        print(json.dumps(_finite(evaluate_written(args.written, args.truth)), indent=2))
        return 0
    if args.ckpt is None:
        raise ValueError("give --ckpt CAPTIONER (or --written FILE --truth DIR)")
    captioner = Captioner.from_pretrained(args.ckpt)
    if args.preset:
        world = get_config(args.preset).world
    else:
        meta = load_pretrained(args.ckpt, load_extra=False).meta
        world = Config.from_dict({"world": meta.get("world", {})}).world
    report = evaluate_captioner(captioner, world, n=args.n, seed=args.seed)
    print(json.dumps(_finite(report), indent=2))
    return 0


def _eval_captions(args: argparse.Namespace) -> int:
    pipes = {"standard": Pipeline.from_pretrained(args.standard),
             "descriptive": Pipeline.from_pretrained(args.descriptive)}
    table = caption_table(pipes, n=args.n, seed=args.seed, steps=args.steps, guidance=args.guidance,
                          progress=not args.quiet)
    table["runs"] = {"standard": str(args.standard), "descriptive": str(args.descriptive)}
    print(json.dumps(_finite(table), indent=2))
    if args.markdown:
        print(table_markdown(table), file=sys.stderr)
    return 0


def _finite(obj):
    """A report with nan and inf (which JSON cannot hold) as null."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _probe(args: argparse.Namespace) -> int:
    pipe = _load_pipeline(args)
    print(json.dumps(_finite(run_probe(pipe, args.name, n=args.n, seed=args.seed)), indent=2))
    return 0


def _verify(args: argparse.Namespace) -> int:
    """Exit 0 only for an intact file whose manifest was read; 1 otherwise (said on stderr)."""
    report = verify(args.file, trust=args.trust)
    if args.brief:
        report.pop("active_manifest", None)
    print(json.dumps(report, indent=2))
    if not report["intact"]:
        print(f"soralite verify: {args.file} FAILED: {'; '.join(report['problems'])}", file=sys.stderr)
        return 1
    what = "generated by a model" if report["generated"] else "not marked as generated"
    _note(f"{args.file} is intact ({what}); {report['trust_note']}")
    return 0


def _detector_dir(path: Path | None) -> Path:
    return path if path is not None else Path(runs_dir()) / default_preset() / DETECTOR_DIR


def _load_detector(path: Path) -> Detector:
    if not (path / "manifest.json").exists() and not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"no detector at {path}: train one with `soralite train-detector "
                                f"--ckpt RUN --out {path}` (or give --ckpt DETECTOR_DIR)")
    return Detector.from_pretrained(path)


def _detect(args: argparse.Namespace) -> int:
    detector = _load_detector(_detector_dir(args.ckpt))
    print(json.dumps(detect_files(args.path, detector), indent=2))
    return 0


def _train_detector(args: argparse.Namespace) -> int:
    pipe = Pipeline.from_pretrained(args.ckpt)
    preset = args.preset or (pipe.config.name if pipe.config.name in PRESETS else None)
    cfg = get_config(preset, args.overrides).detector
    out = args.out or args.ckpt / DETECTOR_DIR
    _, report = train_detector(pipe, cfg, out, progress=not args.quiet, log=_note)
    print(json.dumps({"preset": preset or default_preset(), **report}, indent=2))
    return 0


def _eval_detector(args: argparse.Namespace) -> int:
    pipe = Pipeline.from_pretrained(args.ckpt)
    detector = _load_detector(args.detector or args.ckpt / DETECTOR_DIR)
    other = Pipeline.from_pretrained(args.other) if args.other else None
    preset = pipe.config.name if pipe.config.name in PRESETS else None
    n = args.n or get_config(preset).detector.eval_clips
    report = evaluate_detector(detector, pipe, n=n, seed=args.seed, other=other,
                               only=args.only, progress=not args.quiet,
                               log=None if args.quiet else _note)
    print(json.dumps(report, indent=2))
    return 0


def _scale(args: argparse.Namespace) -> int:
    cfg = get_config(args.preset, args.overrides)
    out = args.out or Path(runs_dir()) / f"scale-{cfg.name}"
    full = cfg.name == "tiny" and not (args.overrides or args.sizes or args.steps)
    table_path = args.table or (DATA_DIR / SCALE_TABLE if full else out / SCALE_TABLE)
    if cfg.name != "tiny" and table_path.resolve() == (DATA_DIR / SCALE_TABLE).resolve():
        raise ValueError(f"{table_path} holds the tiny sweep that the README reports; write the "
                         f"{cfg.name} table elsewhere (--table FILE.json, default inside --out)")
    command = " ".join(["soralite scale", f"--preset {cfg.name}",
                        *(f"--set {shlex.quote(o)}" for o in args.overrides),
                        *([f"--sizes {' '.join(args.sizes)}"] if args.sizes else []),
                        *([f"--steps {' '.join(map(str, args.steps))}"] if args.steps else []),
                        *([f"--vae {args.vae}"] if args.vae else []),
                        *([f"--out {args.out}"] if args.out else [])])
    machine_at_start = machine()
    table = run_sweep(cfg, out, grid_for(cfg.name, args.sizes, args.steps), vae_dir=args.vae,
                      progress=not args.quiet, log=_note)
    table = {"command": command, "machine": machine_at_start,
             "load_average_at_end": machine()["load_average"], **table}
    write_table(table_path, table)
    pictures = [out / "scaling.png", out / "figure.gif"]
    if table_path.parent.resolve() != out.resolve():
        pictures += [table_path.with_suffix(".png"), table_path.with_suffix(".gif")]
    fig = plot_scaling(table, f"{cfg.name}: held-out loss against training compute")
    clips = compute_figure(*figure_clips(out, table)) if table["figure"] else None
    for path in pictures:
        if path.suffix == ".png":
            fig.savefig(path)
        elif clips is not None:
            save_clip(path, clips, fps=cfg.world.fps)
    fit = table["fit"]
    print(json.dumps({"out": str(out), "table": str(table_path), "runs": len(table["runs"]),
                      "runs_measured_now": table["runs_measured_now"], "seconds": table["seconds"],
                      "fit": fit and {k: fit[k] for k in ("a", "b", "b_se", "b_ci95", "c", "points")},
                      "figure": table["figure"],
                      "pictures": [str(p) for p in pictures if p.exists()]}, indent=2))
    return 0


def _bench(args: argparse.Namespace) -> int:
    names = list(args.only or []) + (["peer"] if args.peer else [])
    report = run_benches(names or None, args.repeats, get_config(args.preset, args.overrides))
    if args.peer:                                     # the ratio on top, where the peer ran
        report["ratio"] = report["peer"]["ratio"]
    print(json.dumps(report, indent=2))
    return 0


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, HeldOutWarning):
        _note(str(message))
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


# Expected failures: a bad value or prompt (ValueError, with PromptError and the checkpoint
# errors), a file that is missing, unreadable or unwritable (OSError), an optional package that
# is not installed (ImportError). Each is one line and exit status 2; --debug shows the traceback.
EXPECTED_ERRORS = (ValueError, OSError, ImportError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:                           # argparse has printed usage and the error
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    warnings.showwarning = _show_warning
    if not is_main_process():                         # under torchrun, rank 0 alone prints results
        sys.stdout = open(os.devnull, "w")
    try:
        return int(args.func(args) or 0)
    except EXPECTED_ERRORS as e:
        if args.debug:
            traceback.print_exc()
        message = str(e) or type(e).__name__
        if isinstance(e, OSError) and e.filename and str(e.filename) not in message:
            message = f"{message}: {e.filename}"
        print(f"soralite {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"soralite {args.command}: stopped; what was saved is kept "
              f"(run the same command again to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
