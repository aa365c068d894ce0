"""The analyze stage end to end on synthetic per-person inputs with planted effects.

The inputs are the files the earlier stages write (qc/cohorts.parquet, pgs/<cohort>.parquet,
phenotypes/persons.parquet, phenotypes/time_to_event.parquet), drawn by
tests.helpers.stats_inputs with the paper's directions planted.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.helpers.stats_inputs import write_synthetic_inputs
from trd_spark.config import Config, config_from_dict
from trd_spark.errors import InputError
from trd_spark.stats.stage import run_analyze

pytestmark = pytest.mark.integration

RAISE_TRD = ["insomnia", "neuroticism", "depressed_mood", "unenthusiasm", "lethargy", "tenseness"]
LOWER_TRD = ["educational_attainment", "cognitive_performance", "intelligence"]
PSYCHIATRIC = ["major_depression", "schizophrenia", "bipolar_disorder", "anxiety", "adhd"]
OTHER = ["height", "body_mass_index"]
TRAITS = RAISE_TRD + LOWER_TRD + PSYCHIATRIC + OTHER
CONTRACT = {
    "associations": ["cohort", "contrast", "trd_def", "trmdd_def", "stratum", "trait", "beta",
                     "se", "odds_ratio", "ci_low", "ci_high", "p", "n_cases", "n_controls",
                     "converged", "significant"],
    "replication": ["contrast", "cohort", "reference_cohort", "k", "tau2", "tau2_null", "r2",
                    "qe", "qe_p", "qm", "qm_p", "analysis", "intercept", "intercept_se", "slope",
                    "slope_se", "slope_ci_low", "slope_ci_high", "slope_p"],
    "sensitivity": ["trd_def", "trmdd_def", "n_trmdd", "n_trd", "meta_r2", "n_significant",
                    "overlap_pct", "meta_slope", "meta_slope_ci_low", "meta_slope_ci_high"],
    "schoenfeld": ["cohort", "trait", "term", "time", "transformed_time", "residual"],
    "survival": ["cohort", "trait", "term", "hr", "ci_low", "ci_high", "p", "n", "n_events",
                 "zph_chisq", "zph_p"],
    "km": ["trait", "stratum", "time", "survival", "ci_low", "ci_high", "at_risk"],
    "attrition": ["cohort", "step", "n_persons", "n_rows_dropped", "reason"],
}  # fmt: skip


def make_config(out: Path, traits: list[str], **analysis: object) -> Config:
    catalog = out / "traits.tsv"
    catalog_df = pd.DataFrame({"trait": traits, "label": traits, "domain": "other", "source": ""})
    catalog_df.to_csv(catalog, sep="\t", index=False)
    return config_from_dict(
        {
            "output_dir": str(out),
            "genotypes": {"wgs": {"path": "wgs.mt"}, "array": {"path": "array.mt"}},
            "ancestry": "ancestry_preds.tsv",
            "weights": {"path": "weights", "traits": str(catalog)},
            "omop": {"path": "omop"},
            "analysis": analysis,
        }
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("analyze")
    sizes = {"wgs_european": 12000, "wgs_diverse": 6000, "microarray": 6000}
    write_synthetic_inputs(str(out), TRAITS, sizes=sizes, seed=3)
    # a trait scored in the discovery cohort only
    pgs = pd.read_parquet(out / "pgs" / "microarray.parquet")
    pgs.drop(columns=["height", "height_n", "height_z"]).to_parquet(
        out / "pgs" / "microarray.parquet"
    )
    summary = run_analyze(make_config(out, TRAITS), str(out / "staging"))
    return out / "staging" / "results", summary


def table(results: tuple[Path, dict], name: str) -> pd.DataFrame:
    return pd.read_parquet(results[0] / f"{name}.parquet")


def test_outputs_have_the_contract_columns(results: tuple[Path, dict]) -> None:
    for name, columns in CONTRACT.items():
        frame = table(results, name)
        assert list(frame.columns[: len(columns)]) == columns or set(columns) <= set(frame)
        assert len(frame) > 0, name


def test_planted_directions_trd_vs_trmdd(results: tuple[Path, dict]) -> None:
    assoc = table(results, "associations")
    primary = assoc[
        (assoc.cohort == "wgs_european") & (assoc.contrast == "TRD_vs_trMDD")
        & (assoc.trd_def == "trd_1") & (assoc.trmdd_def == "trmdd_1") & (assoc.stratum == "all")
    ].set_index("trait")  # fmt: skip
    assert primary.converged.all()
    assert (primary.loc[RAISE_TRD, "odds_ratio"] > 1).all()
    assert (primary.loc[LOWER_TRD, "odds_ratio"] < 1).all()
    assert (primary.loc[PSYCHIATRIC, "p"] > 1e-3).all()
    md = assoc[(assoc.cohort == "wgs_european") & (assoc.contrast == "trMDD_vs_nonMDD")]
    assert md.set_index("trait").loc["major_depression", "significant"]


def test_replication_r2_is_high(results: tuple[Path, dict]) -> None:
    rep = table(results, "replication")
    logistic = rep[rep.analysis == "logistic"].set_index(["contrast", "cohort"])
    assert (logistic.loc["TRD_vs_trMDD", "r2"] > 50).all()
    assert logistic.loc[("TRD_vs_trMDD", "microarray"), "k"] == len(TRAITS) - 1
    assert logistic.loc[("TRD_vs_trMDD", "wgs_diverse"), "k"] == len(TRAITS)
    assert (logistic.loc["TRD_vs_trMDD", "slope"] > 0).all()
    assert (rep.slope_ci_low < rep.slope).all() and (rep.slope < rep.slope_ci_high).all()


def test_survival_replication_rows(results: tuple[Path, dict]) -> None:
    rep = table(results, "replication")
    survival = rep[rep.analysis == "survival"]
    assert set(survival.contrast) == {"time_to_trd"}
    pairs = set(zip(survival.cohort, survival.reference_cohort, strict=True))
    assert pairs == {("wgs_diverse", "wgs_european"), ("microarray", "wgs_european"),
                     ("microarray", "wgs")}  # fmt: skip
    k = survival.set_index(["cohort", "reference_cohort"]).k
    assert k[("wgs_diverse", "wgs_european")] == len(TRAITS)
    assert k[("microarray", "wgs")] == len(TRAITS) - 1  # height is not scored on the array
    assert survival.slope.notna().all() and survival.tau2.notna().all()


def test_schoenfeld_residuals_of_the_figure_traits(results: tuple[Path, dict]) -> None:
    resid = table(results, "schoenfeld")
    assert set(resid.trait) == {"educational_attainment", "insomnia"}
    assert set(resid.term) == {"pgs_20_80", "pgs_80_100", "pgs_per_sd"}
    surv = table(results, "survival").set_index(["cohort", "trait", "term"])
    sizes = resid.groupby(["cohort", "trait", "term"]).size()
    for key, size in sizes.items():
        assert size == surv.loc[key, "n_events"]
    assert resid.transformed_time.between(0, 1).all()


def test_the_pgs_adjustment_is_recorded(results: tuple[Path, dict]) -> None:
    assert results[1]["pgs_adjust"] == "none"
    assert set(table(results, "associations").pgs_adjust) == {"none"}
    surv = table(results, "survival")
    assert set(surv.pgs_adjust) == {"none"}
    assert set(surv.pgs_scale[surv.cohort == "wgs"]) == {"within_cohort"}
    assert len(pd.read_parquet(results[0] / "pgs_adjustment.parquet")) == 0


@pytest.mark.parametrize("method", ["z_norm1", "z_norm2"])
def test_calibrated_pgs_run(tmp_path: Path, method: str) -> None:
    sizes = {"wgs_european": 3000, "wgs_diverse": 2000, "microarray": 1500}
    traits = ["insomnia", "educational_attainment", "height"]
    write_synthetic_inputs(str(tmp_path), traits, sizes=sizes, seed=5)
    summary = run_analyze(make_config(tmp_path, traits, pgs_adjust=method),
                          str(tmp_path / "staging"))  # fmt: skip
    out = tmp_path / "staging" / "results"
    record = pd.read_parquet(out / "pgs_adjustment.parquet").set_index(["platform", "trait"])
    assert summary["pgs_adjust"] == method
    assert len(record) == 6 and set(record.method) == {method}
    # WGS: the 2% with projected PCs are left out of the reference; array: all are projected
    assert set(record.loc["wgs", "reference"]) == {"not_projected"}
    assert set(record.loc["array", "reference"]) == {"all"}
    persons = summary["persons"]
    n_wgs = persons["wgs_european"] + persons["wgs_diverse"]
    assert (record.loc["wgs", "n_calibrated"] == n_wgs).all()
    assert (record.loc["wgs", "n_reference"].between(0.95 * n_wgs, n_wgs - 1)).all()
    assert (record.loc["array", "n_calibrated"] == persons["microarray"]).all()
    assert (record.loc["array", "n_reference"] == persons["microarray"]).all()
    # calibrated scores are standardized within the cohort as raw ones are
    assoc = pd.read_parquet(out / "associations.parquet")
    assert assoc.converged.all() and set(assoc.pgs_adjust) == {method}
    surv = pd.read_parquet(out / "survival.parquet")
    assert set(surv.pgs_adjust) == {method}
    assert set(surv.pgs_scale) == {"within_set"}
    assert (surv.status == "ok").all()


def test_trait_in_one_cohort_only_is_reported(results: tuple[Path, dict]) -> None:
    summary = results[1]
    assert summary["traits_in_some_cohorts_only"] == ["height"]
    assoc = table(results, "associations")
    assert "height" not in set(assoc.trait[assoc.cohort == "microarray"])
    assert "height" in set(assoc.trait[assoc.cohort == "wgs_diverse"])


def test_education_top_quintile_lowers_hazard(results: tuple[Path, dict]) -> None:
    surv = table(results, "survival").set_index(["cohort", "trait", "term"])
    for cohort in ("wgs_european", "wgs"):
        assert surv.loc[(cohort, "educational_attainment", "pgs_80_100"), "hr"] < 1
    assert set(surv.index.get_level_values("cohort")) == {
        "wgs_european", "wgs_diverse", "microarray", "wgs"
    }  # fmt: skip
    pooled_n = surv.loc[("wgs", "insomnia", "pgs_per_sd"), "n"]
    single = [surv.loc[(c, "insomnia", "pgs_per_sd"), "n"] for c in ("wgs_european", "wgs_diverse")]
    assert pooled_n == sum(single)
    assert len(table(results, "time_to_trd")) == 4


def test_sensitivity_has_15_rows_and_attrition_adds_up(results: tuple[Path, dict]) -> None:
    t2 = table(results, "sensitivity")
    assert len(t2) == 15
    attrition = table(results, "attrition")
    for cohort, steps in attrition[~attrition.step.str.startswith("survival")].groupby("cohort"):
        start = steps.n_persons.iloc[0]
        assert steps.n_persons.iloc[-1] == start - steps.n_rows_dropped.sum()
        assert steps.n_persons.iloc[-1] == results[1]["persons"][cohort]


def test_missing_upstream_output_names_the_stage(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"qc/cohorts\.parquet not found.*--stages qc"):
        run_analyze(make_config(tmp_path, TRAITS), str(tmp_path / "staging"))
