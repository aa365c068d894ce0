"""The report opened from disk in headless Chromium: every figure loads."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.data.report.fake_run import fake_config, write_fake_run
from trd_spark.report.stage import run_report

pytestmark = pytest.mark.integration

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=10000",
    "--dump-dom",
)
# appended to a copy of the page: after load, writes which <img> failed into the DOM
IMAGE_CHECK = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src"));
  const out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = JSON.stringify({total: images.length, broken: broken});
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
    """Load ``page`` plus IMAGE_CHECK from disk in Chromium; returns {total, broken}."""
    probe = page.with_name("_image_check.html")
    probe.write_text(page.read_text() + IMAGE_CHECK)
    result = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    probe.unlink()
    found = re.search(r'<pre id="image-check">([^<]*)</pre>', result.stdout)
    assert found, f"Chromium did not run the check: {result.stderr[-2000:]}"
    return json.loads(found.group(1))


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    run_dir = write_fake_run(tmp_path_factory.mktemp("browser-run"))
    run_report(fake_config(run_dir), str(run_dir / "_staging"))
    return run_dir / "_staging" / "report"


def test_every_image_loads_in_chromium(report_dir, tmp_path):
    check = check_images(report_dir / "index.html", tmp_path / "profile")
    assert check["total"] == len(list(report_dir.glob("*.png"))) >= 7
    assert check["broken"] == []


def test_a_missing_image_is_detected(report_dir, tmp_path):
    # negative control: the same check reports an image that is not there
    copy_dir = tmp_path / "copy"
    shutil.copytree(report_dir, copy_dir)
    (copy_dir / "overview_heatmap.png").unlink()
    check = check_images(copy_dir / "index.html", tmp_path / "profile")
    assert check["broken"] == ["overview_heatmap.png"]
