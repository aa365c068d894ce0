"""The time-to-TRD table for the Cox analysis (``phenotypes.md``, Time to TRD)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

TIME_TO_EVENT_COLUMNS = (
    "person_id", "origin_date", "onset_date", "end_of_observation", "event", "time_days",
    "age_at_diagnosis", "included", "exclusion",
)  # fmt: skip


def exclusion_expr() -> Column:
    """Why a subset member is left out: prevalent, no observation period, no follow-up."""
    origin, onset, end = F.col("origin_date"), F.col("onset_date"), F.col("end_of_observation")
    return (
        F.when(onset.isNotNull() & (onset <= origin), F.lit("prevalent"))
        .when(end.isNull(), F.lit("no_observation_period"))
        .when(F.col("time_days") <= 0, F.lit("no_follow_up"))
        .otherwise(F.lit(None).cast("string"))
    )


def build_time_to_event(persons_df: DataFrame, min_mdd_dates: int) -> DataFrame:
    """One row per ``mdd_1`` person with at least ``min_mdd_dates`` MDD dates.

    Origin is the first MDD date, the event the ``trd_1`` onset when it falls after the
    origin and on or before the end of observation; time in days to the event, else to
    the end of observation.  Excluded persons keep a row with ``included`` false.
    """
    subset_df = persons_df.where(F.col("mdd_1") & (F.col("n_mdd_dates") >= min_mdd_dates))
    origin, onset, end = F.col("origin_date"), F.col("onset_date"), F.col("end_of_observation")
    event = onset.isNotNull() & (onset > origin) & end.isNotNull() & (onset <= end)
    return (
        subset_df.select(
            "person_id",
            F.col("first_mdd_date").alias("origin_date"),
            F.col("trd_1_onset").alias("onset_date"),
            "end_of_observation",
            "age_at_diagnosis",
        )
        .withColumn("event", event)
        .withColumn("time_days", F.datediff(F.when(F.col("event"), onset).otherwise(end), origin))
        .withColumn("exclusion", exclusion_expr())
        .withColumn("included", F.col("exclusion").isNull())
        .select(*TIME_TO_EVENT_COLUMNS)
    )
