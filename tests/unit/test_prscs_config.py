"""The prscs config section, where the weights come from, and the GWAS sample sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from trd_spark.config import ConfigError, config_from_dict
from trd_spark.errors import InputError
from trd_spark.genomics.stage import weight_source
from trd_spark.pipeline import stage_fingerprint
from trd_spark.prscs.stage import gwas_sizes, list_sumstats, run_weights
from trd_spark.study import parse_trait_catalog

BASE = {
    "output_dir": "run",
    "genotypes": {"wgs": {"path": "data/wgs.mt"}},
    "cohorts": {"all": {"genotypes": "wgs", "role": "discovery"}},
    "omop": {"path": "data/omop"},
}
PRSCS = {"sumstats": "data/sumstats", "ld_ref": "data/ldblk_1kg_eur"}


def config(tmp_path: Path, **extra):
    return config_from_dict({**BASE, **extra}, base_dir=tmp_path)


def test_prscs_section_with_defaults_and_resolved_paths(tmp_path: Path) -> None:
    cfg = config(tmp_path, prscs=PRSCS)
    assert cfg.prscs is not None and cfg.weights.path is None
    assert cfg.prscs.sumstats == str(tmp_path / "data" / "sumstats")
    assert (cfg.prscs.n_iter, cfg.prscs.n_burnin, cfg.prscs.thin) == (1000, 500, 5)
    assert cfg.prscs.phi_value is None
    assert config(tmp_path, prscs={**PRSCS, "phi": "1e-2"}).prscs.phi_value == 0.01
    assert config(tmp_path, prscs={**PRSCS, "phi": 0.0001}).prscs.phi_value == 1e-4
    # the score stage reads what the weights stage writes
    assert weight_source(cfg) == (str(tmp_path / "run" / "weights"), "prscs")
    ready = config(tmp_path, weights={"path": "w"})
    assert ready.prscs is None and weight_source(ready) == (str(tmp_path / "w"), "prscs")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "required key 'weights.path' is missing; give the folder of ready weight files, or "
             "a 'prscs' section"),
        ({"weights": {"path": "w"}, "prscs": PRSCS}, "'weights.path' and a 'prscs' section are "
                                                     "both given"),
        ({"prscs": {**PRSCS, "phi": "big"}}, "key 'prscs.phi' is 'big'; use auto or a positive"),
        ({"prscs": {**PRSCS, "phi": -1}}, "key 'prscs.phi' is '-1'"),
        ({"prscs": {**PRSCS, "n_iter": 100, "n_burnin": 100}}, "0 <= n_burnin < n_iter"),
        ({"prscs": {**PRSCS, "target_platforms": ["array"]}}, "names platform 'array'"),
        ({"prscs": {**PRSCS, "n_gwas": {"bmi": 0}}}, "'prscs.n_gwas.bmi' must be a positive"),
        ({"prscs": {"sumstats": "s"}}, "required key 'prscs.ld_ref' is missing"),
        ({"prscs": {**PRSCS, "iterations": 5}}, "unknown key 'prscs.iterations'"),
        ({"prscs": PRSCS, "weights": {"format": "pgscatalog"}}, "'weights.format' must be prscs"),
    ],
)  # fmt: skip
def test_bad_prscs_configs_name_the_key(tmp_path: Path, extra: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config(tmp_path, **extra)


CATALOG = (
    "trait\tlabel\tdomain\tsource\tn_gwas\nbmi\tBMI\tmetabolic\tx\t700000\nadhd\tADHD\tpsy\ty\t\n"
)


def test_sample_sizes_from_catalog_and_config() -> None:
    catalog = parse_trait_catalog(CATALOG, "traits.tsv")
    assert [t.n_gwas for t in catalog.traits] == [700000.0, None]
    assert gwas_sizes(catalog, {"adhd": 55374}) == {"bmi": 700000.0, "adhd": 55374.0}
    assert gwas_sizes(catalog, {"adhd": 1, "bmi": 2}) == {"bmi": 2.0, "adhd": 1.0}
    with pytest.raises(InputError, match="no GWAS sample size for trait\\(s\\) adhd"):
        gwas_sizes(catalog, {})
    with pytest.raises(InputError, match="names trait\\(s\\) height that the trait catalog"):
        gwas_sizes(catalog, {"height": 5, "adhd": 1})
    with pytest.raises(InputError, match=r"traits.tsv, line 3: n_gwas is 'many'"):
        parse_trait_catalog(CATALOG.replace("y\t\n", "y\tmany\n"), "traits.tsv")


def test_summary_statistics_files_per_trait(tmp_path: Path) -> None:
    folder = tmp_path / "sumstats"
    folder.mkdir()
    (folder / "bmi.txt").write_text("x")
    (folder / "adhd.tsv.gz").write_bytes(b"x")
    (folder / "README.md").write_text("x")
    found = list_sumstats(str(folder), ["bmi", "adhd"])
    assert found == {"bmi": str(folder / "bmi.txt"), "adhd": str(folder / "adhd.tsv.gz")}
    with pytest.raises(InputError, match="no summary statistics for trait\\(s\\) height"):
        list_sumstats(str(folder), ["bmi", "adhd", "height"])
    (folder / "bmi.sumstats").write_text("x")
    with pytest.raises(InputError, match="several summary-statistics files for trait bmi"):
        list_sumstats(str(folder), ["bmi", "adhd"])
    with pytest.raises(InputError, match=r"is empty or missing; check prscs\.sumstats"):
        list_sumstats(str(tmp_path / "nowhere"), ["bmi"])


def test_without_prscs_the_stage_writes_a_note_only(tmp_path: Path) -> None:
    cfg = config(tmp_path, weights={"path": "data/weights"})
    assert run_weights(cfg, str(tmp_path / "staging")) == {"prscs": False}
    note = (tmp_path / "staging" / "weights" / "README.txt").read_text()
    assert "no 'prscs' section" in note and str(tmp_path / "data" / "weights") in note


def test_prscs_settings_change_the_weights_stage_only(tmp_path: Path) -> None:
    # (the score stage follows through the weights stage's fingerprint, read from its manifest)
    cfg = config(tmp_path, prscs=PRSCS)
    other = config(tmp_path, prscs={**PRSCS, "seed": 2})
    assert stage_fingerprint("weights", cfg) != stage_fingerprint("weights", other)
    for stage in ("qc", "score", "phenotype"):
        assert stage_fingerprint(stage, cfg) == stage_fingerprint(stage, other)
    # another LD panel changes the dosage cache's sites: qc reruns
    moved = config(tmp_path, prscs={**PRSCS, "ld_ref": "data/ldblk_ukbb_eur"})
    assert stage_fingerprint("qc", cfg) != stage_fingerprint("qc", moved)
    ready = config(tmp_path, weights={"path": "data/weights"})
    assert stage_fingerprint("qc", cfg) != stage_fingerprint("qc", ready)
