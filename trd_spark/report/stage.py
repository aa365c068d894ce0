"""The report stage: ``run_report(config, out_dir)`` writes ``out_dir/report/``.

It reads every finished output under ``config.output_dir`` with pandas (no
Spark), draws the figures, writes ``index.html`` with its PNGs beside it and
shareable CSV copies of the tables (small counts suppressed) under
``report/tables/``.  A remote run (gs://, s3://) is copied to a local scratch
folder first and the report copied up after (:mod:`trd_spark.storage`).
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import os
import tempfile
from typing import Any

from trd_spark.config import Config
from trd_spark.report.html import Section, render_page, render_paragraphs, render_table
from trd_spark.report.load import (
    QC_SUMMARY_FILE,
    TABLE_FILES,
    read_manifests,
    read_run_outputs,
    read_trait_catalog,
)
from trd_spark.report.methods import describe_suppression, stage_timings, write_methods
from trd_spark.report.sections import ReportSettings, SectionResult, build_sections
from trd_spark.storage import download, upload
from trd_spark.uri import is_remote, join

log = logging.getLogger(__name__)

REPORT_TITLE = "Genetic correlates of treatment-resistant depression: study report"
# what the report reads from a run (copied down first when the run is remote)
REPORT_INPUTS = (*TABLE_FILES.values(), QC_SUMMARY_FILE, "manifests")


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
    timings_df = stage_timings(outputs.manifests)
    methods_section = Section(
        "methods",
        "Methods (from the configuration used)",
        render_paragraphs(methods)
        + "<h3>Stages of this run</h3>"
        + (render_table(timings_df) if len(timings_df) else "<p>No stage manifests found.</p>"),
    )
    intro = (
        render_paragraphs(
            [
                f"Run: {run_label or output_dir}" + (f" (config {source})" if source else ""),
                f"Written {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}.",
            ]
        )
        + f"<p class='note'>{html.escape(notice)}</p>"
    )
    page = render_page(REPORT_TITLE, intro, [r.section for r in results] + [methods_section])
    with open(os.path.join(report_dir, "index.html"), "w", encoding="utf-8") as handle:
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
        report_dir = os.path.join(local_out, "report")
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
            upload(report_dir, join(out_dir, "report"))
    log.info("report written (it moves to %s when the stage finishes)", "report/index.html")
    return {
        "index": "report/index.html",
        "figures": [name for r in results for name in r.figures],
        "tables": [name for r in results for name in r.tables],
        "unavailable": [r.section.anchor for r in results if not r.available],
        "suppression": notice,
    }
