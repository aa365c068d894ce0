"""PGS scoring benchmark: the project's scorer against Hail idioms and plink2.

Builds N x M genotypes (Balding-Nichols, 1% missing calls) and K PRS-CS weight
columns, then in one warm Hail session times:

* scorer prep     the qc stage's share: every site -> compact dosage cache + site index
* scorer K traits read the weight files, match, score every trait (from the cache)
* scorer 1 trait  the same for one trait
* hail agg.sum    the Hail documentation recipe for one trait (weights keyed by locus)
* hail array_sum  all K traits in one ``hl.agg.array_sum`` pass
* plink2          ``plink2 --bfile --score ... cols=+scoresums`` whole process

All methods impute missing genotypes with the mean dosage (plink2's default) and
must agree with plink2 to 1e-5 relative (plink2 prints 6 significant digits).
Not a test: ``python benchmarks/pgs_bench.py``.
``--sizes 1000x50000,2000x100000`` shows growth (scorer and plink2 only).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def timed(label: str, times: dict[str, float], fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = fn()
    times[label] = time.perf_counter() - start
    print(f"  {label:<18} {times[label]:8.2f} s", flush=True)
    return result


def build_genotypes(work: Path, n: int, m: int) -> str:
    import hail as hl

    path = work / f"geno_{n}x{m}.mt"
    if not (path / "_SUCCESS").exists():
        mt = hl.balding_nichols_model(
            1, n, m, n_partitions=max(4, m // 25_000), reference_genome="GRCh38"
        )
        mt = mt.key_cols_by(s=hl.str(1_000_000 + mt.sample_idx))
        mt = mt.select_rows(rsid=hl.missing(hl.tstr)).select_cols().select_globals()
        mt = mt.annotate_entries(GT=hl.or_missing(hl.rand_bool(0.99, seed=3), mt.GT))
        mt.write(str(path), overwrite=True)
    bed = work / f"geno_{n}x{m}"
    if not Path(str(bed) + ".bed").exists():
        mt = hl.read_matrix_table(str(path))
        hl.export_plink(mt, str(bed), ind_id=mt.s, varid=hl.variant_str(mt.locus, mt.alleles))
    return str(path)


def write_weights(work: Path, mt_path: str, k: int, seed: int = 5) -> tuple[Path, Path, list[str]]:
    """PRS-CS files (one chromosome per trait), a wide plink2 file and a trait catalog."""
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
    wide = work / f"plink2_weights_{len(sites_df)}_{k}.tsv"
    if wide.exists():
        return folder, wide, traits
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    betas = rng.normal(0, 1e-3, size=(len(sites_df), k))
    ids = (
        sites_df["chrom"].map(lambda c: "chr" + c)
        + ":"
        + sites_df["pos"].astype(str)
        + ":"
        + sites_df["ref"]
        + ":"
        + sites_df["alt"]
    )
    for j, trait in enumerate(traits):
        table = pd.DataFrame(
            {
                "CHR": sites_df["chrom"],
                "SNP": ".",
                "BP": sites_df["pos"],
                "A1": sites_df["alt"],
                "A2": sites_df["ref"],
                "BETA": betas[:, j],
            }
        )
        table.to_csv(
            folder / f"{trait}_pst_eff_a1_b0.5_phiauto_chr1.txt",
            sep="\t",
            header=False,
            index=False,
            float_format="%.8g",
        )
    wide_df = pd.DataFrame(betas, columns=traits).map(lambda x: float(f"{x:.8g}"))
    wide_df.insert(0, "A1", sites_df["alt"])
    wide_df.insert(0, "ID", ids)
    wide_df.to_csv(wide, sep="\t", index=False, float_format="%.8g")
    return folder, wide, traits


def run_scorer(
    spark: Any,
    mt_path: str,
    folder: Path,
    traits: list[str],
    work: Path,
    times: dict[str, float],
    tag: str,
) -> pd.DataFrame:
    import hail as hl

    from trd_spark.genomics import pgs, qc, scoring, weights
    from trd_spark.genomics.qc import flat_sites_ht

    mt = hl.read_matrix_table(mt_path)
    samples = [str(s) for s in mt.s.collect()]
    prefix = str(work / f"cache_{tag.replace(' ', '_')}")
    variants_path = prefix + ".variants.parquet"

    def prep() -> Any:
        # what the qc stage adds to its site QC: the dosage cache and the site index
        cache = qc.write_dosage_cache(mt, prefix)
        variants_df = qc.index_variants(flat_sites_ht(mt.rows()).to_spark(), prefix)
        variants_df.write.mode("overwrite").parquet(variants_path)
        return cache

    def match() -> Any:
        catalog = sorted({p.name.split("_pst_eff")[0] for p in folder.iterdir()})
        files_df = weights.list_weight_files(str(folder), "prscs", catalog)
        files_df = files_df[files_df["trait"].isin(traits)]
        return pgs.match_platform(
            spark, pgs.WeightFiles(files_df, "prscs"), variants_path, traits, False,
            str(work / f"matched_{tag.replace(' ', '_')}"), "bench",
        )  # fmt: skip

    def score(matched: Any, n_variants: int) -> pd.DataFrame:
        cache, fam_ids = scoring.open_dosage_cache(prefix, n_variants)
        ids = {"all": np.array([int(s) for s in samples])}
        return pgs.score_platform(spark, cache, matched, traits, ids, fam_ids)["all"]

    t: dict[str, float] = {}
    cache = timed(f"{tag} prep", t, prep)
    matched = timed(f"{tag} match", t, match)
    result = timed(f"{tag} score", t, lambda: score(matched, cache.n_variants))
    times[f"scorer prep ({tag})"] = t[f"{tag} prep"]
    times[f"scorer {tag}: match"] = t[f"{tag} match"]
    times[f"scorer {tag}: score"] = t[f"{tag} score"]
    times[f"scorer {tag}"] = t[f"{tag} match"] + t[f"{tag} score"]
    return result.set_index("person_id")[traits]


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


def run_plink2(bed: str, wide: Path, traits: list[str], out: Path) -> pd.DataFrame:
    cmd = [
        "plink2",
        "--bfile",
        bed,
        "--score",
        str(wide),
        "1",
        "2",
        "header",
        "cols=+scoresums",
        "--score-col-nums",
        f"3-{2 + len(traits)}",
        "--threads",
        "2",
        "--out",
        str(out),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    res = pd.read_csv(str(out) + ".sscore", sep="\t")
    sums = res[[f"SCORE{i + 1}_SUM" for i in range(len(traits))]].to_numpy()
    iid = res["IID"] if "IID" in res.columns else res["#IID"]
    return pd.DataFrame(sums, columns=traits, index=iid.astype("int64"))


def agree(name: str, got: pd.DataFrame, ref: pd.DataFrame) -> float:
    aligned = got.loc[ref.index, list(got.columns)]
    rel = np.abs(aligned.to_numpy() - ref[list(got.columns)].to_numpy()) / np.maximum(
        np.abs(ref[list(got.columns)].to_numpy()), 1e-12
    )
    worst = float(np.max(rel))
    # plink2 prints sums with 6 significant digits, so 1e-5 is its resolution here; exact
    # agreement to 1e-6 is checked by tests/integration/test_genomics_plink2.py
    verdict = "OK" if worst < 1e-5 else "DISAGREES"
    print(f"  {name:<18} max relative difference to plink2 {worst:.2e} {verdict}")
    return worst


def bench_size(spark: Any, work: Path, n: int, m: int, k: int, with_hail: bool) -> dict[str, float]:
    print(f"\nN = {n:,} persons, M = {m:,} variants, K = {k} traits", flush=True)
    mt_path = build_genotypes(work, n, m)
    folder, wide, traits = write_weights(work, mt_path, k)
    bed = str(work / f"geno_{n}x{m}")
    times: dict[str, float] = {}
    ref = timed("plink2", times, lambda: run_plink2(bed, wide, traits, work / f"plink2_{n}x{m}"))
    ours = run_scorer(spark, mt_path, folder, traits, work, times, f"{k} traits")
    agree("scorer", ours, ref)
    one = run_scorer(spark, mt_path, folder, traits[:1], work, times, "1 trait")
    agree("scorer 1 trait", one, ref)
    if with_hail:
        agree(
            "hail agg.sum",
            timed("hail agg.sum", times, lambda: run_hail_one(mt_path, wide, traits)),
            ref,
        )
        agree(
            "hail array_sum",
            timed("hail array_sum", times, lambda: run_hail_array(mt_path, wide, traits)),
            ref,
        )
    report(times, k)
    return times


def report(times: dict[str, float], k: int) -> None:
    print("\n  wall times (s) and ratios")
    for label, value in times.items():
        print(f"    {label:<28} {value:8.2f}")
    ours = times[f"scorer {k} traits"]
    print(f"    scorer {k} / scorer 1 trait      {ours / times['scorer 1 trait']:.2f}x")
    one_pass = times[f"scorer {k} traits: score"] / times["scorer 1 trait: score"]
    print(f"    score step alone, {k} / 1 trait   {one_pass:.2f}x")
    print(f"    scorer {k} / plink2              {ours / times['plink2']:.2f}x")
    with_prep = ours + times[f"scorer prep ({k} traits)"]
    print(f"    scorer prep+{k} / plink2         {with_prep / times['plink2']:.2f}x")
    if "hail array_sum" in times:
        print(f"    hail array_sum / scorer {k}      {times['hail array_sum'] / ours:.1f}x")
        print(f"    hail agg.sum (1 trait) / scorer {k} {times['hail agg.sum'] / ours:.1f}x")


def report_growth(grown: dict[tuple[int, int], dict[str, float]], k: int) -> None:
    """Seconds per 10^9 genotypes for each size: flat when the cost grows linearly in N x M."""
    print(f"\n  growth, {k} traits: seconds per 1e9 genotypes (N x M)")
    print(f"    {'N x M':>16} {'prep':>8} {'match+score':>12} {'plink2':>8}")
    for (n, m), times in grown.items():
        per = 1e9 / (n * m)
        print(
            f"    {f'{n}x{m}':>16} {times[f'scorer prep ({k} traits)'] * per:8.1f} "
            f"{times[f'scorer {k} traits'] * per:12.1f} {times['plink2'] * per:8.1f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000)
    parser.add_argument("--m", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=61)
    parser.add_argument(
        "--sizes", default=None, help="NxM list, e.g. 500x25000,1000x50000 (no Hail idioms)"
    )
    parser.add_argument("--work", default="/tmp/trd-spark-pgs-bench")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    if shutil.which("plink2") is None:
        sys.exit("plink2 is needed (Debian package plink2)")
    from trd_spark.session import start_session, stop_session

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    spark = start_session(str(work / "session"), master="local[2]", driver_memory="6g")
    try:
        if args.sizes:
            grown = {}
            for size in args.sizes.split(","):
                n, m = (int(x) for x in size.lower().split("x"))
                grown[(n, m)] = bench_size(spark, work, n, m, args.k, with_hail=False)
            report_growth(grown, args.k)
        else:
            bench_size(spark, work, args.n, args.m, args.k, with_hail=True)
    finally:
        stop_session()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
