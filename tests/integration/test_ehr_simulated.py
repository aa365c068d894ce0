"""The phenotype stage on the tiny simulated study equals the simulator's truth/."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from trd_spark.config import load_config
from trd_spark.ehr import stage
from trd_spark.ehr.definitions import comparison_groups_pandas
from trd_spark.ehr.stage import run_phenotype
from trd_spark.study import TRD_DEFS, TREATED_COLUMNS, TRMDD_DEFS, treated_column

pytestmark = pytest.mark.integration

STATUS = ["mdd_1", "mdd_2", "mdd_3", "treated", *TREATED_COLUMNS, "has_ehr", "non_mdd", *TRD_DEFS]
DATES = ["first_mdd_date", "end_of_observation", *(f"{d}_onset" for d in TRD_DEFS)]
NUMBERS = ["n_mdd_dates", "year_of_birth", "age", "age_at_diagnosis"]
TTE = ["origin_date", "onset_date", "end_of_observation", "event", "time_days", "included",
       "exclusion"]  # fmt: skip


def plain(value: Any) -> Any:
    if (
        value is None
        or value is pd.NaT
        or value is pd.NA
        or (isinstance(value, float) and math.isnan(value))
    ):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if hasattr(value, "item"):
        return plain(value.item())
    return value


@pytest.fixture(scope="module")
def phenotyped(tiny_study: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    config = load_config(tiny_study / "config.yaml")
    out = tmp_path_factory.mktemp("phenotype-stage")
    summary = run_phenotype(config, str(out))
    read = lambda name: pd.read_parquet(out / "phenotypes" / name)  # noqa: E731
    return {
        "out": out,
        "summary": summary,
        "persons": read("persons.parquet"),
        "tte": read("time_to_event.parquet"),
        "sizes": read("group_sizes.parquet"),
        "attrition": read("attrition.parquet"),
        "truth": pd.read_parquet(tiny_study / "truth" / "persons.parquet"),
        "truth_tte": pd.read_parquet(tiny_study / "truth" / "time_to_event.parquet"),
    }


def compare(got: pd.DataFrame, want: pd.DataFrame, columns: list[str]) -> None:
    merged = want.merge(got, on="person_id", how="left", suffixes=("_truth", ""))
    for column in [c for c in columns if c in want.columns]:
        w = [plain(v) for v in merged[f"{column}_truth"]]
        g = [plain(v) for v in merged[column]]
        bad = [(merged.person_id[i], g[i], w[i]) for i in range(len(w)) if g[i] != w[i]]
        assert not bad, f"{column}: {len(bad)} persons differ, first (id, ours, truth): {bad[:5]}"


def test_the_stage_leaves_its_outputs_and_no_scratch(phenotyped: dict[str, Any]) -> None:
    out = phenotyped["out"]
    written = sorted(f"phenotypes/{p.name}" for p in (out / "phenotypes").iterdir())
    assert written == sorted(phenotyped["summary"]["outputs"])
    assert not (out / "_scratch").exists()


def test_a_stage_that_fails_after_writing_its_scratch_removes_it(
    tiny_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(stage, "write_persons", fail)
    with pytest.raises(OSError, match="no space left"):
        run_phenotype(load_config(tiny_study / "config.yaml"), str(tmp_path))
    assert (tmp_path / "phenotypes" / "periods.parquet").is_dir()  # it got past the scratch
    assert not (tmp_path / "_scratch").exists()


def test_one_row_per_person(phenotyped: dict[str, Any]) -> None:
    persons, truth = phenotyped["persons"], phenotyped["truth"]
    assert persons.person_id.is_unique
    assert set(persons.person_id) == set(truth.person_id)


def test_every_status_onset_and_covariate_equals_truth(phenotyped: dict[str, Any]) -> None:
    compare(
        phenotyped["persons"],
        phenotyped["truth"],
        STATUS + DATES + NUMBERS + ["sex", "race", "ethnicity"],
    )


def test_time_to_event_equals_truth(phenotyped: dict[str, Any]) -> None:
    tte, truth = phenotyped["tte"], phenotyped["truth_tte"]
    assert set(tte.person_id) == set(truth.person_id)
    compare(tte, truth, TTE)


def test_group_sizes_are_the_counts_of_the_truth_groups(phenotyped: dict[str, Any]) -> None:
    sizes = phenotyped["sizes"].query("cohort == 'all'").set_index(["trd_def", "trmdd_def"])
    truth = phenotyped["truth"]
    assert len(sizes) == 15
    for trd in TRD_DEFS:
        for trmdd in TRMDD_DEFS:
            j = trmdd[-1]
            mdd = truth[f"mdd_{j}"].astype(bool)
            n_trd = int((mdd & truth[trd].astype(bool)).sum())
            treated = truth[treated_column(trd)].astype(bool)
            n_trmdd = int((mdd & treated & ~truth[trd].astype(bool)).sum())
            row = sizes.loc[(trd, trmdd)]
            assert (row.n_trd, row.n_trmdd) == (n_trd, n_trmdd)
            labels = comparison_groups_pandas(phenotyped["persons"], trd, trmdd)
            assert (labels == "TRD").sum() == n_trd
            controls = int(((truth.n_mdd_dates == 0) & truth.has_ehr).sum())
            assert (labels == "non-MDD").sum() == row.n_non_mdd == controls


def test_persons_without_ehr_are_counted_and_never_controls(phenotyped: dict[str, Any]) -> None:
    persons, attrition = phenotyped["persons"], phenotyped["attrition"]
    no_ehr = ~persons["has_ehr"]
    assert 0.2 < no_ehr.mean() < 0.3 and not persons.loc[no_ehr, "non_mdd"].any()
    row = attrition[(attrition.step == "persons") & attrition.reason.str.startswith("no EHR")]
    assert row.n_persons.tolist() == [int(no_ehr.sum())]


def test_pools_change_across_trd_definitions(phenotyped: dict[str, Any]) -> None:
    sizes = phenotyped["sizes"].query("cohort == 'all'").set_index(["trd_def", "trmdd_def"])
    pool = sizes.n_trd + sizes.n_trmdd
    assert pool.loc[("trd_2", "trmdd_1")] != pool.loc[("trd_1", "trmdd_1")]


def test_attrition_accounts_for_the_survival_subset(phenotyped: dict[str, Any]) -> None:
    attrition, tte = phenotyped["attrition"], phenotyped["tte"]
    steps = attrition[attrition.step == "time_to_event"]
    assert steps.n_persons.iloc[0] == len(tte)
    for reason, n in tte.exclusion.value_counts().items():
        assert int(steps.loc[steps.reason == reason, "n_rows_dropped"].iloc[0]) == n
