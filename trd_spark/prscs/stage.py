"""The ``weights`` stage: PRS-CS weights for every trait of the catalog (docs/prscs.md).

Between ``qc`` and ``score``.  With a ``prscs`` section in the config it writes under
``weights/``: one PRS-CS weight file per trait and chromosome
(``<trait>_pst_eff_a1_b0.5_phiauto_chr<N>.txt``, what the score stage reads),
``match_report.parquet`` (per trait: SNPs in the file, dropped per reason, used),
``chains.parquet`` (per trait and chromosome: SNPs, blocks, the chain's diagnostics) and
``logs/<trait>.log`` (both, as text).  Without one it writes only a note: the score stage
then reads the ready weight files at ``weights.path``.

Three Spark jobs (:mod:`trd_spark.prscs.tasks`): reference x target per chromosome,
summary statistics per trait, and the sampler per (trait, chromosome): all traits and
chromosomes in one job.  With phi fixed the blocks of a chromosome still share the residual
variance sigma2, so (trait, chromosome) stays the unit of work.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pandas as pd
from hail.utils.java import Env

from trd_spark import storage
from trd_spark.config import Config, PrscsConfig
from trd_spark.errors import InputError
from trd_spark.prscs import ldref, tasks
from trd_spark.prscs.matching import DROP_REASONS
from trd_spark.prscs.sampler import ChainSettings
from trd_spark.prscs.sumstats import trait_of_file
from trd_spark.study import Layout, TraitCatalog, output_path, read_trait_catalog

log = logging.getLogger(__name__)
MATCH_COLUMNS = ["trait", "n_gwas", "n_in_file", *DROP_REASONS, "n_used"]
NO_PRSCS_NOTE = (
    "This run's config has no 'prscs' section, so the weights stage computed nothing.\n"
    "The score stage reads the ready weight files at weights.path: {path}\n"
)


def chain_settings(prscs: PrscsConfig) -> ChainSettings:
    """The sampler's settings from the config section."""
    return ChainSettings(
        n_iter=prscs.n_iter,
        n_burnin=prscs.n_burnin,
        thin=prscs.thin,
        phi=prscs.phi_value,
        precision=prscs.precision,
    )


def gwas_sizes(catalog: TraitCatalog, configured: dict[str, float]) -> dict[str, float]:
    """Each trait's GWAS N: ``prscs.n_gwas`` first, then the catalog's ``n_gwas`` column.

    InputError naming the traits that have neither.
    """
    unknown = sorted(set(configured) - set(catalog.names))
    if unknown:
        raise InputError(
            f"prscs.n_gwas names trait(s) {', '.join(unknown[:5])} that the trait catalog "
            f"{catalog.path} does not list"
        )
    sizes = {t.name: configured.get(t.name, t.n_gwas) for t in catalog.traits}
    missing = [name for name, n in sizes.items() if n is None]
    if missing:
        raise InputError(
            f"no GWAS sample size for trait(s) {', '.join(missing[:5])}"
            f"{' ...' if len(missing) > 5 else ''}; give prscs.n_gwas in the config or an "
            f"n_gwas column in the trait catalog {catalog.path}"
        )
    return {name: float(n) for name, n in sizes.items() if n is not None}


def list_sumstats(folder: str, traits: list[str]) -> dict[str, str]:
    """trait -> its summary-statistics file in ``folder``; InputError for a trait without one
    or with two."""
    try:
        names = ldref.list_names(folder)
    except OSError:
        names = []
    if not names:
        raise InputError(
            f"summary statistics folder {folder} is empty or missing; check prscs.sumstats"
        )
    files: dict[str, list[str]] = {}
    for name in names:
        trait = trait_of_file(name)
        if trait in traits:
            files.setdefault(trait, []).append(storage.join(folder, name))
    twice = [t for t, found in files.items() if len(found) > 1]
    if twice:
        raise InputError(
            f"{folder}: several summary-statistics files for trait {twice[0]} "
            f"({', '.join(files[twice[0]])}); keep one"
        )
    absent = [t for t in traits if t not in files]
    if absent:
        raise InputError(
            f"{folder}: no summary statistics for trait(s) {', '.join(absent[:5])}"
            f"{' ...' if len(absent) > 5 else ''}; expected e.g. {absent[0]}.txt "
            "(SNP A1 A2 BETA/OR P/SE)"
        )
    return {t: found[0] for t, found in files.items()}


def _targets(config: Config, prscs: PrscsConfig) -> list[tasks.Target]:
    platforms = prscs.target_platforms or list(config.genotypes)
    targets = []
    for platform in platforms:
        path = output_path(config.output_dir, Layout.qc_variants(platform))
        if not storage.exists(path):
            raise InputError(f"{path} is missing; run the qc stage first")
        same_build = config.genotypes[platform].reference_genome == config.weights.reference_genome
        targets.append(tasks.Target(path, same_build))
    return targets


def _run_job(
    items: list[Any], function: Callable[[Iterable[Any]], Iterator[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """One Spark job, one task per item; the first error a task reports is raised."""
    sc = Env.spark_session().sparkContext
    rows = sc.parallelize(items, max(1, len(items))).mapPartitions(function).collect()
    errors = [r["error"] for r in rows if r.get("error")]
    if errors:
        raise InputError(errors[0])
    return list(rows)


def run_weights(config: Config, out_dir: str) -> dict[str, Any]:
    """Compute the PRS-CS weights of every trait (nothing without a ``prscs`` section).

    Parameters
    ----------
    config : the run's configuration.
    out_dir : staging folder; outputs go to ``out_dir/weights``.

    Returns
    -------
    Small summary for the manifest: traits, SNPs used, chains run.
    """
    folder = storage.join(out_dir, Layout.WEIGHTS)
    storage.makedirs(folder)
    prscs = config.prscs
    if prscs is None:
        storage.write_text(
            storage.join(folder, "README.txt"), NO_PRSCS_NOTE.format(path=config.weights.path)
        )
        return {"prscs": False}
    catalog = read_trait_catalog(config.weights.traits)
    n_gwas = gwas_sizes(catalog, prscs.n_gwas)
    files = list_sumstats(prscs.sumstats, catalog.names)
    panel = ldref.find_panel(prscs.ld_ref)
    settings = chain_settings(prscs)
    scratch = storage.join(out_dir, "_scratch", "weights")
    storage.remove(scratch)
    for sub in ("reference", "matched"):
        storage.makedirs(storage.join(scratch, sub))
    chroms = list(panel.chromosomes)
    log.info(
        "weights: matching LD panel %s (%d chromosomes) to the genotypes", panel.name, len(chroms)
    )
    keep_ambiguous = config.weights.keep_ambiguous
    reference = _run_job(
        chroms,
        tasks.reference_task(panel.snpinfo, _targets(config, prscs), keep_ambiguous, scratch),
    )
    log.info("weights: reading the summary statistics of %d traits", len(files))
    items = [(t, files[t], n_gwas[t]) for t in catalog.names]
    matched = _run_job(items, tasks.sumstats_task(chroms, keep_ambiguous, scratch))
    work = [
        (row["trait"], chrom, n_gwas[row["trait"]])
        for chrom in chroms
        for row in matched
        if row["per_chrom"].get(chrom)
    ]  # chromosome-major: consecutive tasks read the same LD file
    log.info(
        "weights: %d chains (traits x chromosomes), %d iterations each", len(work), settings.n_iter
    )
    chains = _run_job(
        work, tasks.sampler_task(panel.chromosomes, settings, prscs.seed, scratch, folder)
    )
    match_df, chains_df = _tables(matched, chains, n_gwas, catalog.names)
    _write_outputs(out_dir, match_df, chains_df, reference, panel, prscs)
    storage.remove(storage.join(out_dir, "_scratch"))
    return {
        "prscs": True,
        "panel": panel.name,
        "traits": len(catalog.names),
        "chains": len(chains_df),
        "snps_used": match_df.set_index("trait")["n_used"].to_dict(),
    }


def _tables(
    matched: list[dict[str, Any]],
    chains: list[dict[str, Any]],
    n_gwas: dict[str, float],
    traits: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-trait match report and the per-chain table, in catalog and chromosome order."""
    chains_df = pd.DataFrame(chains)
    chains_df["chrom_order"] = chains_df["chrom"].astype(int)
    chains_df["trait"] = pd.Categorical(chains_df["trait"], categories=traits, ordered=True)
    chains_df = chains_df.sort_values(["trait", "chrom_order"]).drop(columns="chrom_order")
    chains_df["trait"] = chains_df["trait"].astype(str)
    match_df = pd.DataFrame(matched).drop(columns="per_chrom").set_index("trait").reindex(traits)
    per_trait = chains_df.groupby("trait")[["not_in_ld_block", "n_snps"]].sum()
    match_df["not_in_ld_block"] = per_trait["not_in_ld_block"].reindex(traits).fillna(0)
    match_df["n_used"] = per_trait["n_snps"].reindex(traits).fillna(0)
    match_df["n_gwas"] = pd.Series(n_gwas)
    match_df = match_df.reset_index()[MATCH_COLUMNS]
    counts = [c for c in MATCH_COLUMNS if c not in ("trait", "n_gwas")]
    match_df[counts] = match_df[counts].astype("int64")
    return match_df, chains_df.reset_index(drop=True)


def _write_outputs(
    out_dir: str,
    match_df: pd.DataFrame,
    chains_df: pd.DataFrame,
    reference: list[dict[str, Any]],
    panel: ldref.LDPanel,
    prscs: PrscsConfig,
) -> None:
    storage.write_parquet(match_df, output_path(out_dir, Layout.WEIGHTS_MATCH))
    storage.write_parquet(chains_df, output_path(out_dir, Layout.WEIGHTS_CHAINS))
    header = _log_header(reference, panel, prscs)
    for counts in match_df.to_dict("records"):
        trait = str(counts["trait"])
        storage.write_text(
            output_path(out_dir, Layout.weights_log(trait)),
            header + _trait_log(counts, chains_df[chains_df["trait"] == trait]),
        )


def _log_header(reference: list[dict[str, Any]], panel: ldref.LDPanel, prscs: PrscsConfig) -> str:
    n_reference = sum(r["n_reference"] for r in reference)
    n_in_target = sum(r["n_in_target"] for r in reference)
    return (
        f"PRS-CS (trd-spark weights stage), LD panel {panel.name} ({panel.folder})\n"
        f"reference SNPs: {n_reference}, on a target platform after QC: {n_in_target}\n"
        f"phi: {prscs.phi}; iterations {prscs.n_iter}, burn-in {prscs.n_burnin}, thin "
        f"{prscs.thin}; seed {prscs.seed}; LD arithmetic in {prscs.precision} precision\n"
        "blocks: dense (Cholesky of D + diag(1/psi)) or low-rank (D = L L' with L of rank r "
        "below the block's SNPs, Woodbury's identity); see docs/prscs.md\n"
    )


def _trait_log(counts: dict[Any, Any], chains_df: pd.DataFrame) -> str:
    """A trait's log: SNP counts per drop reason, then one line per chromosome's chain."""
    lines = [
        "",
        f"trait {counts['trait']}: GWAS N {counts['n_gwas']:g}",
        f"SNPs in the summary statistics: {counts['n_in_file']}",
        *(f"  dropped, {reason}: {counts[reason]}" for reason in DROP_REASONS),
        f"SNPs used: {counts['n_used']}",
        "",
        "chains (posterior mean, in brackets the effective sample size of the kept draws):",
        f"{'chr':>3} {'SNPs':>6} {'blocks':>6} {'low-rank':>8} {'largest':>7} {'rank':>5} "
        f"{'sigma2':>14} {'phi':>17} {'h2':>14} {'seconds':>8} {'us/SNP/it':>9}",
    ]
    run = chains_df[chains_df["n_snps"] > 0]
    for c in chains_df.to_dict("records"):
        if c["n_snps"] == 0:
            lines.append(f"{c['chrom']:>3} {0:>6}  no SNP of the trait in an LD block")
            continue
        sigma2 = _with_ess(c["sigma2_mean"], c["sigma2_ess"], ".4f")
        phi = _with_ess(c["phi_mean"], c["phi_ess"], ".3e")
        h2 = _with_ess(c["h2_mean"], c["h2_ess"], ".4f")
        rank = str(int(c["largest_rank"])) if c["largest_rank"] else "-"
        lines.append(
            f"{c['chrom']:>3} {c['n_snps']:>6} {c['n_blocks']:>6} {c['n_low_rank_blocks']:>8.0f} "
            f"{c['largest_block']:>7.0f} {rank:>5} {sigma2:>14} {phi:>17} {h2:>14} "
            f"{c['seconds']:>8.1f} {c['us_per_snp_iteration']:>9.2f}"
        )
    if len(run):
        kept = int(run["n_kept"].iloc[0])
        low = {key: run.loc[run[f"{key}_ess"].idxmin()] for key in ("sigma2", "h2")}
        lines += [
            "",
            f"total: {int(run['n_snps'].sum())} SNPs in {int(run['n_blocks'].sum())} blocks "
            f"({int(run['n_low_rank_blocks'].sum())} low-rank), h2 {run['h2_mean'].sum():.4f}, "
            f"{run['seconds'].sum():.1f} s",
            f"lowest effective sample size of {kept} kept draws: sigma2 "
            f"{low['sigma2']['sigma2_ess']:.0f} (chr {low['sigma2']['chrom']}), h2 "
            f"{low['h2']['h2_ess']:.0f} (chr {low['h2']['chrom']})",
        ]
    return "\n".join(lines) + "\n"


def _with_ess(mean: float, ess: float, spec: str) -> str:
    """``mean (ESS)``; ``mean (fixed)`` for a parameter the chain does not learn (ESS NaN)."""
    return f"{mean:{spec}} ({'fixed' if math.isnan(ess) else f'{ess:.0f}'})"
