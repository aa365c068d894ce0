"""Read a finished run's output tables for the report.

The tables are small, collected outputs, so pandas reads them directly (a remote run is
copied to a local folder first, :mod:`trd_spark.report.remote`).  A missing table is not
an error: the report shows "not available: <file>" in its place, so a partial run still
gets a report of what it has.  Paths come from :mod:`trd_spark.study`.
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
from trd_spark.study import OUTPUT_TABLES, Layout, output_path

log = logging.getLogger(__name__)

# the output tables the report reads, by their name in trd_spark.study.OUTPUT_TABLES
REPORT_TABLES: tuple[str, ...] = (
    "cohort_attrition",
    "match_report",
    "persons",
    "phenotype_attrition",
    "group_sizes",
    "associations",
    "replication",
    "sensitivity",
    "survival",
    "km",
    "time_to_trd",
    "analysis_attrition",
    "schoenfeld",
)
# a simulated study's planted effects (``trd-spark simulate``), relative to output_dir
TRUTH_EFFECTS = "truth/effects.tsv"
# everything the report reads from a run, relative to output_dir (files and folders)
REPORT_INPUTS: tuple[str, ...] = (
    *(OUTPUT_TABLES[name] for name in REPORT_TABLES),
    Layout.QC_SUMMARY,
    Layout.MANIFESTS,
    TRUTH_EFFECTS,
)


@dataclass
class RunOutputs:
    """The tables of one run; ``missing`` lists the files that were not there."""

    output_dir: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    qc_summary: dict[str, Any] | None = None
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def get(self, name: str) -> pd.DataFrame | None:
        """The table called ``name`` (one of REPORT_TABLES), or None when it is missing."""
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
    pattern = os.path.join(output_path(output_dir, Layout.MANIFESTS), "*.json")
    for path in sorted(glob.glob(pattern)):
        manifest = read_json(path)
        if manifest is not None:
            manifests[os.path.splitext(os.path.basename(path))[0]] = manifest
    return manifests


def read_run_outputs(output_dir: str) -> RunOutputs:
    """Every output table the report uses, recording the missing ones.

    Parameters
    ----------
    output_dir : the run's ``output_dir`` (a local folder).

    Returns
    -------
    RunOutputs with the tables found and the relative paths not found.
    """
    outputs = RunOutputs(output_dir=output_dir)
    for name in REPORT_TABLES:
        table_df = read_table(output_path(output_dir, OUTPUT_TABLES[name]))
        if table_df is None:
            outputs.missing.append(OUTPUT_TABLES[name])
        else:
            outputs.tables[name] = table_df
    outputs.qc_summary = read_json(output_path(output_dir, Layout.QC_SUMMARY))
    if outputs.qc_summary is None:
        outputs.missing.append(Layout.QC_SUMMARY)
    outputs.manifests = read_manifests(output_dir)
    for relative in outputs.missing:
        log.warning("report: %s not found under %s; its section is left out", relative, output_dir)
    return outputs
