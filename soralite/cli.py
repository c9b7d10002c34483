"""The `soralite` command line (docs/design.md, "Contracts"): every subcommand's arguments here, in
one place, and a thin runner for each over the package, so that what a command does, a notebook
can do with the same functions.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

from soralite.bench import BENCHES, run_benches
from soralite.config import Config, apply_overrides, get_config, runs_dir
from soralite.eval import evaluate_vae
from soralite.eval.tasks import MEASURES as TASK_MEASURES
from soralite.eval.tasks import evaluate_tasks
from soralite.pipeline import Pipeline
from soralite.quickstart import quickstart
from soralite.language import HeldOutWarning
from soralite.runs import SAMPLES_DIR, VAE_DIR
from soralite.seeds import stream_seed
from soralite.studies.probes import PROBES, run_probe
from soralite.train import train, train_vae
from soralite.video import check_output_path, load_clip, save_clip
from soralite.viz import captioned_grid
from soralite.world import agreement, export_clips, prompt_set, score_folder

DESCRIPTION = """\
soralite: a Sora-style video generator, rebuilt small enough to train in minutes.

It learns a toy world of coloured shapes (red circles moving left, blue squares falling, ...),
so that every clip it makes can be checked by an exact tracker. Start with
  soralite make-data --n 300 --seed 11 --out runs/data    # clips of the world, with captions
  soralite score runs/data                                # how well clips follow their captions
  soralite quickstart --preset tiny                       # train a VAE and a DiT, sample, score
"""
PRESET_HELP = ("named settings: smoke (seconds, for tests), tiny (a laptop CPU), workshop (one "
               "GPU); default: $SORALITE_PRESET, else tiny on a CPU and workshop on a GPU")


# ----------------------------------------------------------------------------------------------
# Arguments


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=None, help=PRESET_HELP)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change one setting of the preset, e.g. --set world.height=64 "
                        "(repeat for more)")


def _quiet_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bar")


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


def _sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument("--steps", type=_int_at_least(1), default=None,
                   help="sampler steps, >= 1 (default: the config's)")
    p.add_argument("--guidance", type=float, default=None,
                   help="guidance scale, a finite number: 1 no guidance, 0 unconditional "
                        "(default: the config's)")
    p.add_argument("--out", type=Path, default=None, help="FILE.gif, FILE.mp4 or FILE.npy")
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
                   help="checkpoint directory (default runs/<preset>/vae); resumed if it holds one")
    p.add_argument("--fresh", action="store_true",
                   help="start a new run even if OUT holds one; the earlier checkpoint is moved "
                        "to replaced/ beside OUT, never deleted")
    p.add_argument("--eval", type=_int_at_least(0), default=256, metavar="N",
                   help="held-out clips to score at the end (PSNR, tracker adherence); 0 skips")
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
    p.add_argument("--out", type=Path, default=None, help="run directory (default runs/<preset>)")
    _fresh_arg(p, "the denoiser (and the VAE)")
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
    p.add_argument("--out", type=Path, default=None, help="run directory (default runs/<preset>)")
    _fresh_arg(p, "a stage")
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
                   help="frames of each clip (default the training length); longer clips are made "
                        "by a sliding window")
    p.add_argument("--out", type=Path, default=None, help="FILE.npy, FILE.gif, FILE.mp4 or FILE.png")
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

    p = sub.add_parser("eval-tasks", help="measure every conditioning task with the tracker, as JSON",
                       description="Measure animate, extend (forward and backward), connect, edit "
                                   "(by strength), loop and long videos of the pipeline in --ckpt on "
                                   "fresh world clips, with the tracker; prints JSON (notebook 09).")
    p.add_argument("--ckpt", type=Path, required=True, help="pipeline directory (from quickstart)")
    p.add_argument("--n", type=_int_at_least(1), default=48, help="clips per measure (default 48)")
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument("--only", action="append", metavar="NAME",
                   help=f"only these measures: {', '.join(TASK_MEASURES)} (repeat for more)")
    _quiet_arg(p)
    p.set_defaults(func=_eval_tasks)

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
    p.set_defaults(func=_probe)

    p = sub.add_parser("bench", help="speed benchmarks, as JSON",
                       description="Measure how fast the parts of the kit run on this machine "
                                   "(medians of several repeats) and print JSON. "
                                   f"Benchmarks: {', '.join(BENCHES)}.")
    p.add_argument("--only", action="append", choices=sorted(BENCHES), help="run only these")
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
    cfg = get_config(args.preset, args.overrides)
    out = args.out or Path(runs_dir()) / cfg.name / VAE_DIR
    t0 = time.perf_counter()
    vae = train_vae(cfg, out, resume=not args.fresh, progress=not args.quiet, log=_note)
    report = {"out": str(out), "preset": cfg.name, "seconds": round(time.perf_counter() - t0, 1),
              "scaling_factor": vae.config.scaling_factor,
              "parameters": sum(p.numel() for p in vae.parameters())}
    if args.eval:
        report.update(evaluate_vae(vae, cfg.world, n=args.eval, seed=stream_seed(cfg.seed, "vae_eval")))
    print(json.dumps(report, indent=2))
    return 0


def _train(args: argparse.Namespace) -> int:
    cfg = get_config(args.preset, args.overrides)
    out = args.out or Path(runs_dir()) / cfg.name
    result = train(cfg, out, progress=not args.quiet, fresh=args.fresh, log=_note)
    last = result.history[-1] if result.history else {}
    print(json.dumps({"out": str(out), "step": result.step, "resumed_from": result.resumed_from,
                      "seconds": round(result.seconds, 1), "loss": last.get("loss"),
                      "loss_by_t": last.get("loss_by_t")}, indent=2))
    return 0


def _quickstart(args: argparse.Namespace) -> int:
    cfg = get_config(args.preset, args.overrides)
    out = args.out or Path(runs_dir()) / cfg.name
    report = quickstart(cfg, out, progress=not args.quiet, fresh=args.fresh)
    print(json.dumps({"out": str(out),
                      "adherence_in_distribution": report.get("adherence_in_distribution"),
                      "adherence_held_out": report.get("adherence_held_out"),
                      "seconds": report.get("seconds")}, indent=2))
    return 0


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unconditional"


def _sample(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_output_path(args.out)                  # before the work
    pipe = Pipeline.from_pretrained(args.ckpt)
    prompts = list(args.prompt) + (prompt_set(args.prompt_set) if args.prompt_set else [])
    if not prompts:
        raise ValueError("give at least one --prompt (or --prompt-set NAME)")
    with warnings.catch_warnings():                  # generate gives the held-out note, once
        warnings.simplefilter("ignore", HeldOutWarning)
        prompts = pipe.check_prompts(prompts, allow_empty=args.allow_empty)
    out = args.out
    if out is None:                                  # named by what made it: remade when that changes
        tag = f"-n{args.steps}" if args.steps else ""
        tag += f"-g{args.guidance:g}" if args.guidance is not None else ""
        made = pipe.made_from
        tag += f"-f{args.frames}" if args.frames else ""
        name = (f"{_slug(' + '.join(prompts))}-s{args.seed}{tag}-step{made['step']}-"
                f"{(made['denoiser_sha256'] or '')[:8]}.gif")
        out = check_output_path(args.ckpt / SAMPLES_DIR / name)
        if out.exists():
            print(json.dumps({"out": str(out), "skipped": "already there, made by these weights"}))
            return 0
    suffix = out.suffix.lower()
    clips = pipe.generate(prompts, seed=args.seed, steps=args.steps, guidance=args.guidance,
                          progress=not args.quiet, allow_empty=args.allow_empty, frames=args.frames)
    if len(prompts) == 1:
        save_clip(out, clips[0], fps=pipe.config.world.fps)
    elif suffix == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, clips, allow_pickle=False)
    else:
        save_clip(out, captioned_grid(clips, prompts), fps=pipe.config.world.fps)
    print(json.dumps({"out": str(out), "prompts": prompts, "shape": list(clips.shape)}))
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
    pipe = Pipeline.from_pretrained(args.ckpt)
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
    print(json.dumps({"out": str(out), "prompt": args.prompt, "shape": list(clips[0].shape)}))
    return 0


def _eval_tasks(args: argparse.Namespace) -> int:
    pipe = Pipeline.from_pretrained(args.ckpt)
    log = (lambda *_: None) if args.quiet else _note
    report = evaluate_tasks(pipe, args.only, n=args.n, seed=args.seed, log=log)
    print(json.dumps(_finite(report), indent=2))
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
    pipe = Pipeline.from_pretrained(args.ckpt)
    print(json.dumps(_finite(run_probe(pipe, args.name, n=args.n, seed=args.seed)), indent=2))
    return 0


def _bench(args: argparse.Namespace) -> int:
    print(json.dumps(run_benches(args.only, args.repeats, get_config(args.preset, args.overrides)),
                     indent=2))
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
