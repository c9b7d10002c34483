"""The `soralite` command line (DESIGN.md, "Contracts"). Each subcommand is a thin layer over the
package: what it does, a notebook can do with the same functions."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DESCRIPTION = """\
soralite: a Sora-style video generator, rebuilt small enough to train in minutes.

It learns a toy world of coloured shapes (red circles moving left, blue squares falling, ...),
so that every clip it makes can be checked by an exact tracker. Start with
  soralite make-data --n 300 --seed 11 --out runs/data    # clips of the world, with captions
  soralite score runs/data                                # how well clips follow their captions
"""


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=None,
                   help="named settings: smoke (seconds, for tests), tiny (a laptop CPU), "
                        "workshop (one GPU); default: $SORALITE_PRESET, else tiny on a CPU and "
                        "workshop on a GPU")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change one setting of the preset, e.g. --set world.height=64 "
                        "(repeat for more)")


def _make_data(args: argparse.Namespace) -> int:
    from soralite.config import Config, apply_overrides, get_config
    from soralite.world import export_clips

    overrides = list(args.overrides)
    for key, value in (("frames", args.frames), ("height", args.height), ("width", args.width),
                       ("max_objects", args.max_objects), ("wall_prob", args.wall_prob)):
        if value is not None:
            overrides.append(f"world.{key}={value}")
    if args.max_objects is not None and args.max_objects < 1:
        raise ValueError("--max-objects must be 1, 2 or 3")
    # without --preset, the full world of WORLD.md (every colour, shape, size and motion)
    cfg = get_config(args.preset, overrides) if args.preset else apply_overrides(Config(), overrides)
    info = export_clips(cfg.world, args.n, args.out, seed=args.seed, gif=args.gif,
                        progress=not args.quiet)
    print(json.dumps(info, indent=2))
    return 0


def _score(args: argparse.Namespace) -> int:
    from soralite.tracker import score_folder

    report = score_folder(args.dir, progress=not args.quiet)
    if not args.per_clip:
        report.pop("per_clip", None)
    print(json.dumps(report, indent=2))
    return 0


def _check_tracker(args: argparse.Namespace) -> int:
    from soralite.tracker import agreement

    print(json.dumps(agreement(args.n, seed=args.seed, progress=not args.quiet), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="soralite", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("make-data", help="export clips of the toy world with their captions",
                       description="Render N clips of the toy world and write one .npy per clip "
                                   "(uint8, T x H x W x 3), a .gif beside it to look at, and "
                                   "captions.jsonl: one line per clip with its file, caption, "
                                   "descriptive caption and scene truth (every object's position "
                                   "in every frame). The same --seed gives the same clips.")
    p.add_argument("--n", type=int, required=True, help="how many clips")
    p.add_argument("--out", type=Path, required=True, help="folder to write (created if missing)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--frames", type=int, help="frames per clip, T >= 1 (default: the preset's)")
    p.add_argument("--height", type=int, help="frame height in pixels, >= 16")
    p.add_argument("--width", type=int, help="frame width in pixels, >= 16 (need not equal height)")
    p.add_argument("--max-objects", type=int, help="at most this many objects a clip (1 to 3)")
    p.add_argument("--wall-prob", type=float, help="chance that a clip has the gray wall (0 to 1)")
    p.add_argument("--no-gif", dest="gif", action="store_false", help="write only the .npy files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_args(p)
    p.set_defaults(func=_make_data)
    p.set_defaults(preset=None)

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
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_score)

    p = sub.add_parser("check-tracker", help="measure the tracker against the world's own captions",
                       description="Render N world clips across settings (1-3 objects, walls, "
                                   "32 and 64 px, non-square), score each against its own caption "
                                   "(the tracker's agreement: the floor every generated-video score "
                                   "is read against) and against a shuffled caption (chance).")
    p.add_argument("--n", type=int, default=1000, help="clips in all (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_check_tracker)

    for register in _extra_commands():
        register(sub, _add_config_args)
    return parser


def _extra_commands():
    """Subcommands that live beside their stage (train-vae, train, sample, quickstart, bench)."""
    found = []
    for module, name in (("soralite.train_vae", "register_cli"), ("soralite.train", "register_cli"),
                         ("soralite.pipeline", "register_cli"), ("soralite.bench", "register_cli")):
        try:
            mod = __import__(module, fromlist=[name])
        except ModuleNotFoundError as e:
            if e.name == module:
                continue
            raise
        if hasattr(mod, name):
            found.append(getattr(mod, name))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as e:
        print(f"soralite {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"soralite {args.command}: stopped; what was saved is kept "
              f"(run the same command again to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
