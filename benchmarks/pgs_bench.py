"""Genotype path benchmark: the project's qc + score against plink2 doing the same, and Hail idioms.

Builds N x M genotypes (Balding-Nichols, three populations = three ancestry groups, 0.2%
missing calls) as a Hail MT and the same data as PLINK 1, and K PRS-CS weight files over
every site; then in one warm Hail session times, for MT input and for PLINK input:

* ours qc          the qc stage's work on one platform: weight sites, site rules, the dosage
                   cache (the one decode of the genotypes), call rate, AF, group AC/AN and the
                   excess-het test of every site in Spark tasks, the kept-sites table
* ours score K     read the weight files, match, score every trait (from the cache)
* ours score 1     the same for one trait
* plink2 qc        ``plink2 --freq --missing --hardy`` once per ancestry group (``--keep``),
                   whole processes
* plink2 score     ``plink2 --score ... cols=+scoresums`` for the K traits, whole process
* hail agg.sum / hail array_sum   the Hail documentation recipe (1 trait) and all K traits
                   in one ``hl.agg.array_sum`` pass (single size only)

Scores must agree with plink2 to 1e-5 relative (plink2 prints 6 significant digits); plink2
scores the sites our QC kept.  The ratio of issue 21 is (ours qc + score K) / (plink2 qc +
plink2 score).  Not a test: ``python benchmarks/pgs_bench.py``.
``--sizes 1000x50000,2000x100000`` shows growth (ours and plink2 only, PLINK input).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

MISSING_RATE = 0.002  # low enough that the call-rate rule (0.99) keeps nearly every site


def timed(label: str, times: dict[str, float], fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = fn()
    times[label] = time.perf_counter() - start
    print(f"  {label:<24} {times[label]:8.2f} s", flush=True)
    return result


@dataclass(frozen=True)
class Genotypes:
    """One benchmark data set: the MT, the same as PLINK 1, and each person's group."""

    mt_path: str
    bed: str
    groups: pd.Series  # person id (str) -> group name


def build_genotypes(work: Path, n: int, m: int) -> Genotypes:
    import hail as hl

    path = work / f"geno_{n}x{m}.mt"
    if not (path / "_SUCCESS").exists():
        mt = hl.balding_nichols_model(
            3, n, m, n_partitions=max(4, m // 25_000), reference_genome="GRCh38"
        )
        mt = mt.key_cols_by(s=hl.str(1_000_000 + mt.sample_idx))
        mt = mt.select_rows(rsid=hl.missing(hl.tstr)).select_cols("pop").select_globals()
        mt = mt.annotate_entries(GT=hl.or_missing(hl.rand_bool(1 - MISSING_RATE, seed=3), mt.GT))
        mt.write(str(path), overwrite=True)
    mt = hl.read_matrix_table(str(path))
    bed = work / f"geno_{n}x{m}"
    if not Path(str(bed) + ".bed").exists():
        hl.export_plink(mt, str(bed), ind_id=mt.s, varid=hl.variant_str(mt.locus, mt.alleles))
    cols = mt.cols().to_pandas()
    groups = pd.Series([f"pop{p}" for p in cols["pop"]], index=cols["s"].astype(str))
    return Genotypes(str(path), str(bed), groups)


def write_weights(work: Path, mt_path: str, k: int, seed: int = 5) -> tuple[Path, pd.DataFrame]:
    """PRS-CS files (one chromosome per trait) over every site; returns the folder and the
    betas (sites x traits, with the plink2 variant id)."""
    import hail as hl

    mt = hl.read_matrix_table(mt_path)
    sites = mt.rows().key_by()
    sites_df = sites.select(
        chrom=sites.locus.contig.replace("^chr", ""),
        pos=sites.locus.position,
        ref=sites.alleles[0],
        alt=sites.alleles[1],
    ).to_pandas()
    folder = work / f"weights_{len(sites_df)}_{k}"
    traits = [f"trait{i:02d}" for i in range(k)]
    rng = np.random.default_rng(seed)
    betas = pd.DataFrame(rng.normal(0, 1e-3, size=(len(sites_df), k)), columns=traits).map(
        lambda x: float(f"{x:.8g}")
    )
    betas.insert(0, "A1", sites_df["alt"])
    betas.insert(0, "ID", "chr" + sites_df["chrom"] + ":" + sites_df["pos"].astype(str) + ":"
                 + sites_df["ref"] + ":" + sites_df["alt"])  # fmt: skip
    if not folder.exists():
        folder.mkdir(parents=True)
        for trait in traits:
            table = pd.DataFrame(
                {"CHR": sites_df["chrom"], "SNP": ".", "BP": sites_df["pos"],
                 "A1": sites_df["alt"], "A2": sites_df["ref"], "BETA": betas[trait]}
            )  # fmt: skip
            table.to_csv(folder / f"{trait}_pst_eff_a1_b0.5_phiauto_chr1.txt", sep="\t",
                         header=False, index=False, float_format="%.8g")  # fmt: skip
    return folder, betas


# ---------------------------------------------------------------------------
# ours: the qc and score stages' library calls on one platform
# ---------------------------------------------------------------------------


def weight_files(folder: Path, traits: list[str]) -> Any:
    from trd_spark.genomics import pgs, weights

    catalog = sorted({p.name.split("_pst_eff")[0] for p in folder.iterdir()})
    files_df = weights.list_weight_files(str(folder), "prscs", catalog)
    return pgs.WeightFiles(files_df[files_df["trait"].isin(traits)], "prscs")


def run_ours_qc(spark: Any, geno: Genotypes, fmt: str, files: Any, out: Path) -> Any:
    """What ``run_qc`` does for one platform with the study's default thresholds."""
    from trd_spark.genomics import pgs, qc
    from trd_spark.genomics.readers import read_genotypes

    path = geno.mt_path if fmt == "mt" else geno.bed
    mt = read_genotypes(path, fmt)
    samples = [str(s) for s in mt.s.collect()]
    pgs.write_weight_sites(spark, files, str(out / "weight_sites"))
    sites_df = qc.read_weight_sites_df(spark, str(out / "weight_sites"))
    plink = qc.PlinkSource(geno.bed, "GRCh38") if fmt == "plink" else None
    return qc.qc_genotypes(
        mt, list(range(len(samples))), [geno.groups[s] for s in samples], sites_df,
        qc.QCThresholds(), str(out / "cache"), str(out / "variants.parquet"), str(out / "scratch"),
        plink,
    )  # fmt: skip


def run_ours_score(spark: Any, result: Any, files: Any, traits: list[str], out: Path) -> Any:
    """What ``run_score`` does for one platform: match, floor, score one cohort of everyone."""
    from trd_spark.genomics import pgs

    genotypes = pgs.QCdGenotypes(
        str(out / "variants.parquet"), result.cache.prefix, result.cache.n_variants
    )
    ids = {"all": np.array([int(s) for s in result.fam_ids])}
    scores, _ = pgs.score_weights(
        spark, files, genotypes, traits, ids, False, 0.5, str(out / "score_scratch"), "bench"
    )
    return scores["all"].set_index("person_id")[traits]


def kept_ids(out: Path) -> pd.Series:
    """plink2 variant ids of the sites our QC kept."""
    kept = pd.read_parquet(out / "variants.parquet")
    return (
        kept["contig"] + ":" + kept["position"].astype(str) + ":" + kept["ref"] + ":" + kept["alt"]
    )


def bench_ours(
    spark: Any, geno: Genotypes, fmt: str, folder: Path, traits: list[str], work: Path,
    times: dict[str, float], with_one: bool,
) -> tuple[pd.DataFrame, Path]:  # fmt: skip
    out = work / f"ours_{fmt}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    files = weight_files(folder, traits)
    k = len(traits)
    result = timed(f"ours qc ({fmt})", times, lambda: run_ours_qc(spark, geno, fmt, files, out))
    scores = timed(f"ours score {k} ({fmt})", times,
                   lambda: run_ours_score(spark, result, files, traits, out))  # fmt: skip
    if with_one:
        one = weight_files(folder, traits[:1])
        timed(f"ours score 1 ({fmt})", times,
              lambda: run_ours_score(spark, result, one, traits[:1], out))  # fmt: skip
    print(f"    QC: {result.counts}")
    return scores, out


# ---------------------------------------------------------------------------
# plink2 doing the same, and the Hail idioms
# ---------------------------------------------------------------------------


def run_tool(cmd: list[str]) -> None:
    """Run an external program; its own error text when it fails."""
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")


def run_plink2_qc(geno: Genotypes, out: Path) -> None:
    """``--freq --missing --hardy`` once per ancestry group, as the QC rules need them."""
    for group, members in geno.groups.groupby(geno.groups):
        keep = out / f"keep_{group}.txt"
        keep.write_text("".join(f"{s}\n" for s in members.index))  # IIDs (the FID is 0)
        cmd = ["plink2", "--bfile", geno.bed, "--keep", str(keep), "--freq", "--missing",
               "--hardy", "--threads", "2", "--out", str(out / f"qc_{group}")]  # fmt: skip
        run_tool(cmd)


def write_plink2_scores(betas: pd.DataFrame, ids: pd.Series, traits: list[str], path: Path) -> None:
    """The wide plink2 score file, restricted to the sites our QC kept."""
    betas[betas["ID"].isin(set(ids))][["ID", "A1", *traits]].to_csv(
        path, sep="\t", index=False, float_format="%.8g"
    )


def run_plink2_score(bed: str, wide: Path, traits: list[str], out: Path) -> pd.DataFrame:
    cmd = ["plink2", "--bfile", bed, "--score", str(wide), "1", "2", "header",
           "cols=+scoresums", "--score-col-nums", f"3-{2 + len(traits)}", "--threads", "2",
           "--out", str(out)]  # fmt: skip
    run_tool(cmd)
    res = pd.read_csv(str(out) + ".sscore", sep="\t")
    sums = res[[f"SCORE{i + 1}_SUM" for i in range(len(traits))]].to_numpy()
    iid = res["IID"] if "IID" in res.columns else res["#IID"]
    return pd.DataFrame(sums, columns=traits, index=iid.astype("int64"))


def hail_weights_ht(wide: Path, traits: list[str]) -> Any:
    import hail as hl

    ht = hl.import_table(str(wide), types={t: hl.tfloat64 for t in traits})
    parts = ht.ID.split(":")
    ht = ht.key_by(locus=hl.locus(parts[0], hl.int32(parts[1])), alleles=[parts[2], parts[3]])
    return ht.select(w=hl.array([ht[t] for t in traits]))


def run_hail_one(mt_path: str, wide: Path, traits: list[str]) -> pd.DataFrame:
    import hail as hl

    weights_ht = hail_weights_ht(wide, traits[:1])
    mt = hl.read_matrix_table(mt_path)
    mt = mt.annotate_rows(w=weights_ht[mt.row_key].w[0])
    mt = mt.filter_rows(hl.is_defined(mt.w))
    mt = mt.annotate_rows(mean=hl.agg.mean(mt.GT.n_alt_alleles()))
    mt = mt.annotate_cols(
        score=hl.agg.sum(mt.w * hl.or_else(hl.float64(mt.GT.n_alt_alleles()), mt.mean))
    )
    scores = mt.cols().to_pandas()
    return pd.DataFrame({traits[0]: scores["score"].to_numpy()}, index=scores["s"].astype("int64"))


def run_hail_array(mt_path: str, wide: Path, traits: list[str]) -> pd.DataFrame:
    import hail as hl

    weights_ht = hail_weights_ht(wide, traits)
    mt = hl.read_matrix_table(mt_path)
    mt = mt.annotate_rows(w=weights_ht[mt.row_key].w)
    mt = mt.filter_rows(hl.is_defined(mt.w))
    mt = mt.annotate_rows(mean=hl.agg.mean(mt.GT.n_alt_alleles()))
    dosage = hl.or_else(hl.float64(mt.GT.n_alt_alleles()), mt.mean)
    mt = mt.annotate_cols(scores=hl.agg.array_sum(mt.w.map(lambda w: w * dosage)))
    cols = mt.cols().to_pandas()
    return pd.DataFrame(
        np.vstack(cols["scores"].to_numpy()), columns=traits, index=cols["s"].astype("int64")
    )


def agree(name: str, got: pd.DataFrame, ref: pd.DataFrame) -> float:
    aligned = got.loc[ref.index, list(got.columns)]
    rel = np.abs(aligned.to_numpy() - ref[list(got.columns)].to_numpy()) / np.maximum(
        np.abs(ref[list(got.columns)].to_numpy()), 1e-12
    )
    worst = float(np.max(rel))
    # plink2 prints sums with 6 significant digits, so 1e-5 is its resolution here; exact
    # agreement to 1e-6 is checked by tests/integration/test_genomics_plink2.py
    verdict = "OK" if worst < 1e-5 else "DISAGREES"
    print(f"  {name:<24} max relative difference to plink2 {worst:.2e} {verdict}")
    return worst


def bench_size(
    spark: Any, work: Path, n: int, m: int, k: int, formats: list[str], with_hail: bool
) -> dict[str, float]:
    print(f"\nN = {n:,} persons, M = {m:,} variants, K = {k} traits", flush=True)
    geno = build_genotypes(work, n, m)
    folder, betas = write_weights(work, geno.mt_path, k)
    traits = [c for c in betas.columns if c.startswith("trait")]
    times: dict[str, float] = {}
    plink_out = work / f"plink2_{n}x{m}"
    plink_out.mkdir(exist_ok=True)
    timed("plink2 qc", times, lambda: run_plink2_qc(geno, plink_out))
    wide = plink_out / "scores.tsv"
    ours = {fmt: bench_ours(spark, geno, fmt, folder, traits, work, times, with_hail)
            for fmt in formats}  # fmt: skip
    # plink2 scores the sites our QC kept (the same on either input)
    write_plink2_scores(betas, kept_ids(ours[formats[0]][1]), traits, wide)
    score_out = plink_out / "score"
    ref = timed("plink2 score", times, lambda: run_plink2_score(geno.bed, wide, traits, score_out))
    for fmt, (scores, _) in ours.items():
        agree(f"ours ({fmt})", scores, ref)
    if with_hail:
        one = timed("hail agg.sum", times, lambda: run_hail_one(geno.mt_path, wide, traits))
        agree("hail agg.sum", one, ref)
        many = timed("hail array_sum", times, lambda: run_hail_array(geno.mt_path, wide, traits))
        agree("hail array_sum", many, ref)
    report(times, k, formats)
    return times


def report(times: dict[str, float], k: int, formats: list[str]) -> None:
    print("\n  wall times (s) and ratios")
    for label, value in times.items():
        print(f"    {label:<30} {value:8.2f}")
    plink2 = times["plink2 qc"] + times["plink2 score"]
    print(f"    plink2 qc + score                {plink2:8.2f}")
    for fmt in formats:
        qc, score = times[f"ours qc ({fmt})"], times[f"ours score {k} ({fmt})"]
        print(f"    {fmt}: (qc + score {k}) / plink2 (qc + score)   {(qc + score) / plink2:.2f}x"
              "   (target <= 3x)")  # fmt: skip
        print(f"    {fmt}: qc / plink2 qc                  {qc / times['plink2 qc']:.2f}x")
        print(f"    {fmt}: score {k} / plink2 score         {score / times['plink2 score']:.2f}x")
        if f"ours score 1 ({fmt})" in times:
            print(f"    {fmt}: score {k} / score 1             "
                  f"{score / times[f'ours score 1 ({fmt})']:.2f}x")  # fmt: skip
            if "hail array_sum" in times:
                print(f"    hail array_sum / {fmt} score {k}     "
                      f"{times['hail array_sum'] / score:.1f}x")  # fmt: skip


def report_growth(grown: dict[tuple[int, int], dict[str, float]], k: int, fmt: str) -> None:
    """Seconds per 10^9 genotypes for each size: flat when the cost grows linearly in N x M."""
    print(f"\n  growth, {k} traits, {fmt} input: seconds per 1e9 genotypes (N x M)")
    print(f"    {'N x M':>16} {'qc':>8} {'score':>8} {'plink2 qc':>10} {'plink2 score':>13}")
    for (n, m), times in grown.items():
        per = 1e9 / (n * m)
        print(
            f"    {f'{n}x{m}':>16} {times[f'ours qc ({fmt})'] * per:8.1f} "
            f"{times[f'ours score {k} ({fmt})'] * per:8.1f} {times['plink2 qc'] * per:10.1f} "
            f"{times['plink2 score'] * per:13.1f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000)
    parser.add_argument("--m", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=61)
    parser.add_argument(
        "--sizes", default=None, help="NxM list, e.g. 500x25000,1000x50000 (no Hail idioms)"
    )
    parser.add_argument("--formats", default="mt,plink", help="input formats of ours: mt,plink")
    parser.add_argument("--no-hail", action="store_true", help="skip the Hail idioms")
    parser.add_argument("--work", default="/tmp/trd-spark-pgs-bench")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    if shutil.which("plink2") is None:
        sys.exit("plink2 is needed (Debian package plink2)")
    from trd_spark.session import start_session, stop_session

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    formats = args.formats.split(",")
    spark = start_session(str(work / "session"), master="local[2]", driver_memory="4g")
    try:
        if args.sizes:
            grown = {}
            for size in args.sizes.split(","):
                n, m = (int(x) for x in size.lower().split("x"))
                grown[(n, m)] = bench_size(spark, work, n, m, args.k, formats, with_hail=False)
            for fmt in formats:
                report_growth(grown, args.k, fmt)
        else:
            bench_size(spark, work, args.n, args.m, args.k, formats, not args.no_hail)
    finally:
        stop_session()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
