"""The exploration notebook runs top to bottom on a finished run's outputs."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.data.report.fake_run import write_fake_run
from tests.data.report.notebook import execute, images, printed

pytestmark = pytest.mark.integration


def test_notebook_redraws_forest_and_km(tmp_path, monkeypatch):
    run_dir = write_fake_run(tmp_path / "run")
    notebook = execute(run_dir, monkeypatch)
    text = printed(notebook)
    assert f"run: {run_dir.resolve()}" in text
    assert "tables_loaded=8" in text
    assert images(notebook) == 2  # the forest plot and the Kaplan-Meier curve
    assoc_df = pd.read_parquet(run_dir / "results/associations.parquet")
    expected = assoc_df[
        (assoc_df["cohort"] == "wgs_european")
        & (assoc_df["contrast"] == "TRD_vs_trMDD")
        & (assoc_df["stratum"] == "all")
        & (assoc_df["trd_def"] == "trd_1")
        & (assoc_df["trmdd_def"] == "trmdd_1")
    ]["significant"].sum()
    assert re.search(rf"significant_TRD_vs_trMDD={int(expected)}\b", text)
    assert "km_trait=educational_attainment" in text


def test_notebook_survives_a_partial_run(tmp_path, monkeypatch):
    run_dir = write_fake_run(tmp_path / "run")
    for name in ("associations", "km", "survival"):
        (run_dir / f"results/{name}.parquet").unlink()
    notebook = execute(run_dir, monkeypatch)
    text = printed(notebook)
    assert "not available: results/associations.parquet" in text
    assert "tables_loaded=5" in text
    assert images(notebook) == 0
