"""Regenerate the README's screenshots: the demo's QGIS project and its report page.

Run with the project's venv (``make screenshots``, or ``.venv/bin/python docs/screenshots.py``):

1. runs the demo (``urbanshrink run``; a repeated run resumes from its checkpoints) into
   ``outputs/demo`` or ``--out``;
2. renders the QGIS project stored in its GeoPackage headless (``QT_QPA_PLATFORM=offscreen``,
   Debian's python3 with ``qgis.core``, ``docs/qgis_render.py``): the map as it opens, a close-up
   of 鹤岗's dark new district, and the print layout exported as an image;
3. photographs ``report/report.html`` in headless Chromium (Debian's ``chromium``); without a
   Chromium this step is skipped with a note, the other images are still written.

Each PNG is reduced to a 256-colour palette so that it stays small (< 300 KB) in the repository.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"
QGIS_IMAGES = ("qgis_project.png", "qgis_close_up.png", "qgis_layout.png")
REPORT_IMAGE = "report.png"
REPORT_WINDOW = "1200,1500"  # CSS pixels of the page's top that the screenshot shows
MAX_BYTES = 300_000


def small_png(source: Path, target: Path) -> int:
    """Copy a PNG as a 256-colour palette image; return its size in bytes."""
    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            target, optimize=True
        )
    return target.stat().st_size


def render_qgis(out: Path, work: Path) -> None:
    """The QGIS images into ``work`` (Debian's python3, offscreen Qt)."""
    runtime = work / "xdg"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(runtime)}
    command = [SYSTEM_PYTHON, str(HERE / "qgis_render.py"), str(out), str(work)]
    subprocess.run(command, check=True, env=env, timeout=600)


def chromium() -> str | None:
    """A Chromium or Chrome on PATH, or None."""
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((path for name in names if (path := shutil.which(name))), None)


def render_report(page: Path, target: Path, browser: str) -> None:
    """A screenshot of the top of the report page."""
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        f"--window-size={REPORT_WINDOW}", f"--screenshot={target}", page.resolve().as_uri(),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=300)


def main(argv: list[str] | None = None) -> int:
    """Run the demo, render the images, write them into ``docs/``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/demo", help="the demo's output folder")
    parser.add_argument("--docs", default=str(HERE), help="where the PNGs go")
    args = parser.parse_args(argv)
    out, docs = Path(args.out), Path(args.docs)
    from urbanshrink_gis import pipeline

    pipeline.run_demo(out, overwrite=True)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        render_qgis(out, work)
        images = list(QGIS_IMAGES)
        browser = chromium()
        if browser is None:
            print("note: no Chromium found (apt-get install chromium); report.png not updated")
        else:
            render_report(out / "report" / "report.html", work / REPORT_IMAGE, browser)
            images.append(REPORT_IMAGE)
        for name in images:
            size = small_png(work / name, docs / name)
            print(f"wrote {docs / name} ({size / 1000:.0f} kB)")
            if size > MAX_BYTES:
                print(f"warning: {name} is over {MAX_BYTES / 1000:.0f} kB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
