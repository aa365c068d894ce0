"""The report opened from disk in headless Chromium: every figure loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.data.report.browser import check_images
from tests.data.report.fake_run import fake_config, write_fake_run
from trd_spark.report.stage import run_report

pytestmark = pytest.mark.integration


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
