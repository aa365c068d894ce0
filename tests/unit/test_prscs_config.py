"""The prscs config section, where the weights come from, and the GWAS sample sizes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from trd_spark.config import ConfigError, config_from_dict
from trd_spark.errors import InputError
from trd_spark.genomics.stage import weight_source
from trd_spark.pipeline import stage_fingerprint
from trd_spark.prscs.matching import DROP_REASONS
from trd_spark.prscs.sampler import ChainSettings, make_blocks, run_chain
from trd_spark.prscs.stage import (
    _log_header,
    _trait_log,
    chain_settings,
    gwas_sizes,
    list_sumstats,
    run_weights,
)
from trd_spark.prscs.tasks import chain_summary, effective_size
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


def test_precision_defaults_to_single_and_is_checked(tmp_path: Path) -> None:
    assert config(tmp_path, prscs=PRSCS).prscs.precision == "single"
    assert (
        chain_settings(config(tmp_path, prscs={**PRSCS, "precision": "double"}).prscs).precision
        == "double"
    )
    with pytest.raises(ConfigError, match="precision"):
        config(tmp_path, prscs={**PRSCS, "precision": "half"})


def test_trait_log_reports_snps_routes_precision_and_diagnostics() -> None:
    rng = np.random.default_rng(1)
    latent = rng.standard_normal((20, 100)).cumsum(axis=1)  # 20 persons: rank 19
    ld = [np.corrcoef(latent, rowvar=False), np.eye(3)]
    settings = ChainSettings(n_iter=40, n_burnin=20, thin=2, precision="double")
    chain = run_chain(make_blocks(ld, rng.normal(0, 0.01, 103), 5_000.0, "double"), settings, rng)
    row = {
        "trait": "t",
        "chrom": "1",
        "n_snps": 103,
        "n_blocks": 2,
        **chain_summary(chain, settings),
    }
    empty = {"trait": "t", "chrom": "2", "n_snps": 0, "n_blocks": 0}
    counts = {"trait": "t", "n_gwas": 5000.0, "n_in_file": 120, "n_used": 103}
    counts |= {reason: 17 if reason == "ambiguous" else 0 for reason in DROP_REASONS}
    log = _trait_log(counts, pd.DataFrame([row, empty]))
    assert "SNPs used: 103" in log and "dropped, ambiguous: 17" in log
    line = next(x for x in log.splitlines() if x.startswith("  1 "))
    fields = line.split()
    assert fields[:6] == ["1", "103", "2", "1", "100", "19"]  # one low-rank block, rank 19
    assert f"{chain.sigma2.mean():.4f}" in line and f"{chain.h2.mean():.4f}" in line
    assert f"({effective_size(chain.sigma2):.0f})" in line
    assert "no SNP of the trait in an LD block" in log
    assert f"lowest effective sample size of {settings.n_kept} kept draws" in log
    header = _log_header(
        [{"n_reference": 10, "n_in_target": 9}],
        SimpleNamespace(name="eur", folder="p"),
        config_from_dict(
            {**BASE, "prscs": {**PRSCS, "precision": "double"}}, base_dir=Path(".")
        ).prscs,
    )  # type: ignore[arg-type]
    assert "double precision" in header
