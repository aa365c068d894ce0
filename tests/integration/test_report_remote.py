"""A run whose output_dir is a URI goes through the remote path (Hail's Hadoop file system).

``file://`` URIs take the same code as gs:// or s3:// (``is_remote`` is true), so
the copy-down / copy-up path is exercised without a cloud bucket.
"""

from __future__ import annotations

import pytest

from tests.data.report.fake_run import fake_config, write_fake_run
from trd_spark.config import config_from_dict
from trd_spark.report.audit import audit_report
from trd_spark.report.stage import run_report

pytestmark = pytest.mark.integration


def test_report_stage_on_a_uri_output_dir(spark, tmp_path):
    run_dir = write_fake_run(tmp_path / "run")
    uri = "file://" + str(run_dir)
    local = fake_config(run_dir)
    config = config_from_dict(
        {
            "output_dir": uri,
            "genotypes": {"wgs": {"path": "wgs.mt"}, "array": {"path": "array.mt"}},
            "ancestry": "ancestry_preds.tsv",
            "weights": {"path": "weights", "traits": local.weights.traits},
            "omop": {"path": "omop"},
        },
        base_dir=run_dir,
    )
    summary = run_report(config, uri + "/_staging/report")
    report_dir = run_dir / "_staging" / "report" / "report"
    assert summary["unavailable"] == []
    names = {p.name for p in report_dir.iterdir()}
    assert {"index.html", "figure1_forest.png", "figure2_hr_forest.png", "tables"} <= names
    assert len(list((report_dir / "tables").glob("*.csv"))) == len(summary["tables"])
    assert (report_dir / "tables" / "disclosure.json").is_file()
    assert (run_dir / "private" / "report_cells.tsv").is_file()  # exact counts: private only
    page = (report_dir / "index.html").read_text()
    assert f"Run: {uri}" in page
    assert "analyze" in page  # manifests were copied down too (stage timings)
    assert audit_report(str(report_dir)) == []
