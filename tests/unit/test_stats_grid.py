"""Association grid, replication and Table 2 against statsmodels and hand computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from tests.helpers.stats_inputs import simulate_cohort_persons
from trd_spark.stats.analysis import AnalysisTable, build_analysis_table
from trd_spark.stats.grid import (
    ASSOCIATION_COLUMNS,
    Design,
    enumerate_designs,
    fit_design,
    replicate,
    run_association_grid,
    sensitivity_table,
)
from trd_spark.study import treated_column

TRAITS = ["insomnia", "educational_attainment", "major_depression", "height"]
PCS = [f"pc{i}" for i in range(1, 17)]


def make_table(cohort: str, n: int, seed: int, traits: list[str] = TRAITS) -> AnalysisTable:
    rng = np.random.default_rng(seed)
    pgs_df, persons_df = simulate_cohort_persons(rng, cohort, n, seed * 100_000, traits)
    cohorts_df = pd.DataFrame(
        {"person_id": pgs_df.person_id, "cohort": cohort}
        | {pc: rng.normal(scale=0.02, size=n) for pc in PCS}
    )
    return build_analysis_table(cohort, cohorts_df, pgs_df, persons_df, traits)


@pytest.fixture(scope="module")
def table() -> AnalysisTable:
    return make_table("disc", 3000, seed=1)


def reference_fit(table: AnalysisTable, design: Design, trait: str):
    """statsmodels GLM on the same persons, built from the definitions directly."""
    d = table.data_df
    mdd = d[design.trmdd_def.replace("trmdd", "mdd")]
    trd = mdd & d[design.trd_def]
    trmdd = mdd & d[treated_column(design.trd_def)] & ~d[design.trd_def]
    keep = trd | trmdd
    if design.stratum in ("female", "male"):
        keep &= d.sex == (1.0 if design.stratum == "male" else 0.0)
    sub = d[keep]
    columns = [sub[trait]]
    if design.stratum == "pgs_x_sex":
        columns.append(sub[trait] * sub.sex)
    covariates = PCS + ([] if design.stratum in ("female", "male") else ["sex"]) + ["age"]
    X = np.column_stack([*columns, np.ones(len(sub)), sub[covariates].to_numpy(float)])
    fit = sm.GLM(trd[keep].astype(float), X, family=sm.families.Binomial()).fit(tol=1e-12)
    term = 1 if design.stratum == "pgs_x_sex" else 0
    params, bse = np.asarray(fit.params), np.asarray(fit.bse)
    return params[term], bse[term], int(trd[keep].sum()), int(trmdd[keep].sum())


@pytest.mark.parametrize("stratum", ["all", "female", "male", "pgs_x_sex"])
def test_design_equals_statsmodels(table: AnalysisTable, stratum: str) -> None:
    design = Design("disc", "TRD_vs_trMDD", "trd_2", "trmdd_2", stratum)
    frame = fit_design(table, design).set_index("trait")
    for trait in TRAITS:
        beta, se, n_cases, n_controls = reference_fit(table, design, trait)
        assert frame.loc[trait, "beta"] == pytest.approx(beta, rel=1e-6)
        assert frame.loc[trait, "se"] == pytest.approx(se, rel=1e-6)
        assert frame.loc[trait, "n_cases"] == n_cases
        assert frame.loc[trait, "n_controls"] == n_controls
        assert frame.loc[trait, "converged"]


def test_contrast_with_zero_cases_is_flagged(table: AnalysisTable) -> None:
    data_df = table.data_df.copy()
    data_df["trd_3"] = False
    empty = AnalysisTable("disc", data_df, table.raw_pgs_df, table.traits)
    frame = fit_design(empty, Design("disc", "TRD_vs_nonMDD", "trd_3", "trmdd_1"))
    assert (frame.n_cases == 0).all()
    assert (frame.status == "no_cases").all()
    assert not frame.converged.any()
    assert frame.beta.isna().all()


def test_constant_pgs_is_flagged_others_fitted() -> None:
    rng = np.random.default_rng(4)
    pgs_df, persons_df = simulate_cohort_persons(rng, "c", 1500, 1, TRAITS)
    pgs_df["height"] = 1.0
    cohorts_df = pd.DataFrame(
        {"person_id": pgs_df.person_id, "cohort": "c"} | {pc: rng.normal(size=1500) for pc in PCS}
    )
    table = build_analysis_table("c", cohorts_df, pgs_df, persons_df, TRAITS)
    frame = fit_design(table, Design("c", "TRD_vs_trMDD", "trd_1", "trmdd_1")).set_index("trait")
    assert frame.loc["height", "status"] == "constant_pgs"
    assert not frame.loc["height", "converged"]
    assert frame.drop(index="height").converged.all()


def test_grid_layout_and_flags(table: AnalysisTable) -> None:
    designs = enumerate_designs(["disc", "rep1", "rep2"], "disc")
    assert len(designs) == 3 * 3 + 14 + 3 * 3  # primary contrasts, 14 more combinations, sex
    assert len(set(designs)) == len(designs)
    grid = run_association_grid({"disc": table}, [d for d in designs if d.cohort == "disc"])
    assert list(grid.columns) == ASSOCIATION_COLUMNS
    assert len(grid) == (3 + 14 + 3) * len(TRAITS)
    expected_sig = grid.converged & (grid.p < 1e-5)
    assert (grid.significant == expected_sig).all()
    np.testing.assert_allclose(grid.odds_ratio, np.exp(grid.beta))


def test_trait_in_one_cohort_only_is_analysed_where_present(table: AnalysisTable) -> None:
    rep = make_table("rep", 2500, seed=2, traits=["insomnia", "educational_attainment", "height"])
    designs = enumerate_designs(["disc", "rep"], "disc", sex_stratified=False)
    grid = run_association_grid({"disc": table, "rep": rep}, designs)
    assert set(grid.trait[grid.cohort == "rep"]) == {"insomnia", "educational_attainment", "height"}
    assert "major_depression" in set(grid.trait[grid.cohort == "disc"])
    replication = replicate(grid, "disc")
    assert (replication.k == 3).all()
    assert set(replication.contrast) == {"trMDD_vs_nonMDD", "TRD_vs_nonMDD", "TRD_vs_trMDD"}


def test_sensitivity_table_by_hand(table: AnalysisTable) -> None:
    designs = [d for d in enumerate_designs(["disc"], "disc", sex_stratified=False)]
    grid = run_association_grid({"disc": table}, designs, significance=0.05)
    t2 = sensitivity_table(grid, "disc").set_index(["trd_def", "trmdd_def"])
    assert len(t2) == 15
    rows = grid[(grid.contrast == "TRD_vs_trMDD") & (grid.stratum == "all")]
    primary = set(
        rows.trait[(rows.trd_def == "trd_1") & (rows.trmdd_def == "trmdd_1") & (rows.p < 0.05)]
    )
    for (k, j), row in t2.iterrows():
        combo = rows[(rows.trd_def == k) & (rows.trmdd_def == j)]
        sig = set(combo.trait[combo.p < 0.05])
        assert row.n_significant == len(sig)
        assert row.n_trd == combo.n_cases.iloc[0]
        assert row.n_trmdd == combo.n_controls.iloc[0]
        if primary:
            assert row.overlap_pct == pytest.approx(100 * len(sig & primary) / len(primary))
    mdd = table.data_df.mdd_1
    assert t2.loc[("trd_1", "trmdd_1"), "n_trd"] == (mdd & table.data_df.trd_1).sum()
