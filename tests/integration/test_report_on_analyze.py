"""The report on tables the analyze stage really writes (its synthetic inputs, no Spark).

Guards the contract between the stats stage and the report: a renamed column
or a new layout shows up here as a failed section.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.data.report.notebook import execute, images, printed
from tests.helpers.stats_inputs import write_synthetic_inputs
from trd_spark.config import config_from_dict
from trd_spark.disclosure import SUPPRESSED
from trd_spark.report.audit import find_unsuppressed_counts
from trd_spark.report.plotting import legibility_problems
from trd_spark.report.select import comparison_group
from trd_spark.report.stage import run_report, settings_from_config, write_report
from trd_spark.stats.stage import run_analyze

pytestmark = pytest.mark.integration

TRAITS = ["educational_attainment", "insomnia", "neuroticism", "intelligence", "height"]
SIZES = {"wgs_european": 2000, "wgs_diverse": 1000, "microarray": 1000}


@pytest.fixture(scope="module")
def analysed_run(tmp_path_factory) -> tuple[Path, dict, str]:
    out = tmp_path_factory.mktemp("analysed")
    write_synthetic_inputs(str(out), TRAITS, sizes=SIZES, seed=5)
    catalog = pd.read_csv(Path(__file__).resolve().parents[2] / "conf/traits.tsv", sep="\t")
    catalog[catalog["trait"].isin(TRAITS)].to_csv(out / "traits.tsv", sep="\t", index=False)
    config = config_from_dict(
        {
            "output_dir": str(out),
            "genotypes": {"wgs": {"path": "wgs.mt"}, "array": {"path": "array.mt"}},
            "ancestry": "ancestry_preds.tsv",
            "weights": {"path": "weights", "traits": str(out / "traits.tsv")},
            "omop": {"path": "omop"},
        }
    )
    run_analyze(config, str(out / "_analyze"))
    shutil.move(str(out / "_analyze" / "results"), str(out / "results"))
    summary = run_report(config, str(out / "_report"))
    page = (out / "_report" / "report" / "index.html").read_text()
    return out, summary, page


def test_every_analysis_section_is_built(analysed_run):
    _, summary, page = analysed_run
    assert "section failed" not in page
    assert "lacks column" not in page
    # the synthetic inputs have no genotype QC or match report: those say so, nothing else
    assert set(summary["unavailable"]) <= {"match", "qc"}
    for name in ("figure1_forest.png", "overview_heatmap.png", "replication_scatter.png",
                 "figure2_hr_forest.png", "figure2_km_educational_attainment.png",
                 "figure2_km_insomnia.png", "figure2_schoenfeld.png",
                 "replication_cox.png"):  # fmt: skip
        assert name in summary["figures"]


def test_figures_on_real_outputs_are_legible(analysed_run, tmp_path):
    # the legibility check of the report's figures on what the analyze stage really wrote
    out, _, _ = analysed_run
    config = config_from_dict(
        {"output_dir": str(out), "genotypes": {"wgs": {"path": "wgs.mt"},
                                               "array": {"path": "array.mt"}},
         "ancestry": "ancestry_preds.tsv",
         "weights": {"path": "weights", "traits": str(out / "traits.tsv")},
         "omop": {"path": "omop"}}
    )  # fmt: skip
    report_dir = tmp_path / "report"
    results, _ = write_report(str(out), str(report_dir),
                              settings_from_config(config, str(report_dir)), [],
                              str(out / "traits.tsv"))  # fmt: skip
    drawn = {name: figure for r in results for name, figure in r.drawn.items()}
    assert "figure2_schoenfeld.png" in drawn
    assert {name: p for name, f in drawn.items() if (p := legibility_problems(f))} == {}


def test_report_counts_follow_the_policy(analysed_run):
    out, _, page = analysed_run
    assert find_unsuppressed_counts(page, 20) == []
    km_df = pd.read_csv(out / "_report/report/tables/km.csv", dtype={"at_risk": str})
    later = km_df.loc[km_df["time"] > 0, "at_risk"]
    assert len(later) and all(int(v) > 20 for v in later if v != SUPPRESSED)


def test_table1_counts_match_the_persons_table(analysed_run):
    out, _, page = analysed_run
    persons_df = pd.read_parquet(out / "phenotypes/persons.parquet")
    table1_df = pd.read_csv(out / "_report/report/tables/table1.csv", dtype=str)
    checked = 0
    for row in table1_df.to_dict("records"):
        members = persons_df[persons_df["cohort"] == row["Cohort"]]
        group = comparison_group(members, "trd_1", "trmdd_1") == row["Group"]
        female = group & (members["sex"] == "female")
        for column, value in (("n", int(group.sum())), ("Female n", int(female.sum()))):
            if row[column] != SUPPRESSED:
                assert row[column] == f"{value:,}", (row["Cohort"], row["Group"], column)
                assert f">{row[column]}</td>" in page
                checked += 1
    assert checked >= 9  # most counts are shown (the rest are suppressed, not wrong)
    assert re.search(r"Mean time to TRD", page)


def test_notebook_runs_on_the_analyze_outputs(analysed_run, monkeypatch):
    out, _, _ = analysed_run
    notebook = execute(out, monkeypatch)
    text = printed(notebook)
    assert "km_trait=educational_attainment" in text
    assert images(notebook) == 2
