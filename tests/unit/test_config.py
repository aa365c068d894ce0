"""Config loading: study defaults, path resolution, and errors that name the key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from trd_spark.config import ConfigError, load_config
from trd_spark.errors import InputError
from trd_spark.resources import conf_dir

MINIMAL = """
output_dir: out
genotypes:
  wgs:   {path: data/wgs.mt, format: mt}
  array: {path: data/array.mt, format: mt}
ancestry: data/ancestry_preds.tsv
weights: {path: data/weights, format: prscs}
omop: {path: data/omop}
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_minimal_config_takes_the_study_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.qc.min_call_rate == 0.99
    assert config.qc.min_af == 0.005
    assert config.qc.min_pop_af == 0.01 and config.qc.min_pop_ac == 100
    assert config.analysis.significance == 1e-5 and config.analysis.n_pcs == 16
    assert config.analysis.pgs_adjust == "none" and config.analysis.pgs_adjust_pcs == 4
    assert (config.phenotypes.trd_1.gap_days, config.phenotypes.trd_1.window_days) == (182, 365)
    assert (config.phenotypes.trd_2.gap_days, config.phenotypes.trd_2.window_days) == (91, 365)
    assert (config.phenotypes.trd_3.gap_days, config.phenotypes.trd_3.window_days) == (182, 730)
    assert config.weights.min_overlap == 0.75 and not config.weights.keep_ambiguous
    assert config.report.suppress_small_counts and config.report.min_count == 20
    assert sorted(config.cohorts) == ["microarray", "wgs_diverse", "wgs_european"]
    assert config.cohorts["microarray"].exclude_in == ["wgs"]
    assert config.discovery_cohort == "wgs_european"


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    sub = tmp_path / "study"
    sub.mkdir()
    config = load_config(write(sub, MINIMAL))
    assert config.output_dir == str(sub / "out")
    assert config.genotypes["wgs"].path == str(sub / "data" / "wgs.mt")
    assert config.omop.path == str(sub / "data" / "omop")
    assert config.source == str(sub / "config.yaml")


def test_shipped_defaults_point_at_conf(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert Path(config.weights.traits) == conf_dir() / "traits.tsv"
    assert Path(config.phenotypes.code_lists) == conf_dir() / "code_lists"
    assert Path(config.weights.traits).is_file()


def test_remote_paths_are_left_alone(tmp_path: Path) -> None:
    text = MINIMAL.replace("output_dir: out", "output_dir: gs://bucket/run").replace(
        "data/omop", "s3://bucket/omop"
    )
    config = load_config(write(tmp_path, text))
    assert config.output_dir == "gs://bucket/run"
    assert config.omop.path == "s3://bucket/omop"


def test_environment_variables_are_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKSPACE_BUCKET", "gs://fc-secure-123")
    text = MINIMAL.replace("output_dir: out", "output_dir: ${WORKSPACE_BUCKET}/trd")
    assert load_config(write(tmp_path, text)).output_dir == "gs://fc-secure-123/trd"


def test_unset_environment_variable_names_key_and_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_VAR_TRD", raising=False)
    text = MINIMAL.replace("output_dir: out", "output_dir: ${NO_SUCH_VAR_TRD}/trd")
    with pytest.raises(ConfigError, match=r"'output_dir'.*NO_SUCH_VAR_TRD"):
        load_config(write(tmp_path, text))


def test_overrides_are_typed(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + """
qc: {min_call_rate: 0.95, multiallelic: split}
phenotypes: {gap_basis: end_to_start, cutoff_date: 2022-07-01, trd_2: {gap_days: 60, window_days: 365}}
spark: {master: "local[2]", conf: {spark.sql.shuffle.partitions: "4"}}
"""
    )
    config = load_config(write(tmp_path, text))
    assert config.qc.min_call_rate == 0.95 and config.qc.multiallelic == "split"
    assert config.phenotypes.gap_basis == "end_to_start"
    assert config.phenotypes.cutoff_date == dt.date(2022, 7, 1)
    assert config.phenotypes.trd_2.gap_days == 60
    assert config.spark.conf == {"spark.sql.shuffle.partitions": "4"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("qc: {min_call_rat: 0.9}", r"unknown key 'qc\.min_call_rat'"),
        ("colour: blue", r"unknown key 'colour'"),
        ("qc: {min_call_rate: high}", r"'qc\.min_call_rate' must be float, got 'high'"),
        ("qc: {min_pop_ac: 1.5}", r"'qc\.min_pop_ac' must be int"),
        ("qc: {snv_only: 'yes'}", r"'qc\.snv_only' must be bool"),
        ("qc: {multiallelic: keep}", r"'qc\.multiallelic' is 'keep'; allowed values: drop, split"),
        ("phenotypes: {cutoff_date: July}", r"'phenotypes\.cutoff_date' must be date"),
        ("phenotypes: {trd_1: {gap_days: 182}}", r"required key 'phenotypes\.trd_1\.window_days'"),
        ("analysis: [1, 2]", r"'analysis' must be a mapping"),
        (
            "analysis: {pgs_adjust: z_norm3}",
            r"'analysis\.pgs_adjust' is 'z_norm3'; allowed values: none, z_norm1, z_norm2",
        ),
        (
            "analysis: {pgs_adjust_pcs: 17}",
            r"'analysis\.pgs_adjust_pcs' is 17; it must be between 1",
        ),
    ],
)
def test_bad_keys_and_types_are_named(tmp_path: Path, extra: str, message: str) -> None:
    path = write(tmp_path, MINIMAL + extra + "\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_genotype_format_is_checked(tmp_path: Path) -> None:
    text = MINIMAL.replace("data/array.mt, format: mt", "data/array.pgen, format: pgen")
    with pytest.raises(ConfigError, match=r"'genotypes\.array\.format' is 'pgen'; allowed"):
        load_config(write(tmp_path, text))


def test_cohort_ancestry_value_is_checked(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + """
cohorts:
  eur: {genotypes: wgs, ancestry: [european], role: discovery}
"""
    )
    with pytest.raises(ConfigError, match=r"'cohorts\.eur\.ancestry\[0\]' is 'european'"):
        load_config(write(tmp_path, text))


def test_missing_required_section(tmp_path: Path) -> None:
    text = MINIMAL.replace("omop: {path: data/omop}\n", "")
    with pytest.raises(ConfigError, match=r"required key 'omop' is missing"):
        load_config(write(tmp_path, text))


def test_cohort_on_unknown_platform(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + """
cohorts:
  eur: {genotypes: wes, ancestry: [eur], role: discovery}
"""
    )
    with pytest.raises(ConfigError, match=r"'cohorts\.eur\.genotypes' names platform 'wes'"):
        load_config(write(tmp_path, text))


def test_exactly_one_discovery_cohort(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + """
cohorts:
  a: {genotypes: wgs, role: replication}
  b: {genotypes: array, role: replication}
"""
    )
    with pytest.raises(ConfigError, match="exactly one cohort must have role 'discovery'"):
        load_config(write(tmp_path, text))


def test_ancestry_filter_needs_an_ancestry_file(tmp_path: Path) -> None:
    text = MINIMAL.replace("ancestry: data/ancestry_preds.tsv\n", "")
    with pytest.raises(ConfigError, match="cohort 'wgs_european' filters on ancestry"):
        load_config(write(tmp_path, text))


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "a: [1, 2\n"))
    with pytest.raises(ConfigError, match="the top level must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("name", ["demo.yaml", "dataproc.yaml", "emr.yaml"])
def test_shipped_example_configs_load(name: str) -> None:
    config = load_config(conf_dir() / name)
    assert config.discovery_cohort == "wgs_european"


def test_aou_config_reads_the_workbench_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKSPACE_BUCKET", "gs://fc-secure-1")
    monkeypatch.setenv("WGS_ACAF_THRESHOLD_SPLIT_HAIL_PATH", "gs://aou/wgs/acaf/splitMT/hail.mt")
    monkeypatch.setenv("MICROARRAY_HAIL_STORAGE_PATH", "gs://aou/array/hail.mt")
    config = load_config(conf_dir() / "aou.yaml")
    assert config.genotypes["wgs"].path == "gs://aou/wgs/acaf/splitMT/hail.mt"
    assert config.output_dir == "gs://fc-secure-1/trd-spark"
    assert config.omop.ehr_only


def test_shipped_trait_catalog_has_the_study_domains() -> None:
    import pandas as pd

    traits = pd.read_csv(conf_dir() / "traits.tsv", sep="\t")
    assert list(traits.columns) == ["trait", "label", "domain", "source", "source_status"]
    assert len(traits) == 61 and traits.trait.is_unique
    # provenance: the stand-ins are the UK Biobank field GWAS, every other source unchecked
    stand_ins = traits.loc[traits.source_status == "stand_in"]
    assert stand_ins.source.str.startswith("Neale lab UK Biobank").all() and len(stand_ins) == 6
    assert set(traits.source_status) == {"reconstruction", "stand_in"}
    counts = traits.domain.value_counts().to_dict()
    assert counts == {
        "education_cognition": 2,
        "metabolic_somatic_inflammation": 17,
        "personality": 19,
        "psychiatric": 9,
        "sleep": 2,
        "substance_use": 6,
        "temperament": 6,
    }


def test_trait_catalog_reads_the_source_status(tmp_path) -> None:
    from trd_spark.study import read_trait_catalog

    header = "trait\tlabel\tdomain\tsource"
    path = tmp_path / "old.tsv"
    path.write_text(f"{header}\nheight\tHeight\tmetabolic_somatic_inflammation\tY 2022\n")
    catalog = read_trait_catalog(str(path))
    assert catalog.traits[0].source_status == "unknown"  # a catalog without the column
    path.write_text(f"{header}\tsource_status\na\tA\tsleep\tX\tstand_in\nb\tB\tsleep\tY\t\n")
    catalog = read_trait_catalog(str(path))
    assert [t.source_status for t in catalog.traits] == ["stand_in", "unknown"]
    assert catalog.frame()["source_status"].tolist() == ["stand_in", "unknown"]
    path.write_text(f"{header}\tsource_status\na\tA\tsleep\tX\tverified\n")
    with pytest.raises(InputError, match=r"line 2: source_status 'verified' is not one of"):
        read_trait_catalog(str(path))


PLATFORMS = """
output_dir: out
genotypes:
  wgs:   {path: data/wgs.mt, format: mt}
  array: {path: data/array.mt, format: mt, assay: array%s}
ancestry: data/ancestry_preds.tsv
weights: {path: data/weights, format: prscs}
omop: {path: data/omop}
"""


def test_an_array_skips_the_population_af_rule_and_has_a_lower_floor(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, PLATFORMS % "" + "qc: {min_call_rate: 0.98}\n"))
    wgs, array = config.platform_qc("wgs"), config.platform_qc("array")
    assert wgs.population_af and not array.population_af
    # the top-level qc reaches every platform
    assert wgs.min_call_rate == array.min_call_rate == 0.98
    assert config.platform_min_overlap("wgs") == 0.75
    assert config.platform_min_overlap("array") == 0.30


def test_a_platform_overrides_qc_keys_and_its_floor(tmp_path: Path) -> None:
    own = ", qc: {population_af: true, min_af: 0.01}, min_overlap: 0.4"
    config = load_config(write(tmp_path, PLATFORMS % own))
    array = config.platform_qc("array")
    assert array.population_af and array.min_af == 0.01 and array.min_call_rate == 0.99
    assert config.platform_min_overlap("array") == 0.4
    assert config.platform_qc("wgs").min_af == 0.005


def test_platform_qc_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'genotypes.array.qc.min_pop'"):
        load_config(write(tmp_path, PLATFORMS % ", qc: {min_pop: 0.1}"))
    with pytest.raises(ConfigError, match=r"unknown key 'qc.hwe'"):
        load_config(write(tmp_path, PLATFORMS % "" + "qc: {hwe: 0.1}\n"))
    with pytest.raises(ConfigError, match=r"'genotypes.array.assay' is 'chip'"):
        load_config(write(tmp_path, (PLATFORMS % "").replace("assay: array", "assay: chip")))
    with pytest.raises(ConfigError, match=r"'genotypes.array.min_overlap' must be in \(0, 1\]"):
        load_config(write(tmp_path, PLATFORMS % ", min_overlap: 1.5"))


def test_a_config_built_in_code_gets_the_assay_defaults() -> None:
    import dataclasses

    from trd_spark.config import GenotypeSource, config_from_dict

    config = config_from_dict(
        {"output_dir": "o", "genotypes": {"g": {"path": "g.mt"}}, "weights": {"path": "w"},
         "omop": {"path": "o"}, "cohorts": {"c": {"genotypes": "g", "role": "discovery"}}}
    )  # fmt: skip
    chip = GenotypeSource(path="a.mt", assay="array")
    config = dataclasses.replace(config, genotypes={**config.genotypes, "a": chip})
    assert config.platform_qc("g").population_af and not config.platform_qc("a").population_af
