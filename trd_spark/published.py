"""Point estimates published by Xu et al., JAMA Psychiatry 2025;82(5):505-513
(``docs/the-study.md``).

The simulator plants them and the report sets a run's estimates beside them, so they live
in one place.
"""

from __future__ import annotations

# TRD vs trMDD, odds ratio per SD of PGS, discovery cohort (WGS European set)
TRD_VS_TRMDD_OR: dict[str, float] = {
    "insomnia": 1.11,
    "neuroticism": 1.11,
    "educational_attainment": 0.88,
    "cognitive_performance": 0.91,
    "intelligence": 0.91,
    "unenthusiasm": 1.11,
    "lethargy": 1.14,
    "tenseness": 1.15,
    "depressed_mood": 1.10,
}
# time from first MDD diagnosis to TRD, hazard ratio top vs bottom PGS quintile (pooled WGS sets)
HR_TOP_QUINTILE: dict[str, float] = {"educational_attainment": 0.79, "insomnia": 1.21}
