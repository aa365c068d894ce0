"""Scoring one platform: match every weight file in Spark tasks, then score the dosage cache.

Two Spark jobs per platform, and no weight ever becomes a Spark row:

1. **match**: each task parses a group of weight files, matches them to the QC'd
   sites of their chromosomes (:mod:`trd_spark.genomics.matching`), writes the
   weights it uses (``var_idx, trait_idx, w``) to a scratch folder and returns
   only per-file counts, from which the driver builds the match report;
2. **score**: each task takes a range of the dosage cache, reads the used weights
   of that range and multiplies (:mod:`trd_spark.genomics.scoring`).

The steps are separate functions so the benchmark can time each of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import SparkSession

from trd_spark import storage
from trd_spark.errors import InputError
from trd_spark.genomics import scoring, taskio
from trd_spark.genomics.matching import (
    COUNT_COLUMNS,
    MatchPlan,
    SiteTable,
    apply_overlap_floor,
    plan_match,
    site_table,
)
from trd_spark.genomics.weights import parse_file

_CHROM_IN_NAME = re.compile(r"_chr([0-9XYMT]+)\.")
SITES_SCHEMA = pa.schema(
    [("chrom", pa.string()), ("position", pa.int64()), ("rsid", pa.string())]
)  # the weight files' sites, as write_weight_sites writes them
_NO_SITES = site_table(*(np.zeros(0, t) for t in (np.int64, object, object, object, np.int64)))
FileGroup = tuple[int, list[tuple[str, str]]]  # (task number, [(trait, file), ...])


@dataclass(frozen=True)
class WeightFiles:
    """The weight files to score and how to parse them."""

    files: pd.DataFrame  # trait, file
    fmt: str  # prscs, pgscatalog or lifted


@dataclass(frozen=True)
class Matched:
    """Where the used weights of a platform are, and what the driver needs of them."""

    folder: str  # one Parquet file per match task: var_idx, trait_idx, w
    report: pd.DataFrame  # match report rows, one per trait, in trait order
    offsets: np.ndarray  # per trait: sum of 2 * beta over flipped weights
    n_used: np.ndarray  # per trait: weights used


def file_groups(files_df: pd.DataFrame, n_groups: int) -> list[FileGroup]:
    """Split the files into ``n_groups`` tasks, files of one chromosome together.

    A task reads the QC'd sites of each chromosome it meets once, so PRS-CS files
    (one chromosome each) are ordered by chromosome before they are cut into groups.
    """
    ordered = files_df.assign(_chrom=files_df["file"].map(_chrom_in_name))
    ordered = ordered.sort_values(["_chrom", "trait", "file"])
    pairs = list(zip(ordered["trait"], ordered["file"], strict=True))
    n_groups = max(1, min(n_groups, len(pairs)))
    bounds = np.linspace(0, len(pairs), n_groups + 1).round().astype(int)
    return [(i, pairs[bounds[i] : bounds[i + 1]]) for i in range(n_groups)]


def _chrom_in_name(file: str) -> str:
    found = _CHROM_IN_NAME.search(file)
    return found.group(1) if found else ""


LAYOUT_COLUMNS = ["chrom", "pos", "rsid", "a1", "a2", "duplicate"]  # all of a file but beta
FilePlan = list[tuple[np.ndarray, MatchPlan]]  # per chromosome: (the file's rows, their plan)


def plan_file(layout: pa.Table, sites: dict[str, SiteTable], keep_ambiguous: bool) -> FilePlan:
    """Match plans of one parsed weight file, chromosome by chromosome (unknown: no sites)."""
    frame = layout.to_pandas()
    parts = frame.groupby("chrom", sort=False, dropna=False).indices
    return [
        (
            np.asarray(rows),
            plan_match(
                frame if len(parts) == 1 else frame.iloc[rows],
                sites.get(str(chrom), _NO_SITES),
                keep_ambiguous,
            ),
        )
        for chrom, rows in parts.items()
    ]


def parse_checked(trait: str, file: str, fmt: str) -> tuple[pa.Table, str | None]:
    """A weight file as Arrow, and the message naming its first bad line (None when good)."""
    table = parse_file(trait, file, fmt)
    if table["error"].null_count < table.num_rows:
        return table, str(table["error"].drop_null()[0].as_py())
    return table, None


def _match_task(
    variants_path: str, traits: list[str], fmt: str, keep_ambiguous: bool, folder: str
) -> Callable[[Iterable[FileGroup]], Iterator[dict[str, Any]]]:
    """The function each Spark task of the match job runs on its group of files.

    A file laid out like the one before it (same positions, rsIDs and alleles) reuses
    its match plans: only its betas are read.
    """
    trait_index = {trait: k for k, trait in enumerate(traits)}

    def run(groups: Iterable[FileGroup]) -> Iterator[dict[str, Any]]:
        sites: dict[str, SiteTable] = {}
        last: tuple[pa.Table, FilePlan] | None = None
        for task, files in groups:
            used: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
            for trait, file in files:
                table, error = parse_checked(trait, file, fmt)
                if error:
                    yield {"trait": trait, "error": error}
                    continue
                layout = table.select(LAYOUT_COLUMNS)
                if last is None or not layout.equals(last[0]):
                    chroms = [str(c) for c in layout["chrom"].unique().drop_null().to_pylist()]
                    needed = sorted(set(chroms) - set(sites))
                    if needed:
                        sites.update(taskio.read_site_tables(variants_path, needed))
                    last = (layout, plan_file(layout, sites, keep_ambiguous))
                beta = table["beta"].to_numpy()
                results = [plan.apply(beta[rows]) for rows, plan in last[1]]
                k = trait_index[trait]
                for r in results:
                    used.append((r.var_idx, np.full(len(r.var_idx), k, np.int32), r.weight))
                counts = {c: sum(r.counts[c] for r in results) for c in COUNT_COLUMNS}
                yield {"trait": trait, **counts, "offset": sum(r.offset for r in results)}
            taskio.write_matched(
                f"{folder}/part-{task:05d}.parquet",
                *(np.concatenate([u[i] for u in used]) if used else np.zeros(0) for i in range(3)),
            )

    return run


def _sites_task(fmt: str, folder: str) -> Callable[[Iterable[FileGroup]], Iterator[str]]:
    """Task of the weight-sites job: each group's distinct (chrom, position, rsid) as a
    Parquet file (``SITES_SCHEMA``; no rsID, or ``.``, is null)."""

    def run(groups: Iterable[FileGroup]) -> Iterator[str]:
        for task, files in groups:
            frames = []
            for trait, file in files:
                table, error = parse_checked(trait, file, fmt)
                if error:
                    yield error
                    continue
                frames.append(table.select(["chrom", "pos", "rsid"]).to_pandas())
            if frames:
                sites = pd.concat(frames).drop_duplicates()
                sites = sites.rename(columns={"pos": "position"})
                sites["rsid"] = sites["rsid"].where(sites["rsid"] != ".", None)
                taskio.write_table(
                    f"{folder}/part-{task:05d}.parquet",
                    pa.Table.from_pandas(sites, SITES_SCHEMA, preserve_index=False),
                )

    return run


def write_weight_sites(spark: SparkSession, weights: WeightFiles, folder: str) -> None:
    """Write every weight file's (chrom, position, rsid) to ``folder/part-*.parquet`` (one
    Spark job; :func:`trd_spark.genomics.qc.read_weight_sites_df` reads them).

    Raises InputError naming the file and line of the first weight file that cannot be used.
    """
    storage.remove(folder)
    storage.makedirs(folder)
    sc = spark.sparkContext
    groups = file_groups(weights.files, 2 * sc.defaultParallelism)
    task = _sites_task(weights.fmt, folder)
    errors = sc.parallelize(groups, len(groups)).mapPartitions(task).collect()
    if errors:
        raise InputError(errors[0])


def match_platform(
    spark: SparkSession,
    weights: WeightFiles,
    variants_path: str,
    traits: list[str],
    keep_ambiguous: bool,
    folder: str,
    platform: str,
) -> Matched:
    """Match every weight file to one platform's QC'd sites (one Spark job).

    Parameters
    ----------
    spark : the session.
    weights : the weight files.
    variants_path : ``qc/variants_<platform>.parquet`` (with ``var_idx``).
    traits : trait order (the catalog's).
    keep_ambiguous : keep A/T and C/G weights.
    folder : scratch folder for the used weights (emptied first).
    platform : for the report and messages.

    Returns
    -------
    The used weights' folder, the match report and the per-trait offsets and counts.
    Raises InputError naming the file and line of the first weight file that cannot be used.
    """
    storage.remove(folder)
    storage.makedirs(folder)
    sc = spark.sparkContext
    groups = file_groups(weights.files, 2 * sc.defaultParallelism)
    task = _match_task(variants_path, traits, weights.fmt, keep_ambiguous, folder)
    rows = sc.parallelize(groups, len(groups)).mapPartitions(task).collect()
    errors = [r["error"] for r in rows if r.get("error")]
    if errors:
        raise InputError(errors[0])
    per_trait = pd.DataFrame(rows).groupby("trait")[[*COUNT_COLUMNS, "offset"]].sum()
    per_trait = per_trait.reindex(traits, fill_value=0)
    return Matched(
        folder=folder,
        report=match_report(per_trait, platform),
        offsets=per_trait["offset"].to_numpy(np.float64),
        n_used=per_trait["n_matched"].to_numpy(np.int64),
    )


def match_report(per_trait: pd.DataFrame, platform: str) -> pd.DataFrame:
    """One platform's match report: counts per trait, ``overlap`` = matched / in file."""
    report_df = per_trait[COUNT_COLUMNS].astype("int64").rename_axis("trait").reset_index()
    report_df.insert(0, "platform", platform)
    report_df["overlap"] = report_df["n_matched"] / report_df["n_in_file"].clip(lower=1)
    return report_df


def score_platform(
    spark: SparkSession,
    cache: scoring.DosageCache,
    matched: Matched,
    traits: list[str],
    cohort_ids: dict[str, np.ndarray],
    fam_ids: list[str],
) -> dict[str, pd.DataFrame]:
    """Score every cohort of one platform from its dosage cache (one Spark job).

    Parameters
    ----------
    spark : the session.
    cache : the platform's dosage cache.
    matched : the platform's matched weights.
    traits : trait order.
    cohort_ids : cohort -> int64 person ids (each must be in the cache).
    fam_ids : the cache's person ids in ``.fam`` order.

    Returns
    -------
    cohort -> the ``pgs/<cohort>.parquet`` table.
    """
    position = {int(s): i for i, s in enumerate(fam_ids)}
    absent = [int(p) for ids in cohort_ids.values() for p in ids if int(p) not in position]
    if absent:
        raise InputError(
            f"person {absent[0]} ({len(absent)} in all) of the cohorts has no genotypes in "
            f"{cache.prefix}.fam; rerun the qc stage"
        )
    columns = {c: np.array([position[int(p)] for p in ids]) for c, ids in cohort_ids.items()}
    sums = scoring.score_cache(spark, cache, matched.folder, columns, len(traits))
    return {
        c: scoring.assemble_scores(cohort_ids[c], sums[c], matched.offsets, matched.n_used, traits)
        for c in cohort_ids
    }


@dataclass(frozen=True)
class QCdGenotypes:
    """What the qc stage wrote for one platform: its sites and its dosage cache."""

    variants_path: str  # qc/variants_<platform>.parquet (with var_idx)
    cache_prefix: str  # qc/dosages_<platform>.bed/.bim/.fam
    n_variants: int


def score_weights(
    spark: SparkSession,
    weights: WeightFiles,
    genotypes: QCdGenotypes,
    traits: list[str],
    cohort_ids: dict[str, np.ndarray],
    keep_ambiguous: bool,
    min_overlap: float,
    scratch_dir: str,
    platform: str,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Match, apply the overlap floor, and score every cohort of one platform.

    Returns
    -------
    (cohort -> ``pgs/<cohort>.parquet`` table with the traits at or above ``min_overlap``
    only, the platform's match report rows with ``scored``).
    """
    matched = match_platform(
        spark,
        weights,
        genotypes.variants_path,
        traits,
        keep_ambiguous,
        f"{scratch_dir.rstrip('/')}/matched",
        platform,
    )
    report_df = apply_overlap_floor(matched.report, min_overlap, platform)
    cache, fam_ids = scoring.open_dosage_cache(genotypes.cache_prefix, genotypes.n_variants)
    scores = score_platform(spark, cache, matched, traits, cohort_ids, fam_ids)
    skipped = report_df.loc[~report_df["scored"], "trait"].tolist()
    return {c: drop_traits(table, skipped) for c, table in scores.items()}, report_df


def drop_traits(scores_df: pd.DataFrame, traits: list[str]) -> pd.DataFrame:
    """A scores table without the columns of ``traits``."""
    return scores_df.drop(columns=[f"{t}{suffix}" for t in traits for suffix in ("", "_n", "_z")])
