"""The time-to-TRD table for the Cox analysis (``docs/phenotypes.md``, Time to TRD).

Built on the driver from the collected persons table: it is a subset of the persons
(one row each, a few columns), which the Cox analysis reads on the driver anyway, and a
Spark query for it cost more in planning than pandas takes to compute it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

TIME_TO_EVENT_SCHEMA = pa.schema(
    [
        ("person_id", pa.int64()),
        ("origin_date", pa.date32()),
        ("onset_date", pa.date32()),
        ("end_of_observation", pa.date32()),
        ("event", pa.bool_()),
        ("time_days", pa.int32()),
        ("age_at_diagnosis", pa.int32()),
        ("included", pa.bool_()),
        ("exclusion", pa.string()),
    ]
)


def as_dates(stamps: pd.Series) -> pd.Series:
    """Timestamps as ``datetime.date`` objects, None where missing (as pandas reads dates)."""
    dates = pa.array(stamps, from_pandas=True).cast(pa.date32())
    values = dates.to_pandas(date_as_object=True).to_numpy()
    return pd.Series(values, index=stamps.index, dtype=object)


def exclusion(
    origin: pd.Series, onset: pd.Series, end: pd.Series, time_days: pd.Series
) -> pd.Series:
    """Why a subset member is left out: prevalent, no observation period, no follow-up
    (the first that applies), else None."""
    reasons = np.select(
        [onset.notna() & (onset <= origin), end.isna(), time_days.fillna(1) <= 0],
        ["prevalent", "no_observation_period", "no_follow_up"],
        default="",
    )
    return pd.Series(reasons, index=origin.index, dtype=object).replace("", None)


def time_to_event(persons: pd.DataFrame, min_mdd_dates: int) -> pd.DataFrame:
    """One row per ``mdd_1`` person with at least ``min_mdd_dates`` MDD dates.

    Origin is the first MDD date, the event the ``trd_1`` onset when it falls after the
    origin and on or before the end of observation; time in days to the event, else to
    the end of observation.  Excluded persons keep a row with ``included`` false.

    Parameters
    ----------
    persons : ``phenotypes/persons.parquet`` as pandas reads it (dates as dates or
        timestamps, missing values as None or NaN).
    min_mdd_dates : the fewest distinct MDD dates a person of the subset has.

    Returns
    -------
    pandas DataFrame with the columns of ``TIME_TO_EVENT_SCHEMA``, in the order of
    ``persons``, typed as pandas reads ``time_to_event.parquet`` (write it with that schema,
    which keeps its types also when no person is in the subset).
    """
    in_subset = persons["mdd_1"].fillna(False).astype(bool) & (
        pd.to_numeric(persons["n_mdd_dates"]) >= min_mdd_dates
    )
    subset = persons.loc[in_subset]
    origin, onset, end = (
        pd.to_datetime(subset[column])
        for column in ("first_mdd_date", "trd_1_onset", "end_of_observation")
    )
    event = onset.notna() & (onset > origin) & end.notna() & (onset <= end)
    time_days = (onset.where(event, end) - origin).dt.days.astype("Int32")
    reason = exclusion(origin, onset, end, time_days)
    return pd.DataFrame(
        {
            "person_id": subset["person_id"].astype("int64"),
            "origin_date": as_dates(origin),
            "onset_date": as_dates(onset),
            "end_of_observation": as_dates(end),
            "event": event,
            "time_days": time_days,
            "age_at_diagnosis": pd.to_numeric(subset["age_at_diagnosis"]).astype("Int32"),
            "included": reason.isna(),
            "exclusion": reason,
        }
    ).reset_index(drop=True)
