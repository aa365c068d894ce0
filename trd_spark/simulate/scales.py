"""Sizes of the synthetic studies (``tiny``, ``demo``, ``aou``)."""

from __future__ import annotations

from dataclasses import dataclass

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
    n_no_ehr: int  # genotyped persons without any OMOP row (on top of the cohort sizes)
    n_sites: int  # genotyped sites over both platforms
    n_chromosomes: int
    fractions: GroupFractions
    block_rows: int  # variants generated per numpy block
    n_pca_sites: int
    ehr_chunk: int  # persons per OMOP part file


# Enriched case fractions so the planted TRD-vs-trMDD directions show at small sizes.
ENRICHED = GroupFractions(trmdd=0.26, trd=0.12, mdd_untreated=0.03, mdd_psych=0.02)
# The study's discovery set: 104,128 non-MDD, 16,640 trMDD, 4,177 TRD of 124,945.
STUDY = GroupFractions(
    trmdd=16_640 / 124_945 - 0.006, trd=4_177 / 124_945, mdd_untreated=0.004, mdd_psych=0.002
)

SCALES = {
    "tiny": Scale("tiny", 256, 214, 130, 6, 6, 3_000, 3, ENRICHED, 512, 600, 100_000),
    "demo": Scale("demo", 12_805, 10_698, 6_497, 60, 60, 20_000, 22, ENRICHED, 512, 1_500, 100_000),
    "aou": Scale("aou", *STUDY_COHORT_SIZES, 600, 300, 20_000, 22, STUDY, 64, 1_000, 50_000),
}


def get_scale(name: str) -> Scale:
    """Look a scale up by name.

    Parameters
    ----------
    name : ``tiny``, ``demo`` or ``aou``.

    Returns
    -------
    The Scale.
    """
    if name not in SCALES:
        raise InputError(f"unknown simulation scale {name!r}; choose one of {', '.join(SCALES)}")
    return SCALES[name]
