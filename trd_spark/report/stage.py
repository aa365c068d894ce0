"""The report stage: ``run_report(config, out_dir)`` writes ``out_dir/report/``.

It reads every finished output under ``config.output_dir`` with pandas (no
Spark), puts every count of persons it will show through disclosure control
(:mod:`trd_spark.report.disclose`: it refuses to write anything if the attack recovers a
count of 1 to 20), draws the figures, writes ``index.html`` with its PNGs beside it and
the shareable tables under ``report/tables/``.  Exact counts go to
``private/report_cells.tsv`` only.  A remote run (gs://, s3://) is copied to a local scratch
folder first and the report copied up after (:mod:`trd_spark.storage`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from typing import Any

from trd_spark.config import Config
from trd_spark.disclosure import Policy
from trd_spark.disclosure.private import write_private
from trd_spark.report import select
from trd_spark.report.disclose import Disclosed, disclose, run_facts, shareable_tables
from trd_spark.report.export import shared_csv_name
from trd_spark.report.load import REPORT_INPUTS, RunOutputs, read_manifests, read_run_outputs
from trd_spark.report.methods import stage_timings, write_methods
from trd_spark.report.render import render_page
from trd_spark.report.sections import (
    ReportSettings,
    SectionResult,
    build_sections,
    methods_section,
)
from trd_spark.report.shareable import Facts
from trd_spark.report.truth import truth_effects_path
from trd_spark.storage import download, upload
from trd_spark.study import Layout, output_path, pooled_set_name, read_trait_catalog
from trd_spark.uri import is_remote, join

log = logging.getLogger(__name__)

REPORT_TITLE = "Genetic correlates of treatment-resistant depression: study report"
# the report's folder under output_dir (``report``)
REPORT_FOLDER = os.path.dirname(Layout.REPORT_INDEX)
FACTS_NAME = "disclosure"  # tables/disclosure.json


def pooled_set(config: Config) -> str:
    """The survival set pooling the discovery cohort's platform, or ``""`` when the config
    has no second cohort on that platform (the analyze stage pools two or more)."""
    platform = config.cohorts[config.discovery_cohort].genotypes
    on_platform = [name for name, rule in config.cohorts.items() if rule.genotypes == platform]
    return pooled_set_name(platform) if len(on_platform) >= 2 else ""


def settings_from_config(config: Config, report_dir: str, run_dir: str = "") -> ReportSettings:
    """The plain values the report needs, taken from the run's config.

    Parameters
    ----------
    config : the run's config.
    report_dir : where the report is written.
    run_dir : the run's outputs as a local folder (default ``config.output_dir``); its
        ``truth/effects.tsv``, present in a study written by ``trd-spark simulate``, adds
        the truth-beside-estimate section.
    """
    truth_effects, show_truth = truth_effects_path(run_dir or config.output_dir)
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
        platforms={name: rule.genotypes for name, rule in config.cohorts.items()},
        rounding_base=config.report.rounding_base,
        significance=config.analysis.significance,
        truth_effects=truth_effects,
        show_truth=show_truth,
    )


def policy_of(settings: ReportSettings) -> Policy:
    """The disclosure policy the settings ask for."""
    return Policy(settings.min_count, settings.suppress, settings.rounding_base)


def protect_report(outputs: RunOutputs, settings: ReportSettings) -> Disclosed:
    """Every shareable table of the report through disclosure control and the attack.

    Raises DisclosureError or StructureError before anything is written.
    """
    policy = policy_of(settings)
    primary = (settings.primary_trd, settings.primary_trmdd)
    survival_set = select.survival_set(
        outputs.get("survival"), settings.pooled_set, settings.discovery
    )
    tables, errors = shareable_tables(
        outputs, primary, settings.cohorts, survival_set, policy.threshold, settings.km_traits
    )
    facts = run_facts(
        outputs, policy, primary, settings.discovery, settings.platforms, survival_set
    )
    disclosed = disclose(tables, facts)
    disclosed.errors |= errors
    return disclosed


def write_report(
    output_dir: str,
    report_dir: str,
    settings: ReportSettings,
    methods: list[str],
    traits_path: str,
    source: str = "",
    run_label: str = "",
) -> tuple[list[SectionResult], Disclosed]:
    """Protect the report's counts, then write ``index.html``, its figures and the shareable
    tables (with ``tables/disclosure.json``, the structure the audit needs) into
    ``report_dir``.

    Parameters
    ----------
    output_dir : the finished run to report on.
    report_dir : where the report goes (created only once disclosure control passed).
    settings : the report settings.
    methods : the methods paragraphs.
    traits_path : the trait catalog.
    source : the config file, named on the page.
    run_label : the run named on the page (default ``output_dir``).

    Returns
    -------
    The sections built and the disclosure decisions.
    """
    outputs = read_run_outputs(output_dir)
    catalog = read_trait_catalog(traits_path)
    disclosed = protect_report(outputs, settings)
    os.makedirs(report_dir, exist_ok=True)
    results = build_sections(outputs, disclosed, catalog, settings)
    write_facts(disclosed.facts, report_dir)
    methods_part = methods_section(methods, stage_timings(outputs.manifests))
    intro = [
        f"Run: {run_label or output_dir}" + (f" (config {source})" if source else ""),
        f"Written {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}.",
    ]
    sections = [r.section for r in results] + [methods_part]
    page = render_page(REPORT_TITLE, intro, disclosed.policy.describe(), sections)
    index = os.path.join(report_dir, os.path.basename(Layout.REPORT_INDEX))
    with open(index, "w", encoding="utf-8") as handle:
        handle.write(page)
    return results, disclosed


def write_facts(facts: Facts, report_dir: str) -> str:
    """``tables/disclosure.json``: the facts the tables' structure rests on (no counts)."""
    path = os.path.join(report_dir, *shared_csv_name(FACTS_NAME).split("/"))
    path = path.removesuffix(".csv") + ".json"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(facts.to_json())
    return path


def cells_text(disclosed: Disclosed) -> str:
    """Every count of the report with its true value and decision (for ``private/``)."""
    lines = ["key\tvalue\tdecision\tshown in"]
    protection, ledger = disclosed.protection, disclosed.ledger
    for key, value in ledger.values.items():
        decision = (
            "primary" if key in protection.primary
            else "complementary" if key in protection.complementary
            else "published" if key in protection.published
            else "hidden"
        )  # fmt: skip
        places = "; ".join(str(p) for p in ledger.places.get(key, []))
        lines.append(f"{key}\t{value}\t{decision}\t{places}")
    return "\n".join(lines) + "\n"


def run_report(config: Config, out_dir: str) -> dict[str, Any]:
    """The report stage: write ``out_dir/report/index.html`` with PNGs and shared tables.

    Parameters
    ----------
    config : the run's config (outputs are read from ``config.output_dir``, local or remote).
    out_dir : the staging folder the pipeline gives the stage (local or remote).

    Returns
    -------
    Paths written (relative to the report folder), sections unavailable, and the
    disclosure control applied (numbers of cells, not of persons), for the stage manifest.
    """
    with tempfile.TemporaryDirectory(prefix="trd-report-") as scratch:
        source_dir = config.output_dir
        if is_remote(source_dir):
            source_dir = os.path.join(scratch, "run")
            for relative in REPORT_INPUTS:  # absent ones: the report says "not available"
                download(join(config.output_dir, relative), os.path.join(source_dir, relative))
        local_out = os.path.join(scratch, "out") if is_remote(out_dir) else out_dir
        report_dir = os.path.join(local_out, REPORT_FOLDER)
        results, disclosed = write_report(
            source_dir,
            report_dir,
            settings_from_config(config, report_dir, source_dir),
            write_methods(config, read_manifests(source_dir)),
            config.weights.traits,
            source=config.source,
            run_label=config.output_dir,
        )
        if is_remote(out_dir):
            upload(report_dir, output_path(out_dir, REPORT_FOLDER))
    private = write_private(config.output_dir, "report_cells.tsv", cells_text(disclosed))
    log.info("report written (it moves to %s when the stage finishes)", Layout.REPORT_INDEX)
    log.info("report: exact counts and suppression decisions in %s (not shareable)", private)
    protection = disclosed.protection
    return {
        "index": Layout.REPORT_INDEX,
        "figures": [name for r in results for name in r.figures],
        "tables": [name for r in results for name in r.tables],
        "unavailable": [r.section.anchor for r in results if not r.available],
        "suppression": disclosed.policy.describe(),
        "disclosure": {
            "cells_shown": len(disclosed.ledger.shown),
            "primary": len(protection.primary),
            "complementary": len(protection.complementary),
            "rounds": protection.rounds,
            "seconds": round(disclosed.seconds, 1),
        },
    }
