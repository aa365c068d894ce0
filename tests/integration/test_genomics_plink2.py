"""The PGS engine against ``plink2 --score ... cols=+scoresums`` (mean imputation).

The test writes a small VCF from numpy genotypes, PRS-CS weight files built
from what it knows about each site (direct, flipped = effect allele REF, strand
complement, strand-ambiguous, absent), and for plink2 an independent score
file holding, per trait, the weights it expects to be used with the effect
allele written as it appears in the VCF.  Each cohort is scored by plink2 with
``--keep`` so that missing genotypes are imputed from that cohort's frequency.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.plink2]

PLINK2 = shutil.which("plink2")
COMPLEMENT = {"A": "T", "T": "A", "C": "G", "G": "C"}
TRAITS = ["trait_a", "trait_b", "trait_c"]
# QC thresholds that keep every bi-allelic SNV (the rules themselves are tested elsewhere)
KEEP_EVERY_SITE = {"population_af": False, "min_af": -1.0, "min_call_rate": 0.0,
                   "excess_het_p": 0.0}  # fmt: skip


def make_genotypes(rng: np.random.Generator, n: int, m: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Sites (two chromosomes, SNVs, some A/T or C/G) and ALT dosages (-1 = missing).

    plink2 prints sums with 6 significant digits.  So that its output is exact, each
    site leaves 0, 10 or 25 of each cohort's 50 persons uncalled (plink2 wants at least 50
    persons to impute from): the imputed mean dosage then has at most 3 decimals, and
    with integer weights every sum is a multiple of 0.001 below 1000 in magnitude.
    """
    pairs = [("A", "G"), ("C", "T"), ("G", "A"), ("T", "C"), ("A", "C"), ("A", "T"), ("C", "G")]
    choice = rng.integers(0, len(pairs), m)
    sites = pd.DataFrame(
        {
            "chrom": np.where(np.arange(m) < m // 2, "1", "2"),
            "pos": np.concatenate([np.arange(1, m // 2 + 1), np.arange(1, m - m // 2 + 1)]) * 100
            + 1000,
            "ref": [pairs[c][0] for c in choice],
            "alt": [pairs[c][1] for c in choice],
        }
    )
    sites["id"] = [f"rs{1000 + i}" for i in range(m)]
    af = rng.uniform(0.05, 0.6, m)
    dos = rng.binomial(2, af[:, None], size=(m, n))
    for i in range(m):
        for lo, hi, counts in ((0, 50, (0, 10, 25)), (50, n, (0, 10, 25))):
            uncalled = rng.choice(np.arange(lo, hi), size=rng.choice(counts), replace=False)
            dos[i, uncalled] = -1
    return sites, dos


def write_vcf(path: Path, sites: pd.DataFrame, dos: np.ndarray, samples: list[str]) -> None:
    gt = {-1: "./.", 0: "0/0", 1: "0/1", 2: "1/1"}
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1,length=248956422>",
        "##contig=<ID=2,length=242193529>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]
        ),
    ]
    for i, row in sites.iterrows():
        calls = [gt[int(d)] for d in dos[i]]
        lines.append(
            "\t".join(
                [row.chrom, str(row.pos), row.id, row.ref, row.alt, ".", "PASS", ".", "GT", *calls]
            )
        )
    path.write_text("\n".join(lines) + "\n")


def make_weights(rng: np.random.Generator, sites: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """PRS-CS files per trait and chromosome; returns what plink2 should use (id, allele, beta)."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = []
    for trait in TRAITS:
        use = rng.random(len(sites)) < 0.8
        rows = []
        for i in np.nonzero(use)[0]:
            s = sites.iloc[i]
            beta = float(rng.choice([-3, -2, -1, 1, 2, 3]))
            ambiguous = COMPLEMENT[s.ref] == s.alt
            kind = rng.choice(
                ["direct", "flipped", "strand", "strand_flipped", "absent"],
                p=[0.45, 0.25, 0.1, 0.1, 0.1],
            )
            if ambiguous and kind.startswith("strand"):
                kind = "direct"
            a1, a2 = {
                "direct": (s.alt, s.ref),
                "flipped": (s.ref, s.alt),
                "strand": (COMPLEMENT[s.alt], COMPLEMENT[s.ref]),
                "strand_flipped": (COMPLEMENT[s.ref], COMPLEMENT[s.alt]),
                "absent": (s.alt, s.ref),
            }[kind]
            rsid = f"rs9{i:05d}" if kind == "absent" else s.id
            pos = s.pos + 1 if kind == "absent" else s.pos
            rows.append((s.chrom, rsid, pos, a1, a2, beta))
            if kind != "absent" and not ambiguous:
                effect_in_vcf = s.alt if kind in ("direct", "strand") else s.ref
                expected.append((trait, s.id, effect_in_vcf, beta))
        table = pd.DataFrame(rows, columns=["CHR", "SNP", "BP", "A1", "A2", "BETA"])
        for chrom, part in table.groupby("CHR"):
            name = f"{trait}_pst_eff_a1_b0.5_phiauto_chr{chrom}.txt"
            part.to_csv(folder / name, sep="\t", header=False, index=False, float_format="%.10g")
    return pd.DataFrame(expected, columns=["trait", "id", "allele", "beta"])


def plink2_scores(
    genotype_args: list[str], expected: pd.DataFrame, keep: list[str], work: Path
) -> pd.DataFrame:
    wide = expected.pivot_table(
        index=["id", "allele"], columns="trait", values="beta", fill_value=0.0
    )
    wide = wide.reset_index()[["id", "allele", *TRAITS]]
    score_file = work / "plink2_weights.tsv"
    wide.to_csv(score_file, sep="\t", index=False, float_format="%.10g")
    keep_file = work / "keep.txt"
    keep_file.write_text("\n".join(keep) + "\n")
    out = work / "plink2_out"
    cmd = [
        PLINK2,
        *genotype_args,
        "--keep",
        str(keep_file),
        "--score",
        str(score_file),
        "1",
        "2",
        "header",
        "cols=+scoresums",
        "--score-col-nums",
        f"3-{2 + len(TRAITS)}",
        "--threads",
        "1",
        "--out",
        str(out),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    result = pd.read_csv(str(out) + ".sscore", sep="\t")
    result = result.rename(columns={"#IID": "IID"})
    return result.set_index(result["IID"].astype("int64"))


def our_scores(
    spark,
    genotype_path: str,
    fmt: str,
    weights_dir: Path,
    cohorts: dict[str, list[str]],
    work: Path,
    weight_files=None,
):
    """The qc stage's cache of every site (its rules switched off), then the score stage's
    match and score."""
    from trd_spark.genomics import pgs, qc, weights
    from trd_spark.genomics.readers import read_genotypes

    mt = read_genotypes(genotype_path, fmt)
    samples = mt.s.collect()
    everything = qc.QCThresholds(**KEEP_EVERY_SITE)
    variants_path = str(work / "variants.parquet")
    # PLINK input: the cache is cut from the .bed without Hail (qc.cut_dosage_cache)
    plink = qc.PlinkSource(genotype_path, "GRCh38") if fmt == "plink" else None
    result = qc.qc_genotypes(
        mt, list(range(len(samples))), [None] * len(samples), None, everything,
        str(work / "cache"), variants_path, str(work / "qc_scratch"), plink,
    )  # fmt: skip
    cache = result.cache
    if weight_files is None:
        files_df = weights.list_weight_files(str(weights_dir), "prscs", TRAITS)
        weight_files = pgs.WeightFiles(files_df, "prscs")
    genotypes = pgs.QCdGenotypes(variants_path, cache.prefix, cache.n_variants)
    cohort_ids = {c: np.array([int(s) for s in ids]) for c, ids in cohorts.items()}
    return pgs.score_weights(
        spark, weight_files, genotypes, TRAITS, cohort_ids,
        keep_ambiguous=False, min_overlap=0.5, scratch_dir=str(work / "scratch"), platform="test",
    )  # fmt: skip


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    rng = np.random.default_rng(11)
    work = tmp_path_factory.mktemp("plink2_study")
    n, m = 100, 400
    samples = [str(100 + i) for i in range(n)]
    sites, dos = make_genotypes(rng, n, m)
    write_vcf(work / "geno.vcf", sites, dos, samples)
    expected = make_weights(rng, sites, work / "weights")
    cohorts = {"first": samples[:50], "second": samples[50:]}
    return work, expected, cohorts, sites


def compare(ours: dict[str, pd.DataFrame], genotype_args: list[str], study, sub: str) -> None:
    work, expected, cohorts, _ = study
    for cohort, ids in cohorts.items():
        folder = work / f"{sub}_{cohort}"
        folder.mkdir(exist_ok=True)
        ref = plink2_scores(genotype_args, expected, ids, folder)
        got = ours[cohort].set_index("person_id").loc[ref.index]
        for k, trait in enumerate(TRAITS):
            # plink2 names the sums by column position: SCORE1_SUM is the first weight column
            np.testing.assert_allclose(
                got[trait].to_numpy(), ref[f"SCORE{k + 1}_SUM"].to_numpy(), rtol=1e-6, atol=1e-9
            )
            n_used = expected[expected.trait == trait].shape[0]
            assert (got[f"{trait}_n"] == n_used).all()


@pytest.mark.skipif(PLINK2 is None, reason="plink2 not installed (Debian package plink2)")
def test_scores_equal_plink2_on_vcf(spark, study):
    work, expected, cohorts, _ = study
    cache_dir = work / "vcf_cache"
    cache_dir.mkdir()
    ours, report = our_scores(
        spark, str(work / "geno.vcf"), "vcf", work / "weights", cohorts, cache_dir
    )
    compare(ours, ["--vcf", str(work / "geno.vcf")], study, "vcf")
    counts = expected.groupby("trait").size()
    assert (
        report.set_index("trait").loc[TRAITS, "n_matched"].tolist() == counts.loc[TRAITS].tolist()
    )


@pytest.mark.skipif(PLINK2 is None, reason="plink2 not installed (Debian package plink2)")
def test_scores_equal_plink2_on_plink_bed(spark, study):
    work, _, cohorts, _ = study
    bed = work / "geno_bed"
    subprocess.run(
        [PLINK2, "--vcf", str(work / "geno.vcf"), "--make-bed", "--out", str(bed)],
        check=True,
        capture_output=True,
    )
    cache_dir = work / "bed_cache"
    cache_dir.mkdir()
    ours, _ = our_scores(spark, str(bed), "plink", work / "weights", cohorts, cache_dir)
    compare(ours, ["--bfile", str(bed)], study, "bed")


@pytest.mark.skipif(PLINK2 is None, reason="plink2 not installed (Debian package plink2)")
def test_scores_equal_plink2_on_bgen(spark, study):
    work, _, cohorts, _ = study
    bgen = work / "geno_bgen"
    subprocess.run(
        [PLINK2, "--vcf", str(work / "geno.vcf"), "--export", "bgen-1.2", "bits=8", "ref-first",
         "--out", str(bgen)],
        check=True, capture_output=True,
    )  # fmt: skip
    cache_dir = work / "bgen_cache"
    cache_dir.mkdir()
    ours, _ = our_scores(spark, str(bgen) + ".bgen", "bgen", work / "weights", cohorts, cache_dir)
    compare(ours, ["--vcf", str(work / "geno.vcf")], study, "bgen")


# GRCh37 -> GRCh38 for this test: every position moves up by 1,000 on chromosomes 1 and 2
CHAIN = "".join(
    f"chain 1000 {c} {size37} + 0 200000000 chr{c} {size38} + 1000 200001000 {c}\n200000000\n\n"
    for c, size37, size38 in (("1", 249250621, 248956422), ("2", 243199373, 242193529))
)


@pytest.mark.skipif(PLINK2 is None, reason="plink2 not installed (Debian package plink2)")
def test_lifted_weights_score_like_plink2(spark, study):
    from trd_spark.genomics import pgs, weights
    from trd_spark.genomics.liftover import liftover_weights

    work, _, cohorts, _ = study
    old_build = work / "weights_grch37"
    old_build.mkdir()
    for file in sorted((work / "weights").iterdir()):
        table = pd.read_csv(file, sep="\t", header=None)
        table[1] = "."  # no rsIDs: the lifted positions alone must find the sites
        table[2] = table[2] - 1000
        table.to_csv(old_build / file.name, sep="\t", header=False, index=False)
    chain = work / "grch37_to_grch38.chain"
    chain.write_text(CHAIN)
    files_df = weights.list_weight_files(str(old_build), "prscs", TRAITS)
    lifted_df = liftover_weights(
        weights.read_weights(spark, files_df, "prscs"), "GRCh37", "GRCh38", str(chain)
    )
    lifted = weights.write_lifted(lifted_df, str(work / "lifted"))
    cache_dir = work / "lifted_cache"
    cache_dir.mkdir()
    ours, report = our_scores(
        spark, str(work / "geno.vcf"), "vcf", old_build, cohorts, cache_dir,
        weight_files=pgs.WeightFiles(lifted, "lifted"),
    )  # fmt: skip
    compare(ours, ["--vcf", str(work / "geno.vcf")], study, "lifted")
    assert report["n_in_file"].sum() == sum(
        len(pd.read_csv(f, sep="\t", header=None)) for f in old_build.iterdir()
    )


@pytest.mark.skipif(PLINK2 is None, reason="plink2 not installed (Debian package plink2)")
def test_qc_statistics_equal_plink2_freq_and_missing(spark, study):
    from trd_spark.genomics import qc
    from trd_spark.genomics.readers import read_genotypes

    work, _, _, sites = study
    out = work / "qc_stats"
    out.mkdir()
    mt = read_genotypes(str(work / "geno.vcf"), "vcf")
    n = mt.count_cols()
    qc.qc_genotypes(
        mt, list(range(n)), [None] * n, None, qc.QCThresholds(**KEEP_EVERY_SITE),
        str(out / "cache"), str(out / "variants.parquet"), str(out / "scratch"),
    )  # fmt: skip
    ours = pd.read_parquet(out / "variants.parquet").set_index("rsid")
    subprocess.run(
        [PLINK2, "--vcf", str(work / "geno.vcf"), "--freq", "counts", "--missing", "variant-only",
         "--threads", "1", "--out", str(out / "plink2")],
        check=True, capture_output=True,
    )  # fmt: skip
    freq = pd.read_csv(out / "plink2.acount", sep="\t").set_index("ID")
    miss = pd.read_csv(out / "plink2.vmiss", sep="\t").set_index("ID")
    assert sorted(ours.index) == sorted(sites["id"]) == sorted(freq.index)
    freq, miss = freq.loc[ours.index], miss.loc[ours.index]
    # plink2 prints frequencies to 6 digits: compare the exact counts it also writes
    assert ours["ac"].tolist() == freq["ALT_CTS"].astype(int).tolist()
    np.testing.assert_allclose(ours["af"], freq["ALT_CTS"] / freq["OBS_CT"], rtol=1e-12)
    np.testing.assert_allclose(
        ours["call_rate"], 1 - miss["MISSING_CT"] / miss["OBS_CT"], rtol=1e-12
    )
