"""The explorers in a real browser (scripts/browser_check.py): JupyterLab on localhost, headless
Chromium; moving a slider redraws the picture, for the attention explorer (notebook 08), the noise
explorer (04) and the slider over clips (09, 10, 14). Skipped where Chromium or Playwright is
missing (Debian: `apt-get install -y chromium`; `pip install playwright`, without its browsers);
`.ci/run` installs both when it runs as root under CI, so CI runs them."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_S = 300

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="the Python package 'playwright' is not installed"),
]


@pytest.mark.parametrize("explorer", ["attention", "noise", "clips"])
def test_moving_a_slider_redraws_the_explorer_in_a_browser(explorer, tmp_path):
    out = tmp_path / "shots"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "browser_check.py"), "--out", str(out),
                           "--explorer", explorer, "--timeout", "120"],
                          capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT)
    result = json.loads((out / "result.json").read_text())
    assert result["explorer"] == explorer
    assert proc.returncode == 0 and result["ok"], proc.stdout[-3000:] + proc.stderr[-3000:]
    assert result["bytes_differ"] and result["changed_pixel_share"] > 0.002
    assert result["value_before"] != result["value_after"]                  # the slider moved
    for name in ("before.png", "after.png", "explorer_before.png", "explorer_after.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
