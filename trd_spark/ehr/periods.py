"""Drug trial periods by window functions (gaps and islands per person).

All antidepressant exposures of a person, ordered by (start, end, ingredient),
are cut into periods wherever the gap to the previous exposure exceeds
``gap_days``: the gap is measured from the previous start (``start_to_start``)
or from the running maximum of earlier ends (``end_to_start``).  Every gap
setting is computed in one pass over one sort of the exposures.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window, WindowSpec
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

GAP_BASES = ("start_to_start", "end_to_start")
Setting = tuple[str, int]  # (gap_basis, gap_days)


def _person_order() -> WindowSpec:
    return Window.partitionBy("person_id").orderBy("start", "end", "ingredient_id")


def gap_expr(basis: str) -> Column:
    """Days from the previous start, or from the latest earlier end; null for the first."""
    order = _person_order()
    if basis == "start_to_start":
        reference = F.lag("start").over(order)
    elif basis == "end_to_start":
        reference = F.max("end").over(order.rowsBetween(Window.unboundedPreceding, -1))
    else:
        raise ValueError(f"gap_basis '{basis}' unknown; use one of {', '.join(GAP_BASES)}")
    return F.datediff(F.col("start"), reference)


def period_id_expr(gap: Column, gap_days: int) -> Column:
    """Running count of period starts: a period starts at the first exposure or a gap > gap_days."""
    starts = F.when(gap.isNull() | (gap > gap_days), 1).otherwise(0)
    return F.sum(starts).over(_person_order().rowsBetween(Window.unboundedPreceding, 0))


def assign_periods(exposures_df: DataFrame, settings: Sequence[Setting]) -> DataFrame:
    """Label every exposure with its period under every setting.

    Parameters
    ----------
    exposures_df : (person_id, ingredient_id, start, end) antidepressant exposures.
    settings : the (gap_basis, gap_days) pairs wanted.

    Returns
    -------
    DataFrame (person_id, ingredient_id, start, end, setting, period_id), one row per
    exposure and setting; ``setting`` is the setting's index in ``settings`` (a small
    integer groups faster than the basis name, see :func:`setting_columns`).
    """
    bases = sorted({basis for basis, _ in settings})
    gapped_df = exposures_df.select(
        "person_id",
        "ingredient_id",
        "start",
        "end",
        *[gap_expr(b).alias(f"_gap_{b}") for b in bases],
    )
    names = [f"_pid_{basis}_{gap_days}" for basis, gap_days in settings]
    numbered_df = gapped_df.select(
        "person_id",
        "ingredient_id",
        "start",
        "end",
        *[
            period_id_expr(F.col(f"_gap_{basis}"), gap_days).cast("int").alias(name)
            for (basis, gap_days), name in zip(settings, names, strict=True)
        ],
    )
    labels = [
        F.struct(F.lit(index).alias("setting"), F.col(name).alias("period_id"))
        for index, name in enumerate(names)
    ]
    return numbered_df.select(
        "person_id", "ingredient_id", "start", "end", F.explode(F.array(*labels)).alias("_p")
    ).select("person_id", "ingredient_id", "start", "end", "_p.*")


def setting_columns(settings: Sequence[Setting]) -> list[Column]:
    """``gap_basis`` and ``gap_days`` of the ``setting`` index (see :func:`assign_periods`)."""
    index = F.col("setting") + 1
    bases = F.array(*[F.lit(basis) for basis, _ in settings])
    gaps = F.array(*[F.lit(gap_days) for _, gap_days in settings])
    return [
        F.element_at(bases, index).alias("gap_basis"),
        F.element_at(gaps, index).alias("gap_days"),
    ]


def summarise_ingredients(labelled_df: DataFrame) -> DataFrame:
    """One row per period and ingredient: its first start, latest end and exposure count."""
    return labelled_df.groupBy("person_id", "setting", "period_id", "ingredient_id").agg(
        F.min("start").alias("first_start"),
        F.max("end").alias("end"),
        F.count("*").alias("n_exposures"),
    )


def summarise_periods(labelled_df: DataFrame, min_switch_drugs: int) -> DataFrame:
    """One row per period: start, end, n_exposures, n_distinct_ingredients, switch_date.

    ``switch_date`` is the date the ``min_switch_drugs``-th distinct ingredient first
    started in the period (null when fewer ingredients).  A period meets the
    switching rule under window w exactly when ``switch_date <= start + w``: the
    n-th smallest first start is within the window if and only if n ingredients
    first started within it.  The rows stay partitioned by person, as the window
    functions left them, so this does not shuffle.
    """
    period = Window.partitionBy("person_id", "setting", "period_id")
    rank = F.row_number().over(period.orderBy("first_start", "ingredient_id"))
    first_start = F.col("first_start")
    return (
        summarise_ingredients(labelled_df)
        .withColumn("_rank", rank)
        .groupBy("person_id", "setting", "period_id")
        .agg(
            F.min(first_start).alias("start"),
            F.max("end").alias("end"),
            F.sum("n_exposures").alias("n_exposures"),
            F.count("*").alias("n_distinct_ingredients"),
            F.min(F.when(F.col("_rank") == min_switch_drugs, first_start)).alias("switch_date"),
        )
    )


def summarise_persons(
    periods_df: DataFrame,
    gap_basis: str,
    default_gap_days: int,
    switching: dict[str, tuple[int, int]],
) -> DataFrame:
    """Per person, from the periods under ``gap_basis``: treated and the switching onsets.

    Parameters
    ----------
    periods_df : periods with gap_basis, gap_days, start, n_exposures and switch_date
        (the ``phenotypes/periods.parquet`` columns).
    gap_basis : the basis the definitions use.
    default_gap_days : the gap of the periods that decide ``treated``.
    switching : name -> (gap_days, window_days) of each switching definition.

    Returns
    -------
    DataFrame (person_id, treated, treated_<name> ..., <name>_switch_onset ...):
    ``treated`` when some period under the default gap holds >= 2 exposures,
    ``treated_<name>`` the same under the gap of switching definition ``name`` (who is
    treated in a comparison with it, see :func:`trd_spark.study.treated_column`); an
    onset is the earliest qualifying switch date, or null.
    """
    gap_days = F.col("gap_days")

    def treated_under(gap: int) -> Column:
        return F.max(F.when(gap_days == gap, F.col("n_exposures") >= 2))

    treated = [treated_under(default_gap_days).alias("treated")]
    treated += [treated_under(gap).alias(f"treated_{name}") for name, (gap, _) in switching.items()]
    onsets = [
        F.min(
            F.when(
                (gap_days == gap) & (F.col("switch_date") <= F.date_add(F.col("start"), window)),
                F.col("switch_date"),
            )
        ).alias(f"{name}_switch_onset")
        for name, (gap, window) in switching.items()
    ]
    return (
        periods_df.where(F.col("gap_basis") == gap_basis)
        .groupBy("person_id")
        .agg(*treated, *onsets)
    )
