"""The report's figures as a reader sees them, and the numbers they draw.

* Legibility, from the figure objects: every numeric axis has at least three labelled ticks
  and no two texts overlap (:func:`trd_spark.report.plotting.legibility_problems`), on every
  figure of the fake run's report (with a simulated study's truth folder, so the truth
  figure is checked too), with negative controls that show the check can fail.
* The Schoenfeld residual smooth, band and time axis against R's ``plot.cox.zph``
  (``tests/r/golden_report.R``) to 1e-4.
* The truth section: present only with ``truth/effects.tsv``, its coverage and false
  positives recomputed here from the associations and effects with scipy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from tests.data.report.fake_run import KM_TRAITS, fake_config, write_fake_run
from trd_spark.report import zph
from trd_spark.report.audit import audit_report
from trd_spark.report.plotting import legibility_problems, ratio_ticks
from trd_spark.report.stage import settings_from_config, write_report
from trd_spark.study import label

R_DIR = Path(__file__).parents[1] / "r"
SIGNIFICANCE = 1e-5  # fake_config: analysis.significance default


def write_truth(run_dir: Path, seed: int = 5) -> pd.DataFrame:
    """A truth/effects.tsv as trd-spark simulate writes it, for the fake run's traits: a
    third of the traits with planted effects, the rest null."""
    rng = np.random.default_rng(seed)
    assoc_df = pd.read_parquet(run_dir / "results/associations.parquet")
    traits = sorted(assoc_df["trait"].unique())
    planted = np.arange(len(traits)) % 3 == 0
    effects_df = pd.DataFrame(
        {
            "trait": traits,
            "log_or_mdd": np.where(planted, 0.0, rng.normal(0, 0.05, len(traits))),
            "log_or_trd_vs_trmdd": np.where(planted, rng.normal(0, 0.2, len(traits)), 0.0),
            "log_hr_time_to_trd": np.where(planted, rng.normal(0, 0.2, len(traits)), 0.0),
            "pgs_r_wgs": 0.8,
            "pgs_r_array": 0.6,
        }
    )
    effects_df["expected_log_or_trd_vs_trmdd_wgs"] = effects_df["log_or_trd_vs_trmdd"] * 0.8
    # expected marginal effects of the discovery cohort: the planted effect on the PGS scale
    # plus a cluster partner's (a null trait next to a planted one in the list carries it)
    partner = np.roll(effects_df["log_or_trd_vs_trmdd"].to_numpy(), 1) * 0.5
    partner[np.arange(len(traits)) % 3 == 2] = 0.0  # the third of each triple stays null
    effects_df["marginal_log_or_trd_vs_trmdd_wgs_european"] = (
        effects_df["expected_log_or_trd_vs_trmdd_wgs"] + partner
    )
    effects_df["marginal_log_or_mdd_wgs_european"] = effects_df["log_or_mdd"] * 0.8
    (run_dir / "truth").mkdir(exist_ok=True)
    effects_df.to_csv(run_dir / "truth/effects.tsv", sep="\t", index=False)
    return effects_df


def build(run_dir: Path, out: Path):
    config = fake_config(run_dir)
    settings = settings_from_config(config, str(out), str(run_dir))
    return write_report(str(run_dir), str(out), settings, [], config.weights.traits)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    run_dir = write_fake_run(tmp_path_factory.mktemp("figures-run"))
    effects_df = write_truth(run_dir)
    results, _ = build(run_dir, run_dir / "_report")
    page = (run_dir / "_report/index.html").read_text()
    return run_dir, effects_df, results, page


def test_every_figure_is_legible(simulated):
    _, _, results, _ = simulated
    drawn = {name: figure for r in results for name, figure in r.drawn.items()}
    assert {"figure1_forest.png", "figure2_hr_forest.png", "figure2_schoenfeld.png",
            "replication_cox.png", "truth_beside_estimate.png"} <= set(drawn)  # fmt: skip
    problems = {name: legibility_problems(figure) for name, figure in drawn.items()}
    assert {name: p for name, p in problems.items() if p} == {}


def test_the_legibility_check_finds_one_tick_and_overlapping_text():
    figure = Figure(figsize=(4, 3))
    ax = figure.add_subplot()
    ax.plot([0.9, 1.1], [0, 1])
    ax.set_xscale("log")
    ax.set_xticks([1.0], ["1"])
    ax.set_yticks([0, 0.5, 1])
    ax.text(0.5, 0.5, "a long label here", transform=ax.transAxes)
    ax.text(0.52, 0.5, "another label", transform=ax.transAxes)
    problems = legibility_problems(figure)
    assert any("x axis has 1 labelled tick" in p for p in problems)
    assert any("overlap" in p and "another label" in p for p in problems)
    assert not any("y axis" in p for p in problems)


def test_the_legibility_check_finds_text_beyond_the_figure():
    """Negative control: the truth panel's former one-line title, as long as the pooled set's
    name makes it, runs past the right edge of the last panel; the three-line title fits."""
    from trd_spark.report.plotting import new_figure

    long_title = (
        "Time to TRD: WGS (European + Diverse, pooled)\n51 of 61 CIs hold the expected value"
    )
    problems = {}
    for name, title in (("one line", long_title), ("wrapped", truth_title())):
        figure = new_figure(3.45 * 3, 4.3)
        axes = figure.subplots(1, 3, squeeze=False)[0]
        for ax in axes:
            ax.plot([0, 1], [0, 1])
        axes[-1].set_title(title)
        problems[name] = legibility_problems(figure)
    assert any("beyond the figure's right edge" in p and "pooled" in p
               for p in problems["one line"]), problems["one line"]  # fmt: skip
    assert problems["wrapped"] == []
    figure = Figure(figsize=(3, 2))
    figure.add_subplot().plot([0, 1], [0, 1])
    figure.text(-0.2, 0.5, "cut on the left")
    assert any("left edge" in p and "cut on the left" in p for p in legibility_problems(figure))


def truth_title() -> str:
    from trd_spark.report.truth import OUTCOMES, panel_title

    return panel_title(OUTCOMES[2], "wgs", 51, 61)


@pytest.mark.parametrize("low,high", [(0.97, 1.04), (0.8, 1.3), (0.4, 2.2), (0.05, 30.0)])
def test_ratio_axes_get_three_to_six_ticks(low, high):
    ticks = ratio_ticks(low, high)
    assert 3 <= len(ticks) <= 7
    assert all(low <= t <= high for t in ticks)


def _golden_residuals() -> pd.DataFrame:
    return pd.read_csv(R_DIR / "golden_schoenfeld.csv", dtype={"x": float, "y": float})


def test_schoenfeld_smooth_matches_r_plot_cox_zph():
    residuals_df = _golden_residuals()
    smooth_df = pd.read_csv(R_DIR / "golden_zph_smooth.csv")
    checked = 0
    for (model, term), golden_df in smooth_df.groupby(["model", "term"]):
        rows_df = residuals_df[(residuals_df["model"] == model) & (residuals_df["term"] == term)]
        assert len(rows_df) == golden_df["n_deaths"].iloc[0]
        smooth = zph.zph_smooth(rows_df["x"].to_numpy(), rows_df["y"].to_numpy(),
                                float(golden_df["var"].iloc[0]))  # fmt: skip
        np.testing.assert_allclose(smooth.x, golden_df["x"], atol=1e-10)
        for column in ("fit", "low", "high"):
            np.testing.assert_allclose(getattr(smooth, column), golden_df[column], atol=1e-4)
        checked += 1
    assert checked == 5


def test_schoenfeld_time_axis_matches_r():
    residuals_df = _golden_residuals()
    axis_df = pd.read_csv(R_DIR / "golden_zph_axis.csv")
    for model, golden_df in axis_df.groupby("model"):
        rows_df = residuals_df[(residuals_df["model"] == model)].drop_duplicates("event")
        positions, labels = zph.time_ticks(rows_df["x"].to_numpy(), rows_df["time"].to_numpy(), 8)
        assert labels == [f"{d:,.0f}" for d in golden_df["days"]]
        np.testing.assert_allclose(positions, golden_df["position"], atol=1e-4)


def test_schoenfeld_points_are_means_of_more_than_the_threshold():
    x = np.linspace(0, 1, 95)
    y = np.sin(x)
    means_df = zph.binned_means(x, y, 20)
    assert len(means_df) == 4  # 95 // 21
    parts = np.array_split(np.arange(95), 4)
    assert min(len(p) for p in parts) > 20
    np.testing.assert_allclose(means_df["y"], [y[p].mean() for p in parts])


def _expected_truth(run_dir: Path, effects_df: pd.DataFrame) -> pd.DataFrame:
    """Coverage of TRD vs trMDD in wgs_european, computed here from the raw tables."""
    assoc_df = pd.read_parquet(run_dir / "results/associations.parquet")
    rows_df = assoc_df[(assoc_df["cohort"] == "wgs_european")
                       & (assoc_df["contrast"] == "TRD_vs_trMDD") & (assoc_df["stratum"] == "all")
                       & (assoc_df["trd_def"] == "trd_1") & (assoc_df["trmdd_def"] == "trmdd_1")
                       & assoc_df["converged"]]  # fmt: skip
    merged_df = rows_df.merge(effects_df, on="trait")
    z = stats.norm.ppf(0.975)
    expected = merged_df["marginal_log_or_trd_vs_trmdd_wgs_european"]
    covered = (merged_df["beta"] - z * merged_df["se"] <= expected) & (
        expected <= merged_df["beta"] + z * merged_df["se"]
    )
    # null: nothing planted on the trait and no expected marginal effect either
    null = (merged_df["log_or_trd_vs_trmdd"] == 0) & (expected == 0)
    assert 0 < null.sum() < (merged_df["log_or_trd_vs_trmdd"] == 0).sum()  # the rule matters
    return pd.Series({
        "n": len(merged_df), "covered": int(covered.sum()), "n_null": int(null.sum()),
        "false_positives": int((null & (merged_df["p"] < SIGNIFICANCE)).sum()),
        "nominal": int((null & (merged_df["p"] < 0.05)).sum()),
    })  # fmt: skip


def test_truth_section_sets_estimates_beside_the_planted_effects(simulated):
    run_dir, effects_df, _, page = simulated
    assert '<section id="truth">' in page
    expected = _expected_truth(run_dir, effects_df)
    block = page.split('<section id="truth">')[1].split("</section>")[0]
    row = block.split(f"<td>TRD vs trMDD (log OR per SD)</td><td>{label('wgs_european')}</td>")[1]
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:6]]
    n, covered = expected["n"], expected["covered"]
    assert cells[0] == f"{covered} of {n} ({100 * covered / n:.0f}%)"
    n_null = expected["n_null"]
    assert cells[3] == (f"{expected['false_positives']} of {n_null} "
                        f"({100 * expected['false_positives'] / n_null:.0f}%)")  # fmt: skip
    assert cells[4].startswith(f"{expected['nominal']} of {n_null} ")
    shared_df = pd.read_csv(run_dir / "_report/tables/truth_beside_estimate.csv")
    assert not any(c.startswith("n_") or c == "n" for c in shared_df.columns)  # no counts


def test_no_truth_section_without_a_truth_folder(simulated, tmp_path):
    run_dir, _, _, _ = simulated
    copy_dir = tmp_path / "run"
    shutil.copytree(run_dir, copy_dir, ignore=shutil.ignore_patterns("_*", "truth"))
    results, _ = build(copy_dir, copy_dir / "_report")
    assert "truth" not in {r.section.anchor for r in results}
    assert '<section id="truth">' not in (copy_dir / "_report/index.html").read_text()


def test_replication_shows_cox_replication_and_slopes(simulated):
    run_dir, _, _, page = simulated
    replication_df = pd.read_parquet(run_dir / "results/replication.parquet")
    block = page.split('<section id="replication">')[1].split("</section>")[0]
    assert "replication_cox.png" in block and "eFigure 6" in block
    for row in replication_df.to_dict("records"):
        slope = f"{row['slope']:.2f} [{row['slope_ci_low']:.2f}, {row['slope_ci_high']:.2f}]"
        assert f"<td>{slope}</td>" in block
    cox_df = replication_df[replication_df["analysis"] == "survival"]
    assert len(cox_df) == 2  # microarray against WGS European and against the pooled WGS
    assert "WGS (European + Diverse, pooled): the WGS cohorts WGS European and WGS Diverse" in block


def test_table2_explains_an_r2_of_100(simulated):
    _, _, _, page = simulated
    block = page.split('<section id="table2">')[1].split("</section>")[0]
    assert "τ² as 0" in block
    assert "Meta slope [95% CI]" in block


def test_figure2_names_its_cohort_and_shows_the_residual_check(simulated):
    _, _, _, page = simulated
    block = page.split('<section id="figure2">')[1].split("</section>")[0]
    assert "figure2_schoenfeld.png" in block and "GLOBAL p" in block
    assert f"Kaplan-Meier in {label('wgs')}" in block
    assert "the same rule as Figure 1" in block
    assert all(f"figure2_km_{t}.png" in block for t in KM_TRAITS[:2])


def test_attrition_boxes_say_what_remains(simulated):
    _, _, _, page = simulated
    block = page.split('<section id="qc">')[1].split("</section>")[0]
    assert "remain after" in block


def test_a_simulated_studys_report_passes_the_audit(simulated):
    # the truth section adds no count of persons, and breaks none of the page's counts
    run_dir, _, _, page = simulated
    assert audit_report(str(run_dir / "_report")) == []
    block = page.split('<section id="truth">')[1].split("</section>")[0]
    assert 'class="count"' not in block and "data-cell" not in block
