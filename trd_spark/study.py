"""The study's vocabulary, in one place: stages, definitions, groups, contrasts, the trait
catalog and where every output lives.

Every stage, the report, the simulator's checks and the tests take these names from here,
so a rule (which persons form the trMDD group of a comparison, say) is written once.  The
readings of the paper behind them are in ``docs/phenotypes.md`` and ``docs/statistics.md``;
the output layout in ``docs/data-contracts.md``.

Standard library only (pandas is imported inside :meth:`TraitCatalog.frame`), so Spark's
Python workers, the config loader and the simulator import it freely.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from trd_spark.errors import InputError
from trd_spark.uri import is_remote, join

# ---------------------------------------------------------------------------
# Stages and the output layout (docs/data-contracts.md)
# ---------------------------------------------------------------------------

STAGES: tuple[str, ...] = ("qc", "weights", "score", "phenotype", "analyze", "report")
# stage -> the folders it owns under output_dir
STAGE_FOLDERS: dict[str, tuple[str, ...]] = {
    "qc": ("qc",),
    "weights": ("weights",),
    "score": ("pgs",),
    "phenotype": ("phenotypes",),
    "analyze": ("results",),
    "report": ("report",),
}


def parse_stages(text: str) -> list[str]:
    """``"qc,score"`` -> ``["qc", "score"]`` in pipeline order; unknown names are an error."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in STAGES]
    if unknown or not names:
        raise ValueError(
            f"unknown stage(s) {', '.join(unknown) or '(none given)'} in --stages; "
            f"choose from {','.join(STAGES)}"
        )
    return [stage for stage in STAGES if stage in names]


class Layout:
    """Paths of the pipeline's outputs, relative to ``output_dir``.

    Use :func:`output_path` to turn one into a full path or URI.
    """

    QC_SUMMARY = "qc/summary.json"
    COHORTS = "qc/cohorts.parquet"
    COHORT_ATTRITION = "qc/cohort_attrition.parquet"
    WEIGHTS = "weights"  # PRS-CS weight files the weights stage computed (docs/prscs.md)
    WEIGHTS_MATCH = "weights/match_report.parquet"
    WEIGHTS_CHAINS = "weights/chains.parquet"
    MATCH_REPORT = "pgs/match_report.parquet"
    PERSONS = "phenotypes/persons.parquet"
    PERIODS = "phenotypes/periods.parquet"
    PHENOTYPE_ATTRITION = "phenotypes/attrition.parquet"
    TIME_TO_EVENT = "phenotypes/time_to_event.parquet"
    GROUP_SIZES = "phenotypes/group_sizes.parquet"
    ASSOCIATIONS = "results/associations.parquet"
    REPLICATION = "results/replication.parquet"
    SENSITIVITY = "results/sensitivity.parquet"
    SURVIVAL = "results/survival.parquet"
    KM = "results/km.parquet"
    TIME_TO_TRD = "results/time_to_trd.parquet"
    SCHOENFELD = "results/schoenfeld.parquet"
    PGS_ADJUSTMENT = "results/pgs_adjustment.parquet"
    ANALYSIS_ATTRITION = "results/attrition.parquet"
    ANALYSED_TRAITS = "results/traits.parquet"
    REPORT_INDEX = "report/index.html"
    REPORT_TABLES = "report/tables"
    MANIFESTS = "manifests"
    # exact counts of persons (logs, the report's audit): never shareable (docs/disclosure.md)
    PRIVATE = "private"
    SCRATCH = "_scratch"  # a stage's scratch inside its staging folder, removed at its end

    @staticmethod
    def qc_variants(platform: str) -> str:
        """The kept sites of one platform."""
        return f"qc/variants_{platform}.parquet"

    @staticmethod
    def dosage_cache(platform: str) -> str:
        """The PLINK 1 prefix (no ``.bed``) of one platform's dosage cache."""
        return f"qc/dosages_{platform}"

    @staticmethod
    def weights_log(trait: str) -> str:
        """The weights stage's log of one trait."""
        return f"weights/logs/{trait}.log"

    @staticmethod
    def pgs(cohort: str) -> str:
        """One cohort's scores."""
        return f"pgs/{cohort}.parquet"

    @staticmethod
    def manifest(stage: str) -> str:
        """A finished stage's manifest."""
        return f"manifests/{stage}.json"


# the per-person and result tables the analysis and the report read, by name
OUTPUT_TABLES: dict[str, str] = {
    "cohorts": Layout.COHORTS,
    "cohort_attrition": Layout.COHORT_ATTRITION,
    "match_report": Layout.MATCH_REPORT,
    "persons": Layout.PERSONS,
    "phenotype_attrition": Layout.PHENOTYPE_ATTRITION,
    "time_to_event": Layout.TIME_TO_EVENT,
    "group_sizes": Layout.GROUP_SIZES,
    "associations": Layout.ASSOCIATIONS,
    "replication": Layout.REPLICATION,
    "sensitivity": Layout.SENSITIVITY,
    "survival": Layout.SURVIVAL,
    "km": Layout.KM,
    "time_to_trd": Layout.TIME_TO_TRD,
    "schoenfeld": Layout.SCHOENFELD,
    "pgs_adjustment": Layout.PGS_ADJUSTMENT,
    "analysis_attrition": Layout.ANALYSIS_ATTRITION,
}


def output_path(output_dir: str, relative: str) -> str:
    """``relative`` (a :class:`Layout` path) under ``output_dir``, local or remote."""
    return join(output_dir, *relative.split("/"))


# ---------------------------------------------------------------------------
# Definitions (docs/phenotypes.md)
# ---------------------------------------------------------------------------

MDD_DEFS: tuple[str, ...] = ("mdd_1", "mdd_2", "mdd_3")
TRMDD_DEFS: tuple[str, ...] = ("trmdd_1", "trmdd_2", "trmdd_3")
TRD_DEFS: tuple[str, ...] = ("trd_1", "trd_2", "trd_3", "trd_4", "trd_5")
# TRD by drug switching: definition -> (gap_days, window_days) of the study
SWITCHING_DEFAULTS: dict[str, tuple[int, int]] = {
    "trd_1": (182, 365),
    "trd_2": (91, 365),
    "trd_3": (182, 730),
}
SWITCHING_DEFS: tuple[str, ...] = tuple(SWITCHING_DEFAULTS)
# the gap (days) of the drug trial periods that say who is treated, by default
DEFAULT_GAP_DAYS = 182
# trd_4 adds ECT / esketamine to trd_1, trd_5 adds antipsychotics to trd_4
BUILDS_ON: dict[str, str] = {"trd_4": "trd_1", "trd_5": "trd_4"}
PRIMARY_TRD, PRIMARY_TRMDD = "trd_1", "trmdd_1"
# the 15 comparisons of the paper's Table 2, in its order
COMBINATIONS: tuple[tuple[str, str], ...] = tuple((t, m) for t in TRD_DEFS for m in TRMDD_DEFS)
# persons.parquet: who is treated in a comparison with trd_k, under trd_k's gap (see
# treated_column); plain ``treated`` is the same under the default gap
TREATED_COLUMNS: tuple[str, ...] = tuple(f"treated_{name}" for name in SWITCHING_DEFS)
# person columns holding a status flag (persons.parquet)
STATUS_COLUMNS: tuple[str, ...] = (
    *MDD_DEFS, "treated", *TREATED_COLUMNS, *TRD_DEFS, "has_ehr", "non_mdd",
)  # fmt: skip


def switching_root(trd_def: str) -> str:
    """The switching definition a TRD definition rests on: ``trd_5`` -> ``trd_1``."""
    check_trd(trd_def)
    while trd_def in BUILDS_ON:
        trd_def = BUILDS_ON[trd_def]
    return trd_def


def check_trd(trd_def: str) -> str:
    """``trd_def`` itself; ValueError naming the choices when it is not a TRD definition."""
    if trd_def not in TRD_DEFS:
        raise ValueError(f"unknown TRD definition {trd_def!r}; choose from {', '.join(TRD_DEFS)}")
    return trd_def


def mdd_definition(trmdd_def: str) -> str:
    """The MDD definition a trMDD definition rests on: ``trmdd_2`` -> ``mdd_2``."""
    if trmdd_def not in TRMDD_DEFS:
        raise ValueError(
            f"unknown trMDD definition {trmdd_def!r}; choose from {', '.join(TRMDD_DEFS)}"
        )
    return MDD_DEFS[TRMDD_DEFS.index(trmdd_def)]


def treated_column(trd_def: str) -> str:
    """The persons column saying who is treated in a comparison with ``trd_def``.

    Treated follows the definition it is paired with: the drug trial periods under the gap
    of the switching definition ``trd_def`` rests on (``trd_2``: 91 days; ``trd_4`` and
    ``trd_5``: ``trd_1``'s), so the trMDD pool changes with the TRD definition
    (``docs/phenotypes.md``, "Treated").  ``trd_2`` -> ``treated_trd_2``.
    """
    return f"treated_{switching_root(trd_def)}"


# one flag implies another under the study's definitions (docs/phenotypes.md); disclosure
# control assumes a reader knows these (the report checks them on the data before use)
DEFINITION_IMPLICATIONS: tuple[tuple[str, str], ...] = (
    ("mdd_2", "mdd_1"),  # two MDD dates include one
    ("mdd_1", "mdd_3"),  # no schizophrenia or bipolar code at all, or none before MDD
    ("trd_1", "trd_3"),  # the same periods, a longer window
    *((base, trd) for trd, base in BUILDS_ON.items()),  # trd_4 adds to trd_1, trd_5 to trd_4
    # a switch takes three exposures within one period, so the person is treated
    *((trd, treated_column(trd)) for trd in SWITCHING_DEFS),
    # treated depends on the gap alone: definitions with one gap treat the same persons
    *(
        (treated_column(a), treated_column(b))
        for a in SWITCHING_DEFS
        for b in SWITCHING_DEFS
        if a != b and SWITCHING_DEFAULTS[a][0] == SWITCHING_DEFAULTS[b][0]
    ),
)


# ---------------------------------------------------------------------------
# Groups and contrasts (docs/phenotypes.md, "Groups for one comparison")
# ---------------------------------------------------------------------------

GROUPS: tuple[str, ...] = ("nonMDD", "trMDD", "TRD")
GROUP_LABELS: dict[str, str] = {"nonMDD": "non-MDD", "trMDD": "trMDD", "TRD": "TRD"}
# group -> its column in phenotypes/group_sizes.parquet
GROUP_COUNT_COLUMNS: dict[str, str] = {"TRD": "n_trd", "trMDD": "n_trmdd", "nonMDD": "n_non_mdd"}
CONTRASTS: tuple[str, ...] = ("trMDD_vs_nonMDD", "TRD_vs_nonMDD", "TRD_vs_trMDD")


class Flag(Protocol):
    """What a group rule combines: a Spark Column, a pandas Series or a numpy bool array."""

    def __and__(self, other: Any) -> Any: ...

    def __invert__(self) -> Any: ...


F_ = TypeVar("F_", bound=Flag)


def group_masks(flag: Callable[[str], F_], trd_def: str, trmdd_def: str) -> dict[str, F_]:
    """The TRD, trMDD and non-MDD groups of the comparison (``trd_def``, ``trmdd_def``).

    Parameters
    ----------
    flag : maps a persons column name to its boolean flag, with missing values false:
        ``pyspark.sql.functions.col`` on a table without nulls, or
        ``lambda c: frame[c].fillna(False).astype(bool)`` in pandas.
    trd_def, trmdd_def : the comparison.

    Returns
    -------
    ``{"TRD": ..., "trMDD": ..., "nonMDD": ...}``, flags of the same kind ``flag`` returns.
    A person in none (untreated MDD, or MDD without the comparison's MDD definition) is
    in no group of the comparison.
    """
    mdd, trd = flag(mdd_definition(trmdd_def)), flag(check_trd(trd_def))
    treated = flag(treated_column(trd_def))
    return {"TRD": mdd & trd, "trMDD": mdd & treated & ~trd, "nonMDD": flag("non_mdd")}


def contrast_groups(contrast: str) -> tuple[str, str]:
    """(cases, controls) of a contrast: ``TRD_vs_trMDD`` -> (``TRD``, ``trMDD``)."""
    if contrast not in CONTRASTS:
        raise ValueError(f"unknown contrast {contrast!r}; choose from {', '.join(CONTRASTS)}")
    cases, controls = contrast.split("_vs_")
    return cases, controls


# ---------------------------------------------------------------------------
# Analysis vocabulary (docs/statistics.md)
# ---------------------------------------------------------------------------

SEX_STRATA: tuple[str, ...] = ("female", "male")
INTERACTION_STRATUM = "pgs_x_sex"
STRATA: tuple[str, ...] = ("all", *SEX_STRATA, INTERACTION_STRATUM)
PGS_STRATA: tuple[str, ...] = ("pgs_0_20", "pgs_20_80", "pgs_80_100")  # Kaplan-Meier strata
SURVIVAL_TERMS: tuple[str, ...] = ("pgs_20_80", "pgs_80_100", "pgs_per_sd")
# results/replication.parquet: which analysis a row replicates, and the contrast name of the
# survival rows (log HR per SD of time to TRD)
REPLICATION_ANALYSES: tuple[str, ...] = ("logistic", "survival")
SURVIVAL_CONTRAST = "time_to_trd"


def pooled_set_name(platform: str) -> str:
    """Name of the survival set that pools the cohorts genotyped on ``platform``."""
    return platform


# ---------------------------------------------------------------------------
# Display labels
# ---------------------------------------------------------------------------

_LABELS: dict[str, str] = {
    **GROUP_LABELS,
    "trMDD_vs_nonMDD": "trMDD vs non-MDD",
    "TRD_vs_nonMDD": "TRD vs non-MDD",
    "TRD_vs_trMDD": "TRD vs trMDD",
    "time_to_trd": "time to TRD",
    "all": "all",
    "female": "female",
    "male": "male",
    "pgs_x_sex": "PGS x sex",
    "pgs_0_20": "PGS 0-20%",
    "pgs_20_80": "PGS 20-80%",
    "pgs_80_100": "PGS 80-100%",
    "pgs_per_sd": "per SD of PGS",
    "within_cohort": "within each cohort",
    "within_set": "over the pooled set",
    "wgs_european": "WGS European",
    "wgs_diverse": "WGS Diverse",
    "microarray": "Microarray",
    "wgs": "WGS (European + Diverse, pooled)",
    "array": "Microarray",
    **{d: f"MDD {d[-1]}" for d in MDD_DEFS},
    **{d: f"trMDD {d[-1]}" for d in TRMDD_DEFS},
    **{d: f"TRD {d[-1]}" for d in TRD_DEFS},
}


# genotyping platforms as the report names them (``label`` gives a platform's pooled set)
_PLATFORM_LABELS: dict[str, str] = {"wgs": "WGS", "array": "Microarray (array)"}


def label(name: str) -> str:
    """How the report writes a name of the vocabulary (``trmdd_1`` -> ``trMDD 1``); other
    names with underscores as spaces."""
    return _LABELS.get(name, name.replace("_", " "))


def platform_label(platform: str) -> str:
    """How the report writes a genotyping platform (``wgs`` -> ``WGS``); other names with
    underscores as spaces."""
    return _PLATFORM_LABELS.get(platform, platform.replace("_", " "))


# ---------------------------------------------------------------------------
# The trait catalog (conf/traits.tsv)
# ---------------------------------------------------------------------------

CATALOG_COLUMNS: tuple[str, ...] = ("trait", "label", "domain", "source")
# optional column: how far the ``source`` citation is known to be the paper's own
# (docs/the-study.md, "The trait catalog"); an empty cell reads as "unknown"
SOURCE_STATUS_COLUMN = "source_status"
SOURCE_STATUSES: dict[str, str] = {
    "cited": "the GWAS the paper cites (checked against the paper)",
    "reconstruction": "a published GWAS of this trait, taken as the paper's source but not "
    "checked against its supplement",
    "stand_in": "no source of the paper's is known; a public GWAS of a close phenotype stands in",
    "unknown": "no provenance recorded",
}
DOMAIN_LABELS: dict[str, str] = {
    "education_cognition": "Education and cognition",
    "metabolic_somatic_inflammation": "Metabolic, somatic and inflammation",
    "personality": "Personality",
    "psychiatric": "Psychiatric",
    "sleep": "Sleep",
    "substance_use": "Substance use",
    "temperament": "Temperament",
}


@dataclass(frozen=True)
class Trait:
    """One PGS of the catalog."""

    name: str
    label: str
    domain: str
    source: str
    source_status: str = "unknown"
    n_gwas: float | None = None  # GWAS sample size (optional column; the weights stage uses it)


@dataclass(frozen=True)
class TraitCatalog:
    """The traits a run scores and analyses, in catalog order (domains kept together)."""

    traits: tuple[Trait, ...]
    path: str = ""

    @property
    def names(self) -> list[str]:
        """Trait names in catalog order."""
        return [t.name for t in self.traits]

    @property
    def labels(self) -> dict[str, str]:
        """Trait name -> display label."""
        return {t.name: t.label for t in self.traits}

    def label(self, name: str) -> str:
        """A trait's display label (the name itself when not in the catalog)."""
        return self.labels.get(name, name)

    def frame(self) -> Any:
        """The catalog as a pandas DataFrame with columns ``trait, label, domain, source,
        source_status``."""
        import pandas as pd

        rows = [(t.name, t.label, t.domain, t.source, t.source_status) for t in self.traits]
        return pd.DataFrame(rows, columns=[*CATALOG_COLUMNS, SOURCE_STATUS_COLUMN])


def parse_trait_catalog(text: str, source: str) -> TraitCatalog:
    """A trait catalog from the text of a tab-separated file with a header line.

    Parameters
    ----------
    text : the file's content (columns ``trait``, ``label``, ``domain``, ``source``, an
        optional ``source_status`` (a key of :data:`SOURCE_STATUSES`) and an optional
        ``n_gwas``, the GWAS sample size for the weights stage; further columns are ignored).
    source : the file's path, named in errors.

    Returns
    -------
    The catalog; InputError naming the file and line for a missing column, an empty
    trait name, a trait listed twice or an unknown source status.
    """
    rows = list(csv.reader(io.StringIO(text), delimiter="\t"))
    if not rows:
        raise InputError(f"{source}: the trait catalog is empty; it needs a header line")
    header = [h.strip() for h in rows[0]]
    absent = [c for c in CATALOG_COLUMNS if c not in header]
    if absent:
        raise InputError(
            f"{source}: trait catalog lacks column(s) {', '.join(absent)}; its header line "
            f"must name {', '.join(CATALOG_COLUMNS)} (tab-separated)"
        )
    where = {c: header.index(c) for c in CATALOG_COLUMNS}
    status_at = header.index(SOURCE_STATUS_COLUMN) if SOURCE_STATUS_COLUMN in header else None
    n_column = header.index("n_gwas") if "n_gwas" in header else None
    traits: list[Trait] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = [row[where[c]].strip() if where[c] < len(row) else "" for c in CATALOG_COLUMNS]
        name = cells[0]
        if not name:
            raise InputError(f"{source}, line {line}: empty trait name")
        if name in seen:
            raise InputError(
                f"{source}, line {line}: trait {name!r} is listed again (first on line "
                f"{seen[name]}); list each trait once"
            )
        seen[name] = line
        status = _source_status(row, status_at, source, line)
        n_gwas = _sample_size(row, n_column, source, line)
        traits.append(Trait(name, cells[1] or name, cells[2] or "other", cells[3], status, n_gwas))
    return TraitCatalog(tuple(traits), source)


def _source_status(row: list[str], at: int | None, source: str, line: int) -> str:
    """The ``source_status`` cell of a catalog row (``unknown`` when absent or empty)."""
    status = row[at].strip() if at is not None and at < len(row) else ""
    if not status:
        return "unknown"
    if status not in SOURCE_STATUSES:
        raise InputError(
            f"{source}, line {line}: source_status {status!r} is not one of "
            f"{', '.join(SOURCE_STATUSES)}"
        )
    return status


def _sample_size(row: list[str], column: int | None, source: str, line: int) -> float | None:
    """The ``n_gwas`` cell of a catalog row: None when the column or the value is absent."""
    text = row[column].strip() if column is not None and column < len(row) else ""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise InputError(
            f"{source}, line {line}: n_gwas is {text!r}; give the GWAS sample size as a "
            "positive number or leave the cell empty"
        )
    return value


def read_trait_catalog(path: str) -> TraitCatalog:
    """The trait catalog at ``path`` (local or remote); see :func:`parse_trait_catalog`."""
    if is_remote(path):
        from trd_spark import storage

        if not storage.exists(path):
            raise InputError(f"trait catalog {path} does not exist; check weights.traits")
        return parse_trait_catalog(storage.read_text(path), path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise InputError(f"trait catalog {path} does not exist; check weights.traits") from None
    return parse_trait_catalog(text, path)
