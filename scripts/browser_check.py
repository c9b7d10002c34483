"""Check an explorer in a real browser: JupyterLab on localhost, headless Chromium.

    python scripts/browser_check.py --out DIR [--explorer attention|noise|clips] [--checkpoint DIR] [--timeout 240]

What it does: writes a small notebook into a temporary folder with one explorer: `attention`
(notebook 08: a denoiser and VAE, fresh and moved off their zero init, or a trained pipeline with
--checkpoint; then `attention_explorer` on a prompt; its "query x" slider is moved), `noise`
(notebook 04: `noise_explorer` over a rendered clip; "noise level u"), or `clips` (the slider over
clips made beforehand of notebooks 09, 10 and 14: `clips_explorer` over three rendered clips;
"strength"). It serves that folder with JupyterLab (token-less, localhost only, a free port, no
browser), opens the notebook in headless Chromium driven by Playwright, runs all cells, waits
for the explorer's picture, screenshots it, moves the explorer's slider with the keyboard,
waits for the picture to be redrawn and screenshots it again. It passes when the picture
changed (image bytes and pixels of the output area). The server is stopped at the end.

Writes to --out: `before.png`, `after.png` (the output area), `explorer_before.png`,
`explorer_after.png` (the controls and the picture), `page.png` (the whole page at the end or
at the failure) and `result.json` (timings and what changed). Exits 0 on success, 1 on a failed
check, 2 when Chromium or Playwright is missing.

Needs: Chromium at /usr/bin/chromium (Debian: `apt-get install -y chromium`) and the Python
package `playwright` (`pip install playwright`; its own browser download is not needed). The
kernel is the Python that runs this script, so it needs soralite, ipywidgets and JupyterLab.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
NOTEBOOK = "explorer_check.ipynb"
PROMPT = "a red circle moving left"
VIEWPORT = {"width": 1280, "height": 1400}
MIN_CHANGED_SHARE = 0.002          # share of the output area's pixels that must change
SERVER_START_S = 60                # seconds for JupyterLab to answer
REDRAW_S = 60                      # seconds for the picture to change after the key press
POLL_S = 0.25
DIALOG_WAIT_MS = 3000              # how long a dialog may take to appear

SETUP_FRESH = '''import torch

from soralite.config import get_config
from soralite.models import Denoiser, VideoVAE
from soralite.pipeline import Pipeline
from soralite.viz.explorers import attention_explorer

cfg = get_config("smoke", world__frames=8, world__height=32, world__width=32)
torch.manual_seed(0)
denoiser = Denoiser(cfg)
with torch.no_grad():
    for p in denoiser.parameters():
        p.add_(0.05 * torch.randn_like(p))   # off the zero init, so that every path carries signal
pipe = Pipeline(cfg, VideoVAE(cfg.vae), denoiser, device="cpu")'''

SETUP_CHECKPOINT = '''from soralite.pipeline import Pipeline
from soralite.viz.explorers import attention_explorer

pipe = Pipeline.from_pretrained({path!r})'''

EXPLORER = '''explorer = attention_explorer(pipe, {prompt!r}, source="render", seed=3)
explorer'''

SETUP_CLIP = '''from soralite.config import get_config
from soralite.viz.explorers import clips_explorer, noise_explorer
from soralite.world import render_prompt

world = get_config("smoke", world__frames=8, world__height=32, world__width=32).world
clip, _ = render_prompt({prompt!r}, world, seed=3)'''

NOISE = '''explorer = noise_explorer(clip, seed=2)
explorer'''

CLIPS = '''explorer = clips_explorer({{"0.2": clip, "0.5": clip[::-1].copy(), "0.8": 255 - clip}},
                          description="strength")
explorer'''

# explorer -> (its chapter, the set-up without and with --checkpoint, the explorer cell, the slider moved)
EXPLORERS = {
    "attention": ("notebook 08", SETUP_FRESH, SETUP_CHECKPOINT, EXPLORER, "query x"),
    "noise": ("notebook 04", SETUP_CLIP, SETUP_CLIP, NOISE, "noise level u"),
    "clips": ("notebooks 09, 10, 14", SETUP_CLIP, SETUP_CLIP, CLIPS, "strength"),
}


def write_notebook(folder: Path, checkpoint: Path | None, explorer: str = "attention") -> Path:
    """The notebook that the browser opens: set-up, then the explorer as the last cell's value."""
    import nbformat

    chapter, fresh, from_checkpoint, cell, _ = EXPLORERS[explorer]
    setup = from_checkpoint.format(path=str(checkpoint), prompt=PROMPT) if checkpoint else \
        fresh.format(prompt=PROMPT)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# The {explorer} explorer ({chapter}): browser check"),
                nbformat.v4.new_code_cell(setup),
                nbformat.v4.new_code_cell(cell.format(prompt=PROMPT))]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / NOTEBOOK
    nbformat.write(nb, path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root: Path, state: Path, port: int) -> subprocess.Popen:
    """JupyterLab serving `root` on 127.0.0.1:`port`, token-less, its settings kept in `state`."""
    env = dict(os.environ,
               JUPYTER_CONFIG_DIR=str(state / "config"), JUPYTER_RUNTIME_DIR=str(state / "runtime"),
               JUPYTER_DATA_DIR=str(state / "data"),
               JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"), PYTHONUNBUFFERED="1")
    news = state / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.root_dir={root}",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           "--IdentityProvider.token=", "--ServerApp.password=",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")                 # containers and CI runners often run as root
    log = open(state / "jupyterlab.log", "w")
    return subprocess.Popen(cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_for_server(port: int, proc: subprocess.Popen, timeout: float) -> None:
    url = f"http://127.0.0.1:{port}/api/status"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(POLL_S)
    raise RuntimeError(f"JupyterLab did not answer on {url} within {timeout:.0f} s")


def stop_lab(proc: subprocess.Popen) -> None:
    """Stop the server this script started (its own process group: the server and its kernels)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def changed_share(a: Path, b: Path) -> float:
    """The share of pixels that differ between two screenshots (1.0 if their sizes differ)."""
    import numpy as np
    from PIL import Image

    x, y = (np.asarray(Image.open(p).convert("RGB")) for p in (a, b))
    if x.shape != y.shape:
        return 1.0
    return float((x != y).any(-1).mean())


def accept_dialogs(page, wait_ms: int = DIALOG_WAIT_MS) -> None:
    """Accept JupyterLab's dialogs (such as "Select Kernel", which offers the notebook's kernel)."""
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    try:
        dialog.first.wait_for(state="visible", timeout=wait_ms)
    except Exception:  # noqa: BLE001 -- no dialog: nothing to accept
        return
    while dialog.count():
        dialog.first.click()
        page.wait_for_timeout(200)


def drive_browser(url: str, out: Path, timeout: float, times: dict, slider_name: str) -> dict:
    """Open the notebook, run it, move the slider; the screenshots go to `out`."""
    from playwright.sync_api import sync_playwright

    ms = int(timeout * 1000)
    with sync_playwright() as pw:
        t = time.perf_counter()
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        times["browser_launch"] = time.perf_counter() - t
        try:
            t = time.perf_counter()
            page.goto(url, timeout=ms)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=ms)
            times["lab_open"] = time.perf_counter() - t

            accept_dialogs(page)                          # "Select Kernel": the notebook's own
            t = time.perf_counter()
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            accept_dialogs(page)
            explorer = page.locator(".widget-interact").first
            picture = explorer.locator(".widget-output img").first
            picture.wait_for(state="visible", timeout=ms)
            times["run_until_picture"] = time.perf_counter() - t

            output = explorer.locator(".widget-output").first
            output.scroll_into_view_if_needed()
            before_src = picture.get_attribute("src")
            output.screenshot(path=str(out / "before.png"))
            explorer.screenshot(path=str(out / "explorer_before.png"))

            t = time.perf_counter()
            slider = explorer.locator(".widget-slider", has_text=slider_name).first
            readout = slider.locator(".widget-readout").first
            value_before = readout.inner_text().strip()
            slider.locator(".noUi-handle").first.focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_timeout(500)
            if readout.inner_text().strip() == value_before:          # at the end: the other way
                page.keyboard.press("ArrowLeft")
            end = time.monotonic() + REDRAW_S
            while time.monotonic() < end:
                img = explorer.locator(".widget-output img").first
                if img.count() and img.is_visible() and img.get_attribute("src") not in (None, before_src):
                    break
                time.sleep(POLL_S)
            else:
                raise RuntimeError(f"the picture did not change within {REDRAW_S} s of moving "
                                   f"the {slider_name!r} slider (readout {readout.inner_text()!r})")
            page.wait_for_timeout(300)                     # let the new image settle on screen
            times["slider_to_redraw"] = time.perf_counter() - t
            value_after = readout.inner_text().strip()
            output.screenshot(path=str(out / "after.png"))
            explorer.screenshot(path=str(out / "explorer_after.png"))
            return {"slider": slider_name, "value_before": value_before, "value_after": value_after}
        finally:
            page.screenshot(path=str(out / "page.png"), full_page=True)
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/browser-check"),
                        help="folder for the screenshots and result.json")
    parser.add_argument("--explorer", choices=sorted(EXPLORERS), default="attention",
                        help="which explorer to open (default attention)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="a pipeline directory (from quickstart) instead of a fresh model")
    parser.add_argument("--timeout", type=float, default=240.0,
                        help="seconds allowed for the page and the kernel (per step)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    if importlib.util.find_spec("playwright") is None:
        print("browser_check: the Python package 'playwright' is missing (pip install playwright)")
        return 2
    if not Path(CHROMIUM).exists():
        print(f"browser_check: no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)")
        return 2

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="soralite-browser-"))
    root, state = tmp / "root", tmp / "state"
    root.mkdir(), state.mkdir()
    times: dict[str, float] = {}
    result: dict = {"ok": False}
    t0 = time.perf_counter()
    proc = None
    try:
        write_notebook(root, args.checkpoint.resolve() if args.checkpoint else None, args.explorer)
        result["explorer"] = args.explorer
        port = free_port()
        t = time.perf_counter()
        proc = start_lab(root, state, port)
        wait_for_server(port, proc, SERVER_START_S)
        times["server_start"] = time.perf_counter() - t
        result.update(drive_browser(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}", out, args.timeout, times,
                                    EXPLORERS[args.explorer][4]))
        share = changed_share(out / "before.png", out / "after.png")
        same_bytes = (out / "before.png").read_bytes() == (out / "after.png").read_bytes()
        result.update(changed_pixel_share=round(share, 4), bytes_differ=not same_bytes,
                      ok=(not same_bytes) and share >= MIN_CHANGED_SHARE)
        if not result["ok"]:
            result["error"] = (f"the output area did not change enough: {share:.4f} of its pixels "
                               f"(need {MIN_CHANGED_SHARE})")
    except Exception as err:  # noqa: BLE001 -- any failure is reported, with the page as it was
        result["error"] = f"{type(err).__name__}: {err}"
    finally:
        if proc is not None:
            stop_lab(proc)
        times["total"] = time.perf_counter() - t0
        result["seconds"] = {k: round(v, 1) for k, v in times.items()}
        result["screenshots"] = sorted(str(p) for p in out.glob("*.png"))
        log = state / "jupyterlab.log"
        if not result["ok"] and log.exists():
            result["server_log_tail"] = log.read_text(errors="replace").splitlines()[-15:]
        if args.keep:
            result["tmp"] = str(tmp)
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
