"""Read a finished run's output tables for the report.

The tables are small, collected outputs, so pandas reads them directly.  A
missing table is not an error: the report shows "not available: <file>" in
its place, so a partial run still gets a report of what it has.
"""

from __future__ import annotations

import glob
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trd_spark.errors import InputError

log = logging.getLogger(__name__)

# name used in the report -> path under output_dir
TABLE_FILES: dict[str, str] = {
    "cohort_attrition": "qc/cohort_attrition.parquet",
    "match_report": "pgs/match_report.parquet",
    "persons": "phenotypes/persons.parquet",
    "phenotype_attrition": "phenotypes/attrition.parquet",
    "group_sizes": "phenotypes/group_sizes.parquet",
    "associations": "results/associations.parquet",
    "replication": "results/replication.parquet",
    "sensitivity": "results/sensitivity.parquet",
    "survival": "results/survival.parquet",
    "km": "results/km.parquet",
    "time_to_trd": "results/time_to_trd.parquet",
    "analysis_attrition": "results/attrition.parquet",
}
QC_SUMMARY_FILE = "qc/summary.json"
TRAIT_COLUMNS = ("trait", "label", "domain")


@dataclass
class RunOutputs:
    """The tables of one run; ``missing`` lists the files that were not there."""

    output_dir: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    qc_summary: dict[str, Any] | None = None
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def get(self, name: str) -> pd.DataFrame | None:
        """The table called ``name`` (a key of TABLE_FILES), or None when it is missing."""
        return self.tables.get(name)


def read_table(path: str) -> pd.DataFrame | None:
    """A Parquet file or folder as a DataFrame; None when absent.

    Parameters
    ----------
    path : a ``.parquet`` file or a folder of part files (as Spark writes).

    Returns
    -------
    The table, or None when the path does not exist.
    """
    if not os.path.exists(path):
        return None
    try:
        return pd.read_parquet(path)
    except Exception as err:
        raise InputError(
            f"{path}: cannot be read as Parquet ({err}); re-run the stage that writes it "
            "with --force"
        ) from err


def read_json(path: str) -> dict[str, Any] | None:
    """A JSON object from ``path``; None when absent."""
    if not os.path.exists(path):
        return None
    try:
        with open(path) as handle:
            value = json.load(handle)
    except json.JSONDecodeError as err:
        raise InputError(
            f"{path}: not valid JSON ({err}); re-run the stage that writes it"
        ) from err
    return value if isinstance(value, dict) else {"value": value}


def read_manifests(output_dir: str) -> dict[str, dict[str, Any]]:
    """Every ``manifests/<stage>.json`` of a run, keyed by stage."""
    manifests: dict[str, dict[str, Any]] = {}
    for path in sorted(glob.glob(os.path.join(output_dir, "manifests", "*.json"))):
        manifest = read_json(path)
        if manifest is not None:
            manifests[os.path.splitext(os.path.basename(path))[0]] = manifest
    return manifests


def read_trait_catalog(path: str) -> pd.DataFrame:
    """The trait catalog (``trait``, ``label``, ``domain``, ``source``) in file order.

    Parameters
    ----------
    path : ``traits.tsv``.

    Returns
    -------
    The catalog; InputError when a required column is missing.
    """
    catalog_df = pd.read_csv(path, sep="\t", dtype=str)
    absent = [column for column in TRAIT_COLUMNS if column not in catalog_df.columns]
    if absent:
        raise InputError(
            f"{path}: trait catalog lacks column(s) {', '.join(absent)}; "
            "it needs a header line: trait, label, domain, source"
        )
    return catalog_df


def read_run_outputs(output_dir: str) -> RunOutputs:
    """Every output table the report uses, recording the missing ones.

    Parameters
    ----------
    output_dir : the run's ``output_dir``.

    Returns
    -------
    RunOutputs with the tables found and the relative paths not found.
    """
    outputs = RunOutputs(output_dir=output_dir)
    for name, relative in TABLE_FILES.items():
        table_df = read_table(os.path.join(output_dir, relative))
        if table_df is None:
            outputs.missing.append(relative)
        else:
            outputs.tables[name] = table_df
    outputs.qc_summary = read_json(os.path.join(output_dir, QC_SUMMARY_FILE))
    if outputs.qc_summary is None:
        outputs.missing.append(QC_SUMMARY_FILE)
    outputs.manifests = read_manifests(output_dir)
    for relative in outputs.missing:
        log.warning("report: %s not found under %s; its section is left out", relative, output_dir)
    return outputs
