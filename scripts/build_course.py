"""The course as a site: every chapter (and its solutions) executed at a preset into an HTML page
with its pictures, and one index page linking them, with how long each took (`make course`).

    python scripts/build_course.py [--preset tiny] [--out DIR] [--only 03 --only 07] [--no-solutions]

The pages go to `DIR` (default `<runs dir>/course`, never into the repository). The notebooks load
the trained runs they need from the runs folder (`soralite quickstart --preset tiny` first: each
chapter that finds no run trains one, which the index notes). A chapter that fails still gets a
page, with the error, and the index marks it; the exit status is 1 if any failed.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def chapters(only: list[str] | None, solutions: bool = True) -> list[Path]:
    books = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if only:
        unknown = sorted(set(only) - {b.name[:2] for b in books})
        if unknown:
            raise SystemExit(f"build_course: no chapter {', '.join(unknown)} (chapters: "
                             f"{', '.join(b.name[:2] for b in books)})")
        books = [b for b in books if b.name[:2] in only]
    pages = []
    for book in books:
        pages.append(book)
        answers = NOTEBOOKS / "solutions" / f"{book.stem}_solutions.ipynb"
        if solutions and answers.exists():
            pages.append(answers)
    return pages


def title_of(notebook: Path) -> str:
    """The first markdown heading of a notebook, else its file name."""
    cells = json.loads(notebook.read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return notebook.stem


def build(notebook: Path, out: Path, preset: str, timeout: int) -> dict:
    """Execute `notebook` at `preset` (errors kept in the page) into `out/<stem>.ipynb`, convert
    that to `out/<stem>.html`, and return what happened and how long it took."""
    env = {**os.environ, "SORALITE_PRESET": preset}
    executed = out / f"{notebook.stem}.ipynb"
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                          f"--ExecutePreprocessor.timeout={timeout}", "--allow-errors",
                          "--output-dir", str(out), "--output", notebook.stem, str(notebook)],
                         cwd=notebook.parent, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    errors = []
    if executed.exists():
        for cell in json.loads(executed.read_text())["cells"]:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    errors.append(f"{output.get('ename')}: {output.get('evalue')}")
        subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html",
                        "--output-dir", str(out), "--output", notebook.stem, str(executed)],
                       capture_output=True, text=True)
    ok = run.returncode == 0 and executed.exists() and not errors
    return {"notebook": str(notebook.relative_to(ROOT)), "page": f"{notebook.stem}.html",
            "title": title_of(notebook), "seconds": round(seconds, 1), "ok": ok,
            "errors": errors[:5], "log": "" if ok else run.stderr[-2000:]}


def index(rows: list[dict], preset: str, out: Path) -> Path:
    total = sum(r["seconds"] for r in rows)
    items = []
    for r in rows:
        mark = "" if r["ok"] else " <b>(failed: see the page)</b>"
        indent = "&nbsp;&nbsp;&nbsp;&nbsp;" if "solutions" in r["notebook"] else ""
        items.append(f"<li>{indent}<a href=\"{html.escape(r['page'])}\">{html.escape(r['title'])}</a> "
                     f"<small>({r['seconds']:.0f} s){mark}</small></li>")
    body = (f"<h1>soralite: the course</h1><p>Every chapter executed at the <code>{preset}</code> preset "
            f"by <code>make course</code> in {total / 60:.1f} min; the solutions follow their chapter.</p>"
            f"<ol style=\"list-style:none\">{''.join(items)}</ol>")
    page = out / "index.html"
    page.write_text(f"<!doctype html><meta charset=\"utf-8\"><title>soralite course</title>"
                    f"<body style=\"font-family:sans-serif;max-width:50em;margin:2em auto\">{body}</body>")
    (out / "course.json").write_text(json.dumps({"preset": preset, "seconds": round(total, 1),
                                                 "pages": rows}, indent=2))
    return page


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    from soralite.config import runs_dir
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--out", type=Path, default=None, help="default <runs dir>/course")
    parser.add_argument("--only", action="append", metavar="NN", help="only chapter NN (repeat)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds a cell may take")
    parser.add_argument("--no-solutions", action="store_true",
                        help="the chapters alone (the solutions of exercises that retrain take long)")
    args = parser.parse_args(argv)
    out = args.out or Path(runs_dir()) / "course"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for notebook in chapters(args.only, solutions=not args.no_solutions):
        print(f"executing {notebook.relative_to(ROOT)} at {args.preset} ...", flush=True)
        row = build(notebook, out, args.preset, args.timeout)
        print(f"  {'ok' if row['ok'] else 'FAILED'} in {row['seconds']:.0f} s -> {out / row['page']}", flush=True)
        rows.append(row)
    page = index(rows, args.preset, out)
    print(f"the course: {page}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
