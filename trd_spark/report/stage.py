"""The report stage: ``run_report(config, out_dir)`` writes ``out_dir/report/``.

It reads every finished output under ``config.output_dir`` with pandas (no
Spark), draws the figures, writes ``index.html`` with its PNGs beside it and
shareable CSV copies of the tables (small counts suppressed) under
``report/tables/``.  A remote run (gs://, s3://) is copied to a local scratch
folder first and the report copied up after (:mod:`trd_spark.storage`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from typing import Any

from trd_spark.config import Config
from trd_spark.report.load import REPORT_INPUTS, read_manifests, read_run_outputs
from trd_spark.report.methods import describe_suppression, stage_timings, write_methods
from trd_spark.report.render import render_page
from trd_spark.report.sections import (
    ReportSettings,
    SectionResult,
    build_sections,
    methods_section,
)
from trd_spark.study import Layout, output_path, pooled_set_name, read_trait_catalog
from trd_spark.storage import download, upload
from trd_spark.uri import is_remote, join

log = logging.getLogger(__name__)

REPORT_TITLE = "Genetic correlates of treatment-resistant depression: study report"
# the report's folder under output_dir (``report``)
REPORT_FOLDER = os.path.dirname(Layout.REPORT_INDEX)


def pooled_set(config: Config) -> str:
    """The survival set pooling the discovery cohort's platform, or ``""`` when the config
    has no second cohort on that platform (the analyze stage pools two or more)."""
    platform = config.cohorts[config.discovery_cohort].genotypes
    on_platform = [name for name, rule in config.cohorts.items() if rule.genotypes == platform]
    return pooled_set_name(platform) if len(on_platform) >= 2 else ""


def settings_from_config(config: Config, report_dir: str) -> ReportSettings:
    """The plain values the report needs, taken from the run's config."""
    return ReportSettings(
        report_dir=report_dir,
        cohorts=[config.discovery_cohort]
        + [name for name in config.cohorts if name != config.discovery_cohort],
        discovery=config.discovery_cohort,
        primary_trd=config.analysis.primary_trd,
        primary_trmdd=config.analysis.primary_trmdd,
        min_count=config.report.min_count,
        suppress=config.report.suppress_small_counts,
        km_traits=list(config.report.km_traits),
        pooled_set=pooled_set(config),
    )


def write_report(
    output_dir: str,
    report_dir: str,
    settings: ReportSettings,
    methods: list[str],
    traits_path: str,
    notice: str = "",
    source: str = "",
    run_label: str = "",
) -> list[SectionResult]:
    """Write ``index.html``, its figures and shared tables into ``report_dir``.

    Parameters
    ----------
    output_dir : the finished run to report on.
    report_dir : where the report goes (created).
    settings : the report settings.
    methods : the methods paragraphs.
    traits_path : the trait catalog.
    notice : shown under the title (the small-count policy in force).
    source : the config file, named on the page.
    run_label : the run named on the page (default ``output_dir``).

    Returns
    -------
    The sections built.
    """
    os.makedirs(report_dir, exist_ok=True)
    outputs = read_run_outputs(output_dir)
    results = build_sections(outputs, read_trait_catalog(traits_path), settings)
    methods_part = methods_section(methods, stage_timings(outputs.manifests))
    intro = [
        f"Run: {run_label or output_dir}" + (f" (config {source})" if source else ""),
        f"Written {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}.",
    ]
    page = render_page(REPORT_TITLE, intro, notice, [r.section for r in results] + [methods_part])
    index = os.path.join(report_dir, os.path.basename(Layout.REPORT_INDEX))
    with open(index, "w", encoding="utf-8") as handle:
        handle.write(page)
    return results


def run_report(config: Config, out_dir: str) -> dict[str, Any]:
    """The report stage: write ``out_dir/report/index.html`` with PNGs and shared tables.

    Parameters
    ----------
    config : the run's config (outputs are read from ``config.output_dir``, local or remote).
    out_dir : the staging folder the pipeline gives the stage (local or remote).

    Returns
    -------
    Paths written (relative to the report folder), sections unavailable, and the
    suppression setting, for the stage manifest.
    """
    notice = describe_suppression(config.report.suppress_small_counts, config.report.min_count)
    with tempfile.TemporaryDirectory(prefix="trd-report-") as scratch:
        source_dir = config.output_dir
        if is_remote(source_dir):
            source_dir = os.path.join(scratch, "run")
            for relative in REPORT_INPUTS:  # absent ones: the report says "not available"
                download(join(config.output_dir, relative), os.path.join(source_dir, relative))
        local_out = os.path.join(scratch, "out") if is_remote(out_dir) else out_dir
        report_dir = os.path.join(local_out, REPORT_FOLDER)
        results = write_report(
            source_dir,
            report_dir,
            settings_from_config(config, report_dir),
            write_methods(config, read_manifests(source_dir)),
            config.weights.traits,
            notice=notice,
            source=config.source,
            run_label=config.output_dir,
        )
        if is_remote(out_dir):
            upload(report_dir, output_path(out_dir, REPORT_FOLDER))
    log.info("report written (it moves to %s when the stage finishes)", Layout.REPORT_INDEX)
    return {
        "index": Layout.REPORT_INDEX,
        "figures": [name for r in results for name in r.figures],
        "tables": [name for r in results for name in r.tables],
        "unavailable": [r.section.anchor for r in results if not r.available],
        "suppression": notice,
    }
