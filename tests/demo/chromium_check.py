"""Opening an HTML report in headless Chromium (Debian's ``chromium``) and checking that it
rendered: the DOM after load has the figures, each decoded by the browser (the report's
inline script sets ``data-rendered`` from the image's natural width), and a screenshot of
the page is not blank."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
          "--virtual-time-budget=5000", "--window-size=1200,1600"]  # fmt: skip


@dataclass
class Rendered:
    figures: int = 0
    rendered: int = 0
    broken: list[str] = field(default_factory=list)
    colours: int = 0
    problems: list[str] = field(default_factory=list)


def _chromium(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [CHROMIUM, *_FLAGS, *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )
    if done.returncode != 0:
        raise AssertionError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def check_report(report: Path, work: Path, min_figures: int = 1) -> Rendered:
    url = report.resolve().as_uri()
    dom = _chromium("--dump-dom", url, cwd=work)
    result = Rendered()
    for tag in re.findall(r"<img[^>]*class=\"figure\"[^>]*>", dom):
        result.figures += 1
        if 'data-rendered="yes"' in tag:
            result.rendered += 1
        else:
            alt = re.search(r'alt="([^"]*)"', tag)
            result.broken.append(alt.group(1) if alt else tag[:80])
    shot = work / "screenshot.png"
    _chromium(f"--screenshot={shot}", url, cwd=work)
    import matplotlib.image

    pixels = np.asarray(matplotlib.image.imread(str(shot)))[..., :3]
    result.colours = len(np.unique((pixels.reshape(-1, 3) * 255).astype(np.uint8), axis=0))
    if result.figures < min_figures:
        result.problems.append(f"{result.figures} figures in the DOM, {min_figures} expected")
    if result.broken:
        result.problems.append(f"figures not rendered: {', '.join(result.broken)}")
    if result.colours < 16:
        result.problems.append(f"the screenshot is blank ({result.colours} colours)")
    return result
