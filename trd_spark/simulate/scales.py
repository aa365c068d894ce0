"""Sizes of the synthetic studies (``tiny``, ``demo``, ``aou``)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from trd_spark.errors import InputError

# The study's cohort sizes (Xu et al. 2025): WGS European, WGS Diverse, Microarray.
STUDY_COHORT_SIZES = (124_945, 104_388, 63_330)


@dataclass(frozen=True)
class GroupFractions:
    """Planned share of each status group among persons with EHR."""

    trmdd: float
    trd: float
    mdd_untreated: float
    mdd_psych: float

    @property
    def non_mdd(self) -> float:
        """Share left for persons without any MDD code."""
        return 1.0 - self.trmdd - self.trd - self.mdd_untreated - self.mdd_psych


@dataclass(frozen=True)
class Scale:
    """How big a simulated study is and how its persons are split."""

    name: str
    n_wgs_eur: int
    n_wgs_diverse: int
    n_array: int
    n_ehr_only: int  # persons in the OMOP tables without genotypes
    n_no_ehr: int  # genotyped persons in `person` without any EHR row (on top of the cohorts)
    n_sites: int  # genotyped sites over both platforms
    n_chromosomes: int
    fractions: GroupFractions
    block_rows: int  # variants generated per numpy block
    n_pca_sites: int
    ehr_chunk: int  # persons per OMOP part file
    # persons in `person` with neither genotypes nor an EHR row; with n_no_ehr about a
    # quarter of the `person` rows, as in All of Us (docs/phenotypes.md)
    n_person_only: int = 0
    ehr_density: str = "sparse"  # the default record density (see simulate/density.py)

    def scaled(self, factor: float) -> Scale:
        """The same study with every person count multiplied by ``factor`` (benchmarks)."""
        counts = ("n_wgs_eur", "n_wgs_diverse", "n_array", "n_ehr_only", "n_no_ehr",
                  "n_person_only")  # fmt: skip
        return replace(self, **{c: round(getattr(self, c) * factor) for c in counts})


# Enriched case fractions so the planted TRD-vs-trMDD directions show at small sizes.
ENRICHED = GroupFractions(trmdd=0.26, trd=0.12, mdd_untreated=0.03, mdd_psych=0.02)
# The study's discovery set: 104,128 non-MDD, 16,640 trMDD, 4,177 TRD of 124,945.
STUDY = GroupFractions(
    trmdd=16_640 / 124_945 - 0.006, trd=4_177 / 124_945, mdd_untreated=0.004, mdd_psych=0.002
)

SCALES = {
    "tiny": Scale("tiny", 256, 214, 130, 6, 30, 3_000, 3, ENRICHED, 512, 600, 100_000, 172),
    "demo": Scale(
        "demo", 12_805, 10_698, 6_497, 60, 600, 20_000, 22, ENRICHED, 512, 1_500, 100_000, 9_420
    ),
    "aou": Scale(
        "aou", *STUDY_COHORT_SIZES, 600, 3_000, 20_000, 22, STUDY, 64, 1_000, 50_000, 94_754
    ),
    # the phenotype benchmark: All of Us record density, >= 20 million OMOP rows
    "bench": Scale(
        "bench",
        25_000,
        21_000,
        13_000,
        600,
        600,
        2_000,
        22,
        STUDY,
        512,
        500,
        5_000,
        19_270,
        "realistic",
    ),
}


def get_scale(name: str) -> Scale:
    """Look a scale up by name.

    Parameters
    ----------
    name : ``tiny``, ``demo``, ``aou`` or ``bench``.

    Returns
    -------
    The Scale.
    """
    if name not in SCALES:
        raise InputError(f"unknown simulation scale {name!r}; choose one of {', '.join(SCALES)}")
    return SCALES[name]
