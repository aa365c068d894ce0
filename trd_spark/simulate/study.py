"""Write a whole synthetic All-of-Us-like study: genotypes, ancestry, weights, OMOP, truth.

The layout and the planted truth are described in ``docs/architecture.md`` ("The simulated
study") and in the README.md written into the study folder.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from trd_spark.errors import InputError
from trd_spark.resources import conf_path
from trd_spark.simulate import layout
from trd_spark.simulate.density import get_density
from trd_spark.simulate.effects import build_effects
from trd_spark.simulate.ehr_writer import write_ehr
from trd_spark.simulate.genetics import simulate_genetics
from trd_spark.simulate.gwas import simulate_gwas
from trd_spark.simulate.persons import build_persons
from trd_spark.simulate.plan import plan_persons
from trd_spark.simulate.scales import get_scale

log = logging.getLogger(__name__)
KNOWN_PARTS = ("genotypes", "ehr")
KNOWN_EXPORTS = ("vcf", "plink")
SESSION_ENTRIES = {"_tmp", "logs"}  # the session helper may create these before we run
# A previous study and a pipeline run on it (output_dir "."): all that overwrite removes.
STUDY_ENTRIES = {
    "data", "truth", "config.yaml", "config_prscs.yaml", "README.md", "_work",
    "qc", "weights", "pgs", "phenotypes", "results", "report", "manifests",
}  # fmt: skip


def check_folder(out_dir: str, overwrite: bool) -> None:
    """Refuse a non-empty ``out_dir`` unless ``overwrite``; changes nothing on disk.

    A Hail session's own scratch and logs there do not count.
    """
    root = Path(out_dir)
    if overwrite or not root.is_dir():
        return
    if any(p.name not in SESSION_ENTRIES for p in root.iterdir()):
        raise InputError(
            f"{root} exists and is not empty; choose another folder or pass --overwrite "
            "(overwrite=True) to replace the study in it"
        )


def prepare_folder(out_dir: str, overwrite: bool) -> Path:
    """Create ``out_dir``; refuse a non-empty one unless ``overwrite`` (then remove a previous
    study's files and its pipeline outputs, leaving anything else alone).

    Parameters
    ----------
    out_dir : the study folder.
    overwrite : replace a previous study there.

    Returns
    -------
    The folder as a Path.
    """
    check_folder(out_dir, overwrite)
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    entries = [p for p in root.iterdir() if p.name not in SESSION_ENTRIES]
    for entry in (e for e in entries if e.name in STUDY_ENTRIES):
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return root


def check_arguments(export: Sequence[str], parts: Sequence[str]) -> None:
    """Reject unknown export formats and parts."""
    for value, known, what in ((export, KNOWN_EXPORTS, "export"), (parts, KNOWN_PARTS, "parts")):
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise InputError(f"simulate: unknown {what} {unknown}; choose from {list(known)}")
    if export and "genotypes" not in parts:
        raise InputError("simulate: --export needs the genotypes part")


def simulate_study(
    out_dir: str,
    scale: str = "demo",
    seed: int = 2025,
    export: Sequence[str] = (),
    overwrite: bool = False,
    parts: Sequence[str] = ("genotypes", "ehr"),
    ehr_density: str | None = None,
    size_factor: float = 1.0,
) -> Path:
    """Write a synthetic study into ``out_dir``.

    Parameters
    ----------
    out_dir : study folder (created; a non-empty one needs ``overwrite``).
    scale : ``tiny`` (~600 persons), ``demo`` (~30,000) or ``aou`` (292,663 + extras).
    seed : the same seed writes the same content.
    export : also write ``vcf`` and/or ``plink`` copies of each platform's genotypes.
    overwrite : replace what is in ``out_dir``.
    parts : ``genotypes`` and/or ``ehr``; ``("ehr",)`` writes persons, OMOP and status truth only.
    ehr_density : ``sparse`` (the phenotype-relevant events only) or ``realistic`` (hundreds
        of everyday rows per person, see ``trd_spark.simulate.density``); None: the scale's.
    size_factor : every person count of the scale multiplied by this (benchmarks).

    Returns
    -------
    Path of the study's ``config.yaml``.
    """
    check_arguments(export, parts)
    sizes = get_scale(scale)
    if size_factor != 1.0:
        sizes = sizes.scaled(size_factor)
    if ehr_density is not None:
        get_density(ehr_density)  # an unknown name fails before anything is written
    root = prepare_folder(out_dir, overwrite)
    started = time.perf_counter()
    traits_df = pd.read_csv(conf_path("traits.tsv"), sep="\t")
    persons_df = build_persons(np.random.default_rng([seed, 1]), sizes)
    genetics = simulate_genetics(
        root, seed, sizes, persons_df, traits_df, "genotypes" in parts, "plink" in export
    )
    effects_df = build_effects(traits_df)
    plan_df = plan_persons(
        np.random.default_rng([seed, 2]),
        persons_df,
        genetics.genetic_values,
        effects_df,
        sizes.fractions,
    )
    if "genotypes" in parts:
        genetics.finish(root, plan_df, export)
    if "ehr" in parts:
        truth_df, tte_df = write_ehr(root, seed, sizes, plan_df, ehr_density)
        layout.write_truth_persons(root, plan_df, truth_df, tte_df)
    layout.write_effects(root, effects_df, genetics, sizes)
    layout.write_genetic_values(root, persons_df, traits_df, genetics)
    config_path = layout.write_config(root, parts, scale, seed)
    if "genotypes" in parts:  # summary statistics and LD panel for the weights stage
        simulate_gwas(root, seed, scale, genetics)
    layout.write_readme(root, sizes, seed, parts, export, ehr_density)
    log.info("simulated %s study in %s (%.1f s)", scale, root, time.perf_counter() - started)
    return config_path
