"""The report stage on a complete fake output_dir: every part present, small counts never shown."""

from __future__ import annotations

import itertools
import re
import shutil
import struct
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from tests.data.report.fake_run import FLAGGED_TRAITS, SMALL_COUNTS, fake_config, write_fake_run
from trd_spark.disclosure import SUPPRESSED, DisclosureError
from trd_spark.report.audit import audit_report, find_unsuppressed_counts
from trd_spark.report.select import primary_associations
from trd_spark.report.stage import run_report
from trd_spark.study import label

SECTIONS = (
    "headline",
    "qc",
    "table1",
    "match",
    "figure1",
    "replication",
    "table2",
    "figure2",
    "methods",
)
FIGURES = (
    "pgs_match_rates.png",
    "figure1_forest.png",
    "overview_heatmap.png",
    "replication_scatter.png",
    "replication_cox.png",
    "figure2_hr_forest.png",
    "figure2_schoenfeld.png",
    "figure2_km_educational_attainment.png",
    "figure2_km_insomnia.png",
)
# participant-count columns of the shared CSVs
CSV_COUNT_COLUMNS = (
    "n",
    "n_female",
    "Female n",
    "n_trd",
    "n_trmdd",
    "n_non_mdd",
    "n_cases",
    "n_controls",
    "n_events",
    "n_persons",
    "n_rows_dropped",
    "n TRD",
    "n trMDD",
    "at_risk",
)


def build_report(run_dir: Path, **report: object) -> tuple[dict, str, Path]:
    # a fresh staging folder per build, so a module-scoped report is never overwritten
    staging = Path(tempfile.mkdtemp(prefix="_staging", dir=run_dir))
    summary = run_report(fake_config(run_dir, **report), str(staging))
    report_dir = staging / "report"
    return summary, (report_dir / "index.html").read_text(), report_dir


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory) -> Path:
    return write_fake_run(tmp_path_factory.mktemp("fake-run"))


@pytest.fixture(scope="module")
def report(fake_run) -> tuple[dict, str, Path]:
    return build_report(fake_run)


@pytest.fixture(scope="module")
def open_report(fake_run, tmp_path_factory) -> tuple[dict, str, Path]:
    """The same run reported with suppression off (exact counts), in its own folder."""
    run_dir = tmp_path_factory.mktemp("open") / "run"
    shutil.copytree(fake_run, run_dir, ignore=shutil.ignore_patterns("_staging*"))
    return build_report(run_dir, suppress_small_counts=False)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG header (read by hand, not by matplotlib)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_every_section_and_figure_is_present(report):
    summary, page, report_dir = report
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in page
    assert "not available" not in page
    assert summary["unavailable"] == []
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sorted(sources) == sorted(FIGURES)
    for name in sources:
        assert "/" not in name  # relative, next to index.html: opens from disk
        width, height = png_size(report_dir / name)
        assert width > 200 and height > 200


def test_shared_tables_are_written(report):
    summary, _, report_dir = report
    names = {Path(p).name for p in summary["tables"]}
    assert {
        "table1.csv",
        "table2_sensitivity.csv",
        "associations.csv",
        "survival.csv",
        "replication.csv",
        "km.csv",
        "group_sizes.csv",
    } <= names
    for name in names:
        assert (report_dir / "tables" / name).is_file()


def test_table1_rows_cover_cohorts_and_groups(report):
    _, _, report_dir = report
    table1_df = pd.read_csv(report_dir / "tables/table1.csv", dtype=str)
    assert len(table1_df) == 9
    assert set(table1_df["Group"]) == {"non-MDD", "trMDD", "TRD"}


def test_no_small_count_in_html(report):
    _, page, _ = report
    n_cells = len(re.findall(r'<td class="count"', page))
    assert n_cells > 100  # the scan below looks at real cells
    assert find_unsuppressed_counts(page, 20) == []
    # the fake run's small groups were masked, not dropped
    assert re.search(rf'class="count" data-cell="[^"]+">{re.escape(SUPPRESSED)}<', page)
    # free text such as figure subtitles: no "12 cases" style counts either
    assert not re.search(r"\b([1-9]|1\d|20) (cases|controls|events|persons)\b", page)


def test_no_small_count_in_shared_csvs(report):
    _, _, report_dir = report
    checked = 0
    for path in (report_dir / "tables").glob("*.csv"):
        table_df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in [c for c in CSV_COUNT_COLUMNS if c in table_df.columns]:
            values = table_df[column].str.replace(",", "")
            numbers = pd.to_numeric(values[values.str.fullmatch(r"\d+")])
            assert not ((numbers >= 1) & (numbers <= 20)).any(), f"{path.name}:{column}"
            checked += len(values)
    assert checked > 1000


def test_km_csv_is_coarse_enough_to_reveal_no_small_count(report, fake_run):
    _, _, report_dir = report
    km_df = pd.read_csv(report_dir / "tables/km.csv", dtype={"at_risk": str})
    source_df = pd.read_parquet(fake_run / "results/km.parquet")
    assert (source_df["at_risk"] <= 20).any()  # the fake curves do reach small risk sets
    assert set(km_df["cohort"]) == {"wgs"}  # the pooled WGS set is the one shown
    assert set(km_df["trait"]) == {"educational_attainment", "insomnia"}  # those drawn
    for _, curve_df in km_df.groupby(["trait", "stratum"]):
        assert curve_df["time"].iloc[0] == 0.0
        later = curve_df[curve_df["time"] > 0]["at_risk"]
        assert all(int(n) > 20 for n in later if n != SUPPRESSED)
        shown = [int(v) for v in curve_df["at_risk"] if v != SUPPRESSED]
        assert all(a - b > 20 for a, b in itertools.pairwise(shown))
        assert len(curve_df) < len(source_df) / 10  # a few points, not every event time


def test_suppression_off_shows_exact_counts(open_report):
    _, page, _ = open_report
    leaked = find_unsuppressed_counts(page, 20)
    assert str(SMALL_COUNTS["microarray TRD"]) in leaked
    assert "Disclosure control is OFF" in page


def test_figure_subtitles_show_the_published_counts(report):
    from trd_spark.report.sections import ReportSettings, _case_subtitles

    _, _, report_dir = report
    shown_df = pd.read_csv(report_dir / "tables/associations.csv", dtype=str, keep_default_na=False)
    shown_df = shown_df.assign(converged=shown_df["converged"] == "True")
    primary_df = primary_associations(shown_df, "trd_1", "trmdd_1")
    settings = ReportSettings(report_dir="", cohorts=["microarray"], discovery="microarray")
    subtitles = _case_subtitles(primary_df, settings)
    assert subtitles["TRD_vs_trMDD"].startswith(f"Microarray:\n{SUPPRESSED} cases, ")
    for contrast, text in subtitles.items():
        row = primary_df[
            (primary_df["cohort"] == "microarray") & (primary_df["contrast"] == contrast)
        ]
        cases, controls = row["n_cases"].iloc[0], row["n_controls"].iloc[0]
        assert text == f"Microarray:\n{cases} cases, {controls} controls"


def test_primary_associations_keep_one_converged_row_per_trait(fake_run):
    assoc_df = pd.read_parquet(fake_run / "results/associations.parquet")
    primary_df = primary_associations(assoc_df, "trd_1", "trmdd_1")
    counts = primary_df.groupby(["cohort", "contrast"]).size()
    assert len(counts) == 9
    assert counts.drop(("microarray", "TRD_vs_trMDD")).eq(61).all()
    assert counts[("microarray", "TRD_vs_trMDD")] == 61 - len(FLAGGED_TRAITS)
    assert primary_df["converged"].all()


def test_flagged_models_are_listed(report):
    _, page, _ = report
    block = page.split("Models flagged")[1].split("</details>")[0]
    assert f"{len(FLAGGED_TRAITS)} models flagged" in block
    for trait in FLAGGED_TRAITS:
        assert f"<td>{trait}</td>" in block


def test_sex_stratified_results_are_shown(report):
    _, page, _ = report
    block = page.split("Sex-stratified TRD vs trMDD")[1].split("</table>")[0]
    for stratum in ("female", "male", "pgs_x_sex"):
        assert block.count(f"<td>{label(stratum)}</td>") == 5


def test_no_primary_rows_is_explained(fake_run, tmp_path):
    odd = tmp_path / "odd"
    shutil.copytree(fake_run, odd, ignore=shutil.ignore_patterns("_staging*"))
    path = odd / "results/associations.parquet"
    pd.read_parquet(path).assign(stratum="female").to_parquet(path)
    summary, page, _ = build_report(odd)
    assert "has no converged rows for the primary definitions" in page
    assert {"figure1", "replication"} <= set(summary["unavailable"])


def test_missing_results_degrade_gracefully(fake_run, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(fake_run, partial, ignore=shutil.ignore_patterns("_staging*"))
    shutil.rmtree(partial / "results")
    summary, page, report_dir = build_report(partial)
    assert "not available: results/associations.parquet" in page
    assert "not available: results/sensitivity.parquet" in page
    assert set(summary["unavailable"]) == {
        "headline",
        "figure1",
        "replication",
        "table2",
        "figure2",
    }
    assert '<section id="table1">' in page and f">{SUPPRESSED}<" in page  # what is there is shown
    for name in re.findall(r'<img src="([^"]+)"', page):
        assert (report_dir / name).is_file()


def test_a_table_without_a_documented_column_is_named(fake_run, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(fake_run, broken, ignore=shutil.ignore_patterns("_staging*"))
    path = broken / "results/sensitivity.parquet"
    pd.read_parquet(path).drop(columns="overlap_pct").to_parquet(path)
    summary, page, _ = build_report(broken)
    assert "results/sensitivity.parquet lacks column(s) overlap_pct" in page
    assert summary["unavailable"] == ["table2"]


def test_methods_follow_the_config(fake_run):
    _, page, _ = build_report(fake_run, min_count=10, km_traits=["neuroticism"])
    assert "no count of 1 to 10 participants is shown or can be derived" in page
    assert "figure2_km_neuroticism.png" in page
    assert "p &lt; 1e-05" in page  # significance of the default config
    assert re.search(r"numpy \d", page)  # versions from the manifests


def test_significant_counts_use_the_primary_rows(fake_run, report):
    # the number of significant PGS shown per cohort and contrast equals a direct count
    assoc_df = pd.read_parquet(fake_run / "results/associations.parquet")
    primary = assoc_df[
        (assoc_df["stratum"] == "all")
        & (assoc_df["trmdd_def"] == "trmdd_1")
        & (assoc_df["trd_def"].isna() | (assoc_df["trd_def"] == "trd_1"))
    ]
    expected = primary.groupby(["cohort", "contrast"])["significant"].sum()
    _, page, _ = report
    block = page.split("Number of significant PGS")[1].split("</table>")[0]
    for (cohort, contrast), n in expected.items():
        if n:
            assert f"<td>{label(cohort)}</td><td>{label(contrast)}</td><td>{n}</td>" in block
    assert block.count("<tr>") - 1 == int((expected > 0).sum())  # minus the header row


def test_report_runs_as_a_pipeline_stage(fake_run, tmp_path):
    from trd_spark.pipeline import read_manifest, run_stages

    run_dir = tmp_path / "staged"
    shutil.copytree(fake_run, run_dir, ignore=shutil.ignore_patterns("_staging*"))
    config = fake_config(run_dir)
    manifests = run_stages(["report"], config)
    assert (run_dir / "report/index.html").is_file()
    assert (run_dir / "report/figure1_forest.png").is_file()
    assert not (run_dir / "_staging/report").exists()
    manifest = read_manifest(str(run_dir), "report")
    assert manifest is not None and manifest["summary"]["unavailable"] == []
    assert "figure1_forest.png" in manifests["report"]["summary"]["figures"]
    again = run_stages(["report"], config)
    assert again["report"]["skipped"] == "up to date"


def test_headline_table_beside_the_published_values(fake_run):
    from trd_spark.report.headline import PUBLISHED_TRD_VS_TRMDD_OR, compare_odds_ratios

    assoc_df = pd.read_parquet(fake_run / "results/associations.parquet")
    primary_df = primary_associations(assoc_df, "trd_1", "trmdd_1")
    compare_df = compare_odds_ratios(primary_df, "wgs_european")
    assert compare_df["trait"].tolist() == list(PUBLISHED_TRD_VS_TRMDD_OR)
    for row in compare_df.to_dict("records"):
        source = assoc_df[
            (assoc_df["cohort"] == "wgs_european") & (assoc_df["contrast"] == "TRD_vs_trMDD")
            & (assoc_df["trd_def"] == "trd_1") & (assoc_df["trmdd_def"] == "trmdd_1")
            & (assoc_df["stratum"] == "all") & (assoc_df["trait"] == row["trait"])
        ]  # fmt: skip
        assert row["estimate"] == source["odds_ratio"].item()
        assert row["same_direction"] == ((row["estimate"] > 1) == (row["published"] > 1))


def test_stage_timings_from_manifests(report):
    _, page, _ = report
    assert "<td>analyze</td><td>2026-01-01T00:00:00+00:00</td><td>12.5</td>" in page


def test_audit_finds_nothing_with_suppression_and_leaks_without(report, open_report):
    _, _, report_dir = report
    assert audit_report(str(report_dir)) == []
    _, page, open_dir = open_report
    assert "disclosure control was off" in audit_report(str(open_dir))[0]
    table1_df = pd.read_csv(open_dir / "tables/table1.csv", dtype=str)
    assert str(SMALL_COUNTS["microarray TRD"]) in set(table1_df["n"])
    table2_df = pd.read_csv(open_dir / "tables/table2_sensitivity.csv", dtype=str)
    assert str(SMALL_COUNTS["sensitivity trd_2/trmdd_3 n_trd"]) in set(table2_df["n TRD"])
    assert find_unsuppressed_counts(page, 20)


def test_every_count_shown_carries_its_cell_and_matches_the_tables(report):
    _, page, report_dir = report
    cells = re.findall(r'class="count"( data-cell="[^"]*")?>([^<]*)<', page)
    assert len(cells) > 100
    assert all(key for key, text in cells if text)  # every count shown names its cell
    # the audit compares each of them with the shared tables
    assert audit_report(str(report_dir)) == []


def test_a_tampered_report_fails_the_audit(report, tmp_path):
    _, _, report_dir = report
    copy_dir = tmp_path / "tampered"
    shutil.copytree(report_dir, copy_dir)
    path = copy_dir / "tables/group_sizes.csv"
    sizes_df = pd.read_csv(path, dtype=str, keep_default_na=False)
    row = (
        (sizes_df["cohort"] == "all")
        & (sizes_df["trd_def"] == "trd_1")
        & (sizes_df["trmdd_def"] == "trmdd_1")
    )
    hidden = [c for c in ("n_trd", "n_trmdd") if sizes_df.loc[row, c].item() == SUPPRESSED]
    assert hidden  # the all row hides something in the fake run
    true_df = pd.read_parquet(report_dir.parents[1] / "phenotypes/group_sizes.parquet")
    true_row = (
        (true_df["cohort"] == "all")
        & (true_df["trd_def"] == "trd_1")
        & (true_df["trmdd_def"] == "trmdd_1")
    )
    sizes_df.loc[row, hidden[0]] = str(true_df.loc[true_row, hidden[0]].item())
    sizes_df.to_csv(path, index=False)
    problems = audit_report(str(copy_dir))
    assert problems and any("group_sizes" in p or "derived count" in p for p in problems)
    assert all(not re.search(r"\b\d+\b persons", p) for p in problems)  # names, not values


def test_the_report_refuses_to_write_when_the_attack_wins(fake_run, tmp_path, monkeypatch):
    from trd_spark.disclosure import protect as real_protect
    from trd_spark.report import disclose

    def primary_only(ledger, policy):  # cell-by-cell masking, as reports did before
        protection = real_protect(ledger, policy)
        protection.published |= protection.complementary
        protection.complementary = set()
        return protection

    monkeypatch.setattr(disclose, "protect", primary_only)
    staging = tmp_path / "staging"
    with pytest.raises(DisclosureError, match=r"nothing was written.*(group_sizes|table1|derived)"):
        run_report(fake_config(fake_run), str(staging))
    assert not (staging / "report").exists()


def test_exact_counts_go_to_the_private_folder_only(report, fake_run):
    _, _, report_dir = report
    cells = (fake_run / "private" / "report_cells.tsv").read_text()
    assert "\tprimary\t" in cells and "\tcomplementary\t" in cells
    assert "NOT SHAREABLE" in (fake_run / "private" / "README.txt").read_text()
    assert not any(p.name == "report_cells.tsv" for p in report_dir.rglob("*"))


def test_audit_command(report, tmp_path, capsys):
    from trd_spark.cli import main

    _, _, report_dir = report
    assert main(["audit", "--report", str(report_dir)]) == 0
    assert "may be shared" in capsys.readouterr().out
    assert main(["audit", "--report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "disclosure.json not found" in err and "trd-spark report --config" in err


def test_rounding_to_a_base(fake_run, tmp_path):
    run_dir = tmp_path / "rounded"
    shutil.copytree(fake_run, run_dir, ignore=shutil.ignore_patterns("_staging*"))
    _, page, report_dir = build_report(run_dir, rounding_base=5)
    assert "rounded to a multiple of 5" in page
    assert audit_report(str(report_dir)) == []
    table1_df = pd.read_csv(report_dir / "tables/table1.csv", dtype=str)
    shown = [
        int(v.replace(",", ""))
        for v in table1_df[["n", "Female n"]].to_numpy().ravel()
        if v != SUPPRESSED
    ]
    assert shown and all(v % 5 == 0 and v > 20 for v in shown)
    # percentages are those of the published (rounded) counts
    for row in table1_df.to_dict("records"):
        if row["n"] != SUPPRESSED and row["Female n"] != SUPPRESSED:
            female, n = int(row["Female n"].replace(",", "")), int(row["n"].replace(",", ""))
            assert row["Female %"] == f"{100 * female / n:.1f}"


def test_methods_describe_each_platforms_qc_and_floor(tmp_path):
    from trd_spark.config import config_from_dict
    from trd_spark.report.methods import describe_platforms

    config = config_from_dict(
        {"output_dir": "o", "weights": {"path": "w"}, "omop": {"path": "o"}, "ancestry": "a.tsv",
         "genotypes": {"wgs": {"path": "wgs.mt"},
                       "array": {"path": "array.mt", "assay": "array", "min_overlap": 0.4}}},
        tmp_path,
    )  # fmt: skip
    wgs, array = describe_platforms(config).split(" On array (array): ")
    assert wgs.startswith("On wgs (sequencing): Variants were kept when their allele frequency")
    assert "at least 0.75 of its weights" in wgs
    assert array.startswith("Variants were used as genotyped, without a population")
    assert "at least 0.4 of its weights" in array
