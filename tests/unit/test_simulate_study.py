"""The EHR side of the simulated study (no Hail needed): layout, determinism, planted sizes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trd_spark.config import load_config
from trd_spark.errors import InputError
from trd_spark.resources import conf_path
from trd_spark.simulate.genetics import (
    simulate_genetics,
    write_ancestry,
    write_variant_truth,
)
from trd_spark.simulate.persons import build_persons
from trd_spark.simulate.scales import get_scale
from trd_spark.simulate.study import simulate_study
from trd_spark.simulate.weights import alt_weights, write_prscs_files

# OMOP CDM v5.3 columns the pipeline reads, with the types the CDM gives them.
OMOP_COLUMNS = {
    "person": {
        "person_id": pa.int64(),
        "gender_concept_id": pa.int32(),
        "year_of_birth": pa.int32(),
        "race_concept_id": pa.int32(),
        "ethnicity_concept_id": pa.int32(),
        "sex_at_birth_concept_id": pa.int32(),
    },
    "observation_period": {
        "observation_period_id": pa.int64(),
        "person_id": pa.int64(),
        "observation_period_start_date": pa.date32(),
        "observation_period_end_date": pa.date32(),
        "period_type_concept_id": pa.int32(),
    },
    "visit_occurrence": {
        "visit_occurrence_id": pa.int64(),
        "person_id": pa.int64(),
        "visit_concept_id": pa.int32(),
        "visit_start_date": pa.date32(),
        "visit_end_date": pa.date32(),
    },
    "condition_occurrence": {
        "condition_occurrence_id": pa.int64(),
        "person_id": pa.int64(),
        "condition_concept_id": pa.int32(),
        "condition_start_date": pa.date32(),
        "condition_source_value": pa.string(),
        "condition_source_concept_id": pa.int32(),
        "visit_occurrence_id": pa.int64(),
    },
    "drug_exposure": {
        "drug_exposure_id": pa.int64(),
        "person_id": pa.int64(),
        "drug_concept_id": pa.int32(),
        "drug_exposure_start_date": pa.date32(),
        "drug_exposure_end_date": pa.date32(),
        "days_supply": pa.int32(),
        "drug_type_concept_id": pa.int32(),
    },
    "procedure_occurrence": {
        "procedure_occurrence_id": pa.int64(),
        "person_id": pa.int64(),
        "procedure_concept_id": pa.int32(),
        "procedure_date": pa.date32(),
        "procedure_source_value": pa.string(),
        "procedure_source_concept_id": pa.int32(),
    },
    "concept": {
        "concept_id": pa.int32(),
        "concept_name": pa.string(),
        "domain_id": pa.string(),
        "vocabulary_id": pa.string(),
        "concept_class_id": pa.string(),
        "standard_concept": pa.string(),
        "concept_code": pa.string(),
        "valid_start_date": pa.date32(),
        "valid_end_date": pa.date32(),
    },
    "concept_ancestor": {
        "ancestor_concept_id": pa.int32(),
        "descendant_concept_id": pa.int32(),
        "min_levels_of_separation": pa.int32(),
        "max_levels_of_separation": pa.int32(),
    },
}


@pytest.fixture(scope="module")
def ehr_study(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ehr-study")
    simulate_study(str(out), scale="tiny", seed=11, parts=("ehr",))
    return out


def content(root: Path) -> dict[str, object]:
    """Every Parquet table (as Arrow) and text file under the study, by relative path."""
    found: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix == ".parquet":
            found[str(path.relative_to(root))] = pq.read_table(path)
        elif path.suffix in (".tsv", ".yaml"):
            found[str(path.relative_to(root))] = path.read_bytes()
    return found


def test_same_seed_same_content_other_seed_differs(ehr_study, tmp_path):
    again = tmp_path / "again"
    simulate_study(str(again), scale="tiny", seed=11, parts=("ehr",))
    first, second = content(ehr_study), content(again)
    assert first.keys() == second.keys() and len(first) > 10
    for key, value in first.items():
        assert value.equals(second[key]) if isinstance(value, pa.Table) else value == second[key], (
            key
        )
    other = tmp_path / "other"
    simulate_study(str(other), scale="tiny", seed=12, parts=("ehr",))
    third = content(other)
    assert not first["data/omop/drug_exposure/part-00000.parquet"].equals(
        third["data/omop/drug_exposure/part-00000.parquet"]
    )


def test_non_empty_folder_needs_overwrite(ehr_study):
    with pytest.raises(InputError, match="--overwrite") as err:
        simulate_study(str(ehr_study), scale="tiny", seed=11, parts=("ehr",))
    assert str(ehr_study) in str(err.value)


@pytest.mark.parametrize("table", sorted(OMOP_COLUMNS))
def test_omop_tables_have_cdm_columns_and_types(ehr_study, table):
    schema = pq.read_table(ehr_study / "data" / "omop" / table).schema
    for name, kind in OMOP_COLUMNS[table].items():
        assert schema.field(name).type == kind, (table, name)


def test_config_loads_with_relative_paths(ehr_study):
    config = load_config(ehr_study / "config.yaml")
    assert Path(config.output_dir) == ehr_study.resolve()
    assert Path(config.omop.path) == (ehr_study / "data" / "omop").resolve()
    assert set(config.cohorts) == {"wgs_european", "wgs_diverse", "microarray"}
    assert config.spark.master == "local[*]"


def test_planted_sizes_and_statuses(ehr_study):
    sizes = get_scale("tiny")
    truth = pd.read_parquet(ehr_study / "truth" / "persons.parquet")
    ehr = truth[truth["has_ehr"]]
    assert (ehr["platform"] == "wgs").sum() == sizes.n_wgs_eur + sizes.n_wgs_diverse
    assert (ehr["platform"] == "array").sum() == sizes.n_array
    assert ehr["platform"].isna().sum() == sizes.n_ehr_only
    assert (~truth["has_ehr"]).sum() == sizes.n_no_ehr + sizes.n_person_only
    assert (truth["has_ehr"] == truth["planned_has_ehr"]).all()
    person = pd.read_parquet(ehr_study / "data" / "omop" / "person")
    assert set(person["person_id"]) == set(truth["person_id"])  # every person, EHR or not
    for unit, unit_df in ehr.groupby(ehr["cohort"].fillna("none")):
        n_trd = round(sizes.fractions.trd * len(unit_df))
        assert (unit_df["planned_group"] == "trd").sum() == n_trd, unit
        # every planned TRD person shows trd_1 with the planned onset; nobody else in mdd_1 does
        planned = unit_df[unit_df["planned_group"] == "trd"]
        assert planned["trd_1"].all() and planned["mdd_1"].all()
        onset = pd.to_datetime(planned["trd_1_onset"]) - pd.to_datetime(planned["first_mdd_date"])
        np.testing.assert_array_equal(
            onset.dt.days.to_numpy(), planned["planned_time_to_trd"].to_numpy()
        )
        assert (unit_df["mdd_1"] & unit_df["trd_1"]).sum() == n_trd
    women = ehr[ehr["sex"].notna()]
    assert (women.loc[~women["non_mdd"], "sex"] == "female").mean() > (
        women.loc[women["non_mdd"], "sex"] == "female"
    ).mean()


def test_a_quarter_of_person_rows_have_no_ehr_record_in_any_table(ehr_study):
    omop = ehr_study / "data" / "omop"
    person = pd.read_parquet(omop / "person")
    with_rows = set()
    for table in ("condition_occurrence", "drug_exposure", "procedure_occurrence",
                  "visit_occurrence", "observation_period"):  # fmt: skip
        with_rows |= set(pd.read_parquet(omop / table, columns=["person_id"])["person_id"])
    without = ~person["person_id"].isin(with_rows)
    assert 0.2 < without.mean() < 0.3
    truth = pd.read_parquet(ehr_study / "truth" / "persons.parquet").set_index("person_id")
    assert set(person.loc[without, "person_id"]) == set(truth.index[~truth["has_ehr"]])
    assert not truth.loc[~truth["has_ehr"], "non_mdd"].any()  # no EHR: never a control


def test_truth_matches_duckdb_reading_of_omop(ehr_study):
    duckdb = pytest.importorskip("duckdb")
    omop = ehr_study / "data" / "omop"
    sql = f"""
        with codes as (
          select c.person_id, c.condition_start_date as d,
                 upper(replace(coalesce(case when c.condition_source_concept_id <> 0 then k.concept_code end,
                                        c.condition_source_value), '.', '')) as code,
                 coalesce(case when c.condition_source_concept_id <> 0 then k.vocabulary_id end,
                          case when regexp_matches(upper(c.condition_source_value), '^[0-9EV]') then 'ICD9CM'
                               else 'ICD10CM' end) as vocab
          from read_parquet('{omop}/condition_occurrence/*.parquet') c
          left join read_parquet('{omop}/concept/*.parquet') k on k.concept_id = c.condition_source_concept_id),
        maps as (select * from read_parquet('{omop}/concept_relationship/*.parquet') where relationship_id = 'Maps to'),
        icd as (
          select concept_id, (vocabulary_id = 'ICD10CM' and (regexp_matches(replace(concept_code, '.', ''), '^F32[0-59]')
                 or regexp_matches(replace(concept_code, '.', ''), '^F33[0-489]')))
                 or (vocabulary_id = 'ICD9CM' and regexp_matches(replace(concept_code, '.', ''), '^296[23]')) as mdd
          from read_parquet('{omop}/concept/*.parquet') where vocabulary_id in ('ICD9CM', 'ICD10CM')),
        mdd_standard as (
          select m.concept_id_2 from icd join maps m on m.concept_id_1 = icd.concept_id
          group by m.concept_id_2 having bool_and(icd.mdd)),
        mdd_snomed as (
          select m.concept_id_1 as concept_id from maps m join mdd_standard s using (concept_id_2)
          join read_parquet('{omop}/concept/*.parquet') k on k.concept_id = m.concept_id_1
          where k.vocabulary_id = 'SNOMED')
        select person_id, count(distinct d) as n, min(d) as first from codes
        where (vocab = 'ICD10CM' and (regexp_matches(code, '^F32[0-59]') or regexp_matches(code, '^F33[0-489]')))
           or (vocab = 'ICD9CM' and regexp_matches(code, '^296[23]'))
           or (vocab = 'SNOMED' and code in (select cast(concept_id as varchar) from mdd_snomed))
        group by person_id"""
    expected = duckdb.sql(sql).df().set_index("person_id")
    truth = pd.read_parquet(ehr_study / "truth" / "persons.parquet").set_index("person_id")
    with_mdd = truth[truth["n_mdd_dates"].fillna(0) > 0]
    assert set(with_mdd.index) == set(expected.index)
    np.testing.assert_array_equal(
        with_mdd["n_mdd_dates"].to_numpy(), expected.loc[with_mdd.index, "n"].to_numpy()
    )
    assert (
        pd.to_datetime(with_mdd["first_mdd_date"])
        == pd.to_datetime(expected.loc[with_mdd.index, "first"])
    ).all()


def test_genotype_blocks_are_deterministic_without_hail(tmp_path):
    sizes = dataclasses.replace(get_scale("tiny"), n_sites=600)
    traits = pd.read_csv(conf_path("traits.tsv"), sep="\t")
    persons = build_persons(np.random.default_rng([3, 1]), sizes)
    runs = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        genetics = simulate_genetics(root, 3, sizes, persons, traits, True)
        write_ancestry(genetics, root, persons)
        write_prscs_files(root / "data" / "weights", genetics.traits, genetics.weights.sites_df,
                          alt_weights(genetics.weights, genetics.gv_sd))  # fmt: skip
        write_variant_truth(genetics, root)
        files = {
            str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
        }
        runs.append((genetics, files))
    (first, files_a), (second, files_b) = runs
    assert {
        "_work/wgs.bed",
        "_work/array.bim",
        "data/ancestry_preds.tsv",
        "truth/variants.parquet",
        "truth/weights.parquet",
        "data/weights/insomnia_pst_eff_a1_b0.5_phiauto_chr1.txt",
    } <= set(files_a)
    assert files_a == files_b
    np.testing.assert_array_equal(first.genetic_values, second.genetic_values)
    np.testing.assert_allclose(first.genetic_values.std(0), 1.0)
    gv_only = simulate_genetics(tmp_path / "c", 3, sizes, persons, traits, False)
    np.testing.assert_allclose(gv_only.genetic_values, first.genetic_values)
    # European weights track the European set well and the Diverse set less well
    european, diverse = first.pgs_correlation["wgs_european"], first.pgs_correlation["wgs_diverse"]
    assert np.all(european > 0.7) and np.median(european) - np.median(diverse) > 0.15


def test_overwrite_replaces_a_study_but_keeps_foreign_files(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "stale.txt").write_text("old")
    (tmp_path / "notes.txt").write_text("mine")
    simulate_study(str(tmp_path), scale="tiny", seed=1, parts=("ehr",), overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "data" / "stale.txt").exists()
    assert (tmp_path / "truth" / "persons.parquet").is_file()


def test_unknown_scale_and_part_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="huge"):
        simulate_study(str(tmp_path / "a"), scale="huge")
    with pytest.raises(InputError, match="phenotypes"):
        simulate_study(str(tmp_path / "b"), scale="tiny", parts=("phenotypes",))


def test_realistic_density_adds_hundreds_of_rows_and_changes_no_status(ehr_study, tmp_path):
    simulate_study(str(tmp_path), scale="tiny", seed=11, parts=("ehr",), ehr_density="realistic")
    sparse = pd.read_parquet(ehr_study / "truth" / "persons.parquet").set_index("person_id")
    dense = pd.read_parquet(tmp_path / "truth" / "persons.parquet").set_index("person_id")
    statuses = ["has_ehr", "non_mdd", "mdd_1", "mdd_3", "treated_trd_2", "trd_1", "trd_5",
                "n_mdd_dates", "first_mdd_date", "trd_1_onset"]  # fmt: skip
    pd.testing.assert_frame_equal(sparse[statuses], dense[statuses])
    tables = ("visit_occurrence", "condition_occurrence", "drug_exposure", "procedure_occurrence")
    rows = sum(len(pd.read_parquet(tmp_path / "data" / "omop" / t)) for t in tables)
    per_person = rows / dense["has_ehr"].sum()
    assert 250 < per_person < 700, per_person
    assert "realistic" in (tmp_path / "README.md").read_text()
