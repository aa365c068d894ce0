"""The report opened from disk in headless Chromium at a 1400 px window: every figure loads
and is shown at its own size (the size its fonts were chosen for), and every figure drawn for
that page passes the legibility check from its figure objects (>= 3 labelled ticks on each
numeric axis, no overlapping text)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.data.report.browser import check_images
from tests.data.report.fake_run import fake_config, write_fake_run
from tests.unit.test_report_figures import write_truth
from trd_spark.report.plotting import legibility_problems
from trd_spark.report.stage import run_report, settings_from_config, write_report

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


def test_figures_are_shown_at_their_size_and_legible(tmp_path):
    # a simulated study (truth/ folder): every section and figure of the report
    run_dir = write_fake_run(tmp_path / "run")
    write_truth(run_dir)
    config = fake_config(run_dir)
    out = run_dir / "_report"
    results, _ = write_report(str(run_dir), str(out), settings_from_config(config, str(out)),
                              [], config.weights.traits)  # fmt: skip
    check = check_images(out / "index.html", tmp_path / "profile")
    assert check["viewport"] == 1400
    assert check["broken"] == [] and check["total"] >= 10
    scaled = [s for s in check["sizes"] if abs(s["shown"] - s["natural"]) > 1]
    assert scaled == []  # no figure is shrunk below the size its text was set for
    drawn = {name: figure for r in results for name, figure in r.drawn.items()}
    assert sorted(drawn) == sorted(s["src"] for s in check["sizes"])
    assert {name: p for name, f in drawn.items() if (p := legibility_problems(f))} == {}


def test_a_missing_image_is_detected(report_dir, tmp_path):
    # negative control: the same check reports an image that is not there
    copy_dir = tmp_path / "copy"
    shutil.copytree(report_dir, copy_dir)
    (copy_dir / "overview_heatmap.png").unlink()
    check = check_images(copy_dir / "index.html", tmp_path / "profile")
    assert check["broken"] == ["overview_heatmap.png"]
