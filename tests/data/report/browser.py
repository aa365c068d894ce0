"""Open a written report in headless Chromium and list the images that did not load.

Shared by the report's browser test and the end-to-end test:
``from tests.data.report.browser import check_images``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=10000",
    "--window-size=1400,1000",  # the width a reader opens the report at (issue 23)
    "--dump-dom",
)
# appended to a copy of the page: after load, writes which <img> failed into the DOM
IMAGE_CHECK = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src"));
  const sizes = images.map(i => ({src: i.getAttribute("src"), natural: i.naturalWidth,
                                  shown: i.getBoundingClientRect().width}));
  const out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = JSON.stringify({total: images.length, broken: broken, sizes: sizes,
                                    viewport: window.innerWidth});
  document.body.appendChild(out);
});
</script>
"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("headless Chromium is needed: apt-get install -y chromium")
    return path


def check_images(page: Path, profile: Path) -> dict:
    """Load ``page`` plus IMAGE_CHECK from disk in headless Chromium.

    Parameters
    ----------
    page : the report's ``index.html``.
    profile : a fresh folder for Chromium's user data.

    Returns
    -------
    ``{"total": number of <img>, "broken": [src of each image that did not load],
    "sizes": [{"src", "natural": PNG width, "shown": width on the page in CSS px}],
    "viewport": window width}`` at a 1400 px wide window.
    """
    probe = page.with_name("_image_check.html")
    probe.write_text(page.read_text() + IMAGE_CHECK)
    try:
        result = subprocess.run(
            [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", probe.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        probe.unlink()  # next to index.html so relative links resolve; never left behind
    found = re.search(r'<pre id="image-check">([^<]*)</pre>', result.stdout)
    assert found, f"Chromium did not run the check: {result.stderr[-2000:]}"
    return json.loads(found.group(1))
