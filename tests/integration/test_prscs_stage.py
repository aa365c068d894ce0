"""The weights stage on the tiny simulated study: qc -> weights -> score with config_prscs.yaml.

Checked against independent computations: the match counts against set operations on the
files themselves, the weights' accuracy against the simulator's true genetic values (with
scores computed here in numpy from the study's PLINK export, beside a PGS of the marginal
GWAS betas), and the expected accuracy for the GWAS N (Daetwyler et al. 2008).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from trd_spark.config import load_config
from trd_spark.errors import InputError
from trd_spark.pipeline import run_stages
from trd_spark.prscs.ldref import read_snpinfo
from trd_spark.study import Layout, output_path

pytestmark = pytest.mark.integration
COMPLEMENT = str.maketrans("ACGT", "TGCA")
AMBIGUOUS = {("A", "T"), ("T", "A"), ("C", "G"), ("G", "C")}


def prscs_config(study: Path, run_dir: Path, **prscs: object) -> Path:
    """config_prscs.yaml with outputs in ``run_dir`` and paths made absolute."""
    raw = yaml.safe_load((study / "config_prscs.yaml").read_text())
    raw["output_dir"] = str(run_dir)
    raw["spark"] = {"master": "local[2]"}
    for source in raw["genotypes"].values():
        source["path"] = str(study / source["path"])
    raw["ancestry"] = str(study / raw["ancestry"])
    raw["omop"]["path"] = str(study / raw["omop"]["path"])
    raw["weights"]["traits"] = str(study / raw["weights"]["traits"])
    raw["prscs"].update(
        {"sumstats": str(study / "data/sumstats"), "ld_ref": str(study / "data/ldref"), **prscs}
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir.parent / f"{run_dir.name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def prscs_run(spark, tiny_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("prscs") / "auto"
    config = load_config(prscs_config(tiny_study, run_dir))
    run_stages(["qc", "weights", "score"], config)
    return run_dir


def read_bed(prefix: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The .bim and ALT dosages (persons x sites, missing at the site mean) of a PLINK set
    the simulator exported (A1 = ALT)."""
    bim = pd.read_csv(
        f"{prefix}.bim", sep="\t", header=None, names=["chr", "snp", "cm", "bp", "alt", "ref"]
    )
    n = len(Path(f"{prefix}.fam").read_text().splitlines())
    raw = np.fromfile(f"{prefix}.bed", dtype=np.uint8)[3:].reshape(len(bim), -1)
    codes = np.stack([(raw >> shift) & 3 for shift in (0, 2, 4, 6)], axis=2).reshape(len(bim), -1)[
        :, :n
    ]
    dosage = np.choose(codes, [2.0, np.nan, 1.0, 0.0]).T
    means = np.nanmean(dosage, axis=0)
    return bim, np.where(np.isnan(dosage), means, dosage)


def alt_weights(bim: pd.DataFrame, snp, a1, a2, beta) -> np.ndarray:
    """Weights per ALT allele of the .bim's sites (0 where unmatched or strand-ambiguous)."""
    site = {s: i for i, s in enumerate(bim["snp"])}
    out = np.zeros(len(bim))
    for s, x, y, b in zip(snp, a1, a2, beta, strict=True):
        i = site.get(s)
        if i is None or (x, y) in AMBIGUOUS:
            continue
        alt, ref = bim["alt"].iat[i], bim["ref"].iat[i]
        if (x, y) in ((alt, ref), (alt.translate(COMPLEMENT), ref.translate(COMPLEMENT))):
            out[i] = b
        elif (x, y) in ((ref, alt), (ref.translate(COMPLEMENT), alt.translate(COMPLEMENT))):
            out[i] = -b
    return out


def test_every_trait_gets_weight_files_and_a_log(prscs_run: Path, tiny_study: Path) -> None:
    traits = pd.read_csv(tiny_study / "data/traits.tsv", sep="\t")["trait"]
    files = sorted(p.name for p in (prscs_run / "weights").glob("*_chr*.txt"))
    assert len(files) == 3 * len(traits)
    assert files[0].endswith("_pst_eff_a1_b0.5_phiauto_chr1.txt")
    first = pd.read_csv(prscs_run / "weights" / files[0], sep="\t", header=None)
    assert first.shape[1] == 6 and first[0].eq(1).all()
    for trait in traits:
        assert (prscs_run / Layout.weights_log(trait)).is_file()
    log = (prscs_run / Layout.weights_log(traits[0])).read_text()
    assert "dropped, not_in_target:" in log and "SNPs used:" in log
    assert "single precision" in log and "lowest effective sample size" in log
    report = pd.read_parquet(prscs_run / "pgs" / "match_report.parquet")
    wgs = report[report["platform"] == "wgs"]
    assert (wgs["overlap"] == 1.0).all()  # every weight is on the WGS platform after QC


def test_match_counts_agree_with_set_operations_on_the_files(
    prscs_run: Path, tiny_study: Path
) -> None:
    report = pd.read_parquet(prscs_run / Layout.WEIGHTS_MATCH).set_index("trait")
    snpinfo = read_snpinfo(str(tiny_study / "data/ldref/snpinfo_sim_hm3")).set_index("snp")
    truth = pd.read_parquet(tiny_study / "truth/weights.parquet")
    absent = set(truth.loc[truth["kind"] == "absent", "rsid"])
    kept = set().union(
        *(pd.read_parquet(p)["rsid"] for p in (prscs_run / "qc").glob("variants_*.parquet"))
    )
    for trait in report.index[:5]:
        sumstats = pd.read_csv(tiny_study / f"data/sumstats/{trait}.txt", sep="\t")
        pairs = list(zip(sumstats["A1"], sumstats["A2"], strict=True))
        ambiguous = np.array([p in AMBIGUOUS for p in pairs])
        in_ref = sumstats["SNP"].isin(snpinfo.index).to_numpy()
        ref_pairs = [
            {(r.a1, r.a2), (r.a2, r.a1), (r.a1.translate(COMPLEMENT), r.a2.translate(COMPLEMENT)),
             (r.a2.translate(COMPLEMENT), r.a1.translate(COMPLEMENT))}
            if s in snpinfo.index else set()
            for s, r in zip(sumstats["SNP"], [snpinfo.loc[s] if s in snpinfo.index else None for s in sumstats["SNP"]], strict=True)
        ]  # fmt: skip
        agree = np.array([p in allowed for p, allowed in zip(pairs, ref_pairs, strict=True)])
        used = ~ambiguous & in_ref & agree
        row = report.loc[trait]
        assert row["n_in_file"] == len(sumstats)
        assert row["ambiguous"] == ambiguous.sum()
        assert row["not_in_reference"] == (~ambiguous & ~in_ref).sum()
        assert row["allele_mismatch"] == (~ambiguous & in_ref & ~agree).sum() > 0
        # on no platform after QC: absent from the genotypes or removed by QC there
        assert row["not_in_target"] == (~sumstats["SNP"][used].isin(kept)).sum() > 0
        assert sumstats["SNP"][used].isin(absent).sum() > 0
        assert row["not_in_ld_block"] == 0
        assert row["n_used"] == (used & sumstats["SNP"].isin(kept)).sum()


def test_prscs_scores_track_the_true_genetic_values(prscs_run: Path, tiny_study: Path) -> None:
    bim, dosage = read_bed(tiny_study / "data" / "wgs")
    fam = pd.read_csv(tiny_study / "data" / "wgs.fam", sep="\t", header=None)[1].to_numpy()
    truth = pd.read_parquet(tiny_study / "truth/genetic_values.parquet").set_index("person_id")
    expected = pd.read_csv(tiny_study / "truth/gwas.tsv", sep="\t").set_index("trait")
    scored = pd.read_parquet(prscs_run / "pgs" / "wgs_european.parquet").set_index("person_id")
    rows = []
    for trait in expected.index:
        weights = pd.concat(
            pd.read_csv(f, sep="\t", header=None, names=["chr", "snp", "bp", "a1", "a2", "beta"])
            for f in sorted((prscs_run / "weights").glob(f"{trait}_pst_eff_*_chr*.txt"))
        )
        sumstats = pd.read_csv(tiny_study / f"data/sumstats/{trait}.txt", sep="\t")
        effect = sumstats["BETA"] if "BETA" in sumstats else np.log(sumstats["OR"])
        w_prscs = alt_weights(bim, weights["snp"], weights["a1"], weights["a2"], weights["beta"])
        w_marginal = alt_weights(bim, sumstats["SNP"], sumstats["A1"], sumstats["A2"], effect)
        # the GWAS and the LD panel are European: accuracy is judged in the European cohort
        # (the Diverse set's causal effects differ, and its PGS tracks them less well)
        eur = np.isin(fam, scored.index)
        g = truth.loc[fam, trait].to_numpy()[eur]
        pgs = dosage[eur] @ w_prscs
        rows.append(
            {
                "trait": trait,
                "r_prscs": np.corrcoef(pgs, g)[0, 1],
                "r_marginal": np.corrcoef(dosage[eur] @ w_marginal, g)[0, 1],
                "r_expected": expected.loc[trait, "r_expected"],
                # the pipeline's score (WGS European cohort) is this score, up to a constant
                "r_pipeline": np.corrcoef(scored.loc[fam[eur], trait], pgs)[0, 1],
            }
        )
    result = pd.DataFrame(rows).set_index("trait")
    # (missing calls: the cohort's mean there, all WGS persons' mean here)
    assert result["r_pipeline"].min() > 0.999
    # PRS-CS at least as accurate as the marginal betas, trait by trait (with room for the
    # noise of the European cohort's persons) and on average clearly better
    assert (result["r_prscs"] > result["r_marginal"] - 0.05).all(), result
    assert result["r_prscs"].mean() > result["r_marginal"].mean() + 0.02, result.mean()
    # close to the expected accuracy for the GWAS N
    ratio = result["r_prscs"] / result["r_expected"]
    # (the gap: strand-ambiguous SNPs dropped, LD from 400 reference persons, few draws, and
    # about 13% of each trait's SNPs missing from the target: absent, or planted to fail QC)
    assert ratio.mean() > 0.75 and ratio.min() > 0.65, result


def test_fixed_phi_and_bad_summary_statistics(
    spark, prscs_run: Path, tiny_study: Path, tmp_path: Path
) -> None:
    # three traits, phi fixed: the files say so, and the run is reproducible
    catalog = pd.read_csv(tiny_study / "data/traits.tsv", sep="\t").iloc[:3]
    catalog.to_csv(tmp_path / "traits.tsv", sep="\t", index=False)
    config = load_config(prscs_config(tiny_study, tmp_path / "fixed", phi="1e-2"))
    config = dataclasses.replace(
        config, weights=dataclasses.replace(config.weights, traits=str(tmp_path / "traits.tsv"))
    )
    run_stages(["qc", "weights"], config)
    names = sorted(p.name for p in (tmp_path / "fixed" / "weights").glob("*.txt"))
    assert len(names) == 9 and all("_pst_eff_a1_b0.5_phi1e-02_chr" in n for n in names)
    chains = pd.read_parquet(output_path(config.output_dir, Layout.WEIGHTS_CHAINS))
    assert np.allclose(chains["phi_mean"], 0.01) and chains["phi_sd"].max() < 1e-12
    before = {n: (tmp_path / "fixed" / "weights" / n).read_text() for n in names}
    run_stages(["weights"], config, force=True)
    assert before == {n: (tmp_path / "fixed" / "weights" / n).read_text() for n in names}
    # a broken summary-statistics file stops the stage with its name and line
    sumstats = tmp_path / "sumstats"
    sumstats.mkdir()
    for trait in catalog["trait"]:
        text = (tiny_study / f"data/sumstats/{trait}.txt").read_text()
        (sumstats / f"{trait}.txt").write_text(text)
    lines = (sumstats / f"{catalog['trait'][1]}.txt").read_text().splitlines()
    lines[6] = lines[6].rsplit("\t", 1)[0] + "\t1.7"
    (sumstats / f"{catalog['trait'][1]}.txt").write_text("\n".join(lines) + "\n")
    broken = dataclasses.replace(
        config, prscs=dataclasses.replace(config.prscs, sumstats=str(sumstats))
    )
    with pytest.raises(
        InputError, match=f"{catalog['trait'][1]}.txt, line 7: column (P|SE) is 1.7"
    ):
        run_stages(["weights"], broken, force=True)
