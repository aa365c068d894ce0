"""What every section of the report shares: the run's settings, the built section with the
files and figures it wrote, and the "not available" section.

The sections themselves are in :mod:`trd_spark.report.sections` (participants, PGS
associations, Table 2) and :mod:`trd_spark.report.survival_sections` (replication, Figure 2,
truth beside estimate).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from trd_spark.errors import InputError
from trd_spark.report.disclose import Disclosed
from trd_spark.report.export import write_shared_csv
from trd_spark.report.load import RunOutputs
from trd_spark.report.render import Section, render
from trd_spark.study import OUTPUT_TABLES, TraitCatalog, label, platform_label

TITLES: dict[str, str] = {
    "headline": "Headline results beside the published study",
    "qc": "QC summary and attrition",
    "table1": "Table 1: participants",
    "match": "PGS match rates",
    "figure1": "Figure 1: PGS associations",
    "replication": "Replication (logistic and Cox)",
    "table2": "Table 2: sensitivity to the definitions",
    "figure2": "Figure 2: time to TRD",
    "truth": "Truth beside estimate (simulated study)",
    "methods": "Methods (from the configuration used)",
}


@dataclass(frozen=True)
class ReportSettings:
    """What the report needs to know about the run, as plain values."""

    report_dir: str
    cohorts: list[str]
    discovery: str
    primary_trd: str = "trd_1"
    primary_trmdd: str = "trmdd_1"
    min_count: int = 20
    suppress: bool = True
    km_traits: list[str] = field(default_factory=list)
    # the survival set pooling the discovery cohort's platform (empty when none does)
    pooled_set: str = ""
    platforms: dict[str, str] = field(default_factory=dict)  # cohort -> genotyping platform
    rounding_base: int = 0
    significance: float = 1e-5  # analysis.significance: filled markers, false positives
    # truth/effects.tsv of a simulated study, and whether the report shows it
    truth_effects: str = ""
    show_truth: bool = False

    def figure(self, name: str) -> str:
        """Path of a PNG next to ``index.html``."""
        return os.path.join(self.report_dir, name)

    def share(self, table_df: pd.DataFrame, name: str) -> str:
        """Write a shareable table under ``report/tables/``; returns its relative path."""
        return write_shared_csv(table_df, name, self.report_dir)

    def set_definition(self, *sets: str) -> str:
        """A sentence defining each pooled set among ``sets`` for a reader (``""`` when all
        are single cohorts): which cohorts it pools and how."""
        texts = []
        for name in dict.fromkeys(sets):
            if name in self.platforms or name in self.cohorts:
                continue
            members = [c for c in self.cohorts if self.platforms.get(c) == name]
            if len(members) < 2:
                continue
            texts.append(
                f"{label(name)}: the {platform_label(name)} cohorts "
                f"{' and '.join(label(c) for c in members)} analysed together, cohort as a Cox "
                "stratum."
            )
        return " ".join(texts)

    def platform_of(self, survival_set: str) -> str:
        """The genotyping platform of a cohort or pooled set (a pooled set is named after
        its platform, :func:`trd_spark.study.pooled_set_name`)."""
        return self.platforms.get(survival_set, survival_set)


@dataclass
class SectionResult:
    """A built section, the files it wrote (relative to the report folder) and the figures
    it drew (file name -> the matplotlib Figure, for checks of what a reader sees)."""

    section: Section
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    available: bool = True
    drawn: dict[str, Figure] = field(default_factory=dict)

    def add_figure(self, name: str, figure: Figure) -> None:
        """Record a figure written as ``name``."""
        self.figures.append(name)
        self.drawn[name] = figure


SectionBuilder = Callable[[RunOutputs, Disclosed, TraitCatalog, ReportSettings], SectionResult]


def section(anchor: str, **context: Any) -> SectionResult:
    """A section rendered from ``templates/sections/<anchor>.html.j2``."""
    body = render(f"sections/{anchor}.html.j2", **context)
    return SectionResult(Section(anchor, TITLES[anchor], body))


def missing_section(anchor: str, title: str, paths: Sequence[str]) -> SectionResult:
    """A section that says which inputs it lacks ("not available: ...")."""
    body = render("sections/missing.html.j2", paths=list(paths))
    return SectionResult(Section(anchor, title, body), available=False)


def missing(anchor: str, *names: str) -> SectionResult:
    """The section ``anchor`` saying that these output tables are missing."""
    return missing_section(anchor, TITLES[anchor], [OUTPUT_TABLES[n] for n in names])


def published(d: Disclosed, name: str, source: str) -> pd.DataFrame | None:
    """A published table; InputError (with its reason) when it could not be built."""
    if name in d.errors:
        raise InputError(d.errors[name])
    table_df = d.table(name)
    if table_df is None and source in d.errors:
        raise InputError(d.errors[source])
    return table_df
