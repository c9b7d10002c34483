"""Print the README's scaling results (markdown) from the table `soralite scale` wrote.

    python scripts/scaling_readme.py [data/scaling.json]

Every number comes from the table: the command and the machine, each run's FLOPs, loss and
adherence, the frontier, the fit with its bootstrap interval, and the base / 4x / 32x figure.
"""
from __future__ import annotations

import sys
from pathlib import Path

from soralite.config import DATA_DIR
from soralite.models.dit import DIT_PRESETS
from soralite.studies.scaling import TABLE_FILE, read_table


def markdown(table: dict, path: Path) -> str:
    m, fit, fig = table["machine"], table["fit"], table["figure"]
    rel = lambda p: p.resolve().relative_to(Path.cwd()) if Path.cwd() in p.resolve().parents else p
    lines = [f"`{table['command']}` on {m['cpu_count']} CPU cores (torch {m['torch']}, {m['threads']} "
             f"threads, load average {m['load_average'][0]} at the start, "
             f"{table['load_average_at_end'][0]} at the end): {len(table['runs'])} runs in "
             f"{table['seconds'] / 60:.1f} min (setup: VAE and latent pool {table['setup_seconds']:.0f} s).", ""]
    if fig:
        ratios = "; ".join(f"{r['compute_ratio']:g}x: {r['steps']} steps, "
                           f"{'adheres' if r['adheres'] else 'fails'}" for r in fig["runs"])
        gif = path.with_suffix(".gif") if path.with_suffix(".gif").exists() else path.parent / "figure.gif"
        lines += [f"![base, 4x and 32x compute]({rel(gif)})", "",
                  f"`{fig['prompt']}`, seed {fig['seed']}, {fig['size']} ({ratios}; the tracker's "
                  f"verdict on each sample).", ""]
    png = path.with_suffix(".png") if path.with_suffix(".png").exists() else path.parent / "scaling.png"
    lines += [f"![loss against compute]({rel(png)})", "",
              "| size | steps | training FLOPs | held-out loss | adherence (95% interval) | seconds |",
              "| --- | --- | --- | --- | --- | --- |"]
    front = {(f["size"], f["steps"]) for f in table["frontier"]}
    for r in sorted(table["runs"], key=lambda r: (list(DIT_PRESETS).index(r["size"]), r["steps"])):
        lo, hi = r["adherence_ci"] or (None, None)
        star = " (frontier)" if (r["size"], r["steps"]) in front else ""
        lines.append(f"| {r['size']} | {r['steps']} | {r['flops']:.3g}{star} | {r['loss']:.4f} | "
                     f"{r['adherence']:.1%} [{lo:.0%}, {hi:.0%}] | "
                     f"{r['train_seconds'] + r['eval_seconds']:.0f} |")
    if fit:
        ci = fit["b_ci95"]
        lines += ["", f"Fit on the {fit['points']} frontier runs: loss = {fit['a']:.4g} C^-{fit['b']:.4f} + "
                      f"{fit['c']:.4f} (residual RMS {fit['rms']:.4f}); exponent b = {fit['b']:.4f} "
                      f"+- {fit['b_se']:.4f} (bootstrap standard error, {fit['bootstrap']} resamples of "
                      f"the runs), 95% interval [{ci[0]:.4f}, {ci[1]:.4f}]."]
    return "\n".join(lines)


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA_DIR / TABLE_FILE
    table = read_table(path)
    if table is None:
        sys.exit(f"no table at {path}: run `soralite scale --preset tiny` first")
    print(markdown(table, path))
