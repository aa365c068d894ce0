"""Per-person EHR histories (day numbers) that realise the planned status of each person.

A history is a list of events; the OMOP writer turns them into table rows.  Patterns are built
around the definitions' thresholds on purpose: gaps of 2-8 months, third drugs just inside and
just outside the one-year window, codes before and after the first MDD date.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from trd_spark.simulate.plan import EPOCH
from trd_spark.simulate.vocab import (
    DISTRACTOR_ICD9,
    DISTRACTOR_ICD10,
    ECT_CODES,
    MDD_ICD9,
    MDD_ICD10,
    NOS_ICD9,
    NOS_ICD10,
    OTHER_PROCEDURES,
    PSYCH_ICD9,
    PSYCH_ICD10,
)

ICD10_START = (dt.date(2015, 10, 1) - EPOCH).days
COMMON_ANTIDEPRESSANTS = [
    "sertraline",
    "escitalopram",
    "fluoxetine",
    "citalopram",
    "bupropion",
    "trazodone",
    "venlafaxine",
    "duloxetine",
    "mirtazapine",
    "paroxetine",
]


@dataclass
class History:
    """One person's events; dates are day numbers since 1970-01-01."""

    periods: list[tuple[int, int]] = field(default_factory=list)
    conditions: list[tuple[int, str, str]] = field(default_factory=list)  # day, vocab, code
    drugs: list[tuple[int, str, int]] = field(default_factory=list)  # day, ingredient, supply
    procedures: list[tuple[int, str, str]] = field(default_factory=list)  # day, vocab, code
    visits: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class PersonPlan:
    """What the history of one person must show."""

    group: str
    obs_end: int
    obs_start: int
    follow_up: int
    time_to_trd: float


def pick_antidepressants(rng: random.Random, names: list[str], k: int) -> list[str]:
    """``k`` distinct antidepressants, the common ones more often."""
    pool = COMMON_ANTIDEPRESSANTS * 4 + names
    chosen: list[str] = []
    while len(chosen) < k:
        name = rng.choice(pool)
        if name not in chosen:
            chosen.append(name)
    return chosen


def add_course(history: History, name: str, start: int, fills: int, interval: int) -> int:
    """Refills of one drug every ``interval`` days; returns the last fill's start."""
    day = start
    for _ in range(fills):
        history.drugs.append((day, name, interval))
        last, day = day, day + interval
    return last


def diagnosis_code(
    rng: random.Random, day: int, icd10: list[str], icd9: list[str]
) -> tuple[str, str]:
    """A code from the vocabulary in use on ``day`` (ICD-10-CM from October 2015)."""
    if day >= ICD10_START:
        return "ICD10CM", rng.choice(icd10)
    return "ICD9CM", rng.choice(icd9)


def add_mdd_dates(rng: random.Random, history: History, first: int, end: int) -> None:
    """The first MDD diagnosis and further distinct MDD dates up to the end of observation."""
    n_dates = (
        1 if rng.random() < 0.25 else 2 if rng.random() < 0.27 else 3 + int(rng.expovariate(0.3))
    )
    days = {first}
    for _ in range(n_dates - 1):
        if end > first:
            days.add(rng.randint(first + 1, end))
    for day in sorted(days):
        for _ in range(2 if rng.random() < 0.1 else 1):
            history.conditions.append((day, *diagnosis_code(rng, day, MDD_ICD10, MDD_ICD9)))


def add_trd_switch(
    rng: random.Random, history: History, names: list[str], onset: int, plan: PersonPlan
) -> None:
    """Three distinct antidepressants within one drug period, the third starting at ``onset``."""
    d1, d2, d3 = pick_antidepressants(rng, names, 3)
    period_start = max(plan.obs_start, onset - rng.randint(60, 330))
    span = onset - period_start
    if rng.random() < 0.4 and period_start - plan.obs_start > 400:  # an earlier single-drug course
        earlier = rng.randint(plan.obs_start, period_start - 400)
        add_course(history, d1, earlier, rng.randint(1, 4), 30)
    add_course(history, d1, period_start, max(1, span // 30), 30)
    d2_start = period_start + rng.randint(1, max(1, span - 1)) if span > 1 else period_start
    add_course(history, d2, d2_start, max(1, (onset - d2_start) // 30), 30)
    last_fill = min(plan.obs_end, onset + 30 * rng.randint(0, 5))
    add_course(history, d3, onset, 1 + (last_fill - onset) // 30, 30)


def add_responsive_course(
    rng: random.Random, history: History, names: list[str], start: int
) -> None:
    """Treatment that never puts three new drugs in one period's first year under gap 182."""
    pattern = rng.random()
    d1, d2, d3, d4 = pick_antidepressants(rng, names, 4)
    if pattern < 0.45:  # one drug, refilled
        add_course(history, d1, start, rng.randint(2, 10), rng.choice((30, 30, 90, 120)))
    elif pattern < 0.70:  # one switch
        last = add_course(history, d1, start, rng.randint(1, 4), 30)
        add_course(history, d2, last + 30, rng.randint(2, 6), 30)
    elif pattern < 0.80:  # third drug after one year but within two (trd_3 only)
        third = start + rng.randint(380, 700)
        add_course(history, d1, start, (third - start) // 60 + 1, 60)
        add_course(history, d2, start + rng.randint(120, 300), 2, 60)
        add_course(history, d3, third, rng.randint(1, 3), 30)
    elif pattern < 0.90:  # a 100-170 day gap: a new period under gap 91 only (trd_2 only)
        add_course(history, d1, start, 3, 30)
        restart = start + 60 + rng.randint(100, 170)
        third = start + 366 + rng.randint(0, 100)
        add_course(history, d1, restart, (third - restart) // 30 + 1, 30)
        add_course(history, d2, restart + rng.randint(20, 60), 2, 30)
        add_course(history, d3, third, rng.randint(1, 3), 30)
    else:  # two periods separated by a gap above 182 days, two drugs in each
        last = add_course(history, d1, start, rng.randint(1, 3), 30)
        last = add_course(history, d2, last + 30, rng.randint(1, 3), 30)
        restart = last + rng.randint(190, 260)
        last = add_course(history, d3, restart, rng.randint(1, 3), 30)
        add_course(history, d4, last + 30, rng.randint(1, 3), 30)


def add_last_line(rng: random.Random, history: History, day: int, kind: str) -> None:
    """ECT sessions, esketamine sessions, or an antipsychotic course starting on ``day``."""
    if kind == "ect":
        for k in range(rng.randint(1, 8)):
            history.procedures.append((day + 3 * k, *rng.choice(ECT_CODES)))
    elif kind == "esketamine":
        add_course(history, "esketamine", day, rng.randint(1, 6), 7)
    else:
        add_course(history, kind, day, rng.randint(1, 4), 30)


def add_noise_events(rng: random.Random, history: History, plan: PersonPlan) -> None:
    """Distractor diagnoses (depression NOS among them), unrelated drugs and procedures,
    topical doxepin and oral selegiline (not antidepressant exposures), plain visits."""
    span = (plan.obs_start, plan.obs_end)
    if rng.random() < 0.05:  # depression NOS: 311 before October 2015, F32.A after
        for _ in range(rng.randint(1, 3)):
            day = rng.randint(*span)
            history.conditions.append((day, *diagnosis_code(rng, day, NOS_ICD10, NOS_ICD9)))
    for name, share in (("doxepin_topical", 0.02), ("selegiline_oral", 0.01)):
        if rng.random() < share:
            add_course(history, name, rng.randint(*span), rng.randint(1, 4), 30)
    for _ in range(rng.choice((0, 0, 0, 1, 2, 3))):
        day = rng.randint(*span)
        history.conditions.append(
            (day, *diagnosis_code(rng, day, DISTRACTOR_ICD10, DISTRACTOR_ICD9))
        )
    if rng.random() < 0.3:
        add_course(
            history,
            rng.choice(("atorvastatin", "metformin", "lisinopril")),
            rng.randint(*span),
            rng.randint(1, 6),
            90,
        )
    if rng.random() < 0.2:
        history.procedures.append((rng.randint(*span), *rng.choice(OTHER_PROCEDURES)))
    history.visits += [rng.randint(*span) for _ in range(rng.randint(0, 4))]


def clamp_history(history: History, plan: PersonPlan) -> None:
    """Drop drug and procedure events after the end of observation."""
    history.drugs = [d for d in history.drugs if d[0] <= plan.obs_end]
    history.procedures = [p for p in history.procedures if p[0] <= plan.obs_end]


def after(rng: random.Random, day: int, plan: PersonPlan) -> int:
    """A day between ``day`` and the end of observation."""
    return rng.randint(day, max(day, plan.obs_end))


def build_history(
    rng: random.Random, plan: PersonPlan, names: list[str], antipsychotics: list[str]
) -> History:
    """All events of one person.

    Parameters
    ----------
    rng : the chunk's random generator.
    plan : planned group and timing.
    names : antidepressant ingredient names.
    antipsychotics : antipsychotic ingredient names.

    Returns
    -------
    The History (observation periods, conditions, drugs, procedures, visits).
    """
    history = History(periods=[(plan.obs_start, plan.obs_end)])
    first = plan.obs_end - plan.follow_up
    if plan.group == "non_mdd":
        add_non_mdd_events(rng, history, plan, names, antipsychotics)
    else:
        add_mdd_dates(rng, history, first, plan.obs_end)
        add_mdd_treatment(rng, history, plan, first, names, antipsychotics)
    add_noise_events(rng, history, plan)
    clamp_history(history, plan)
    split_or_drop_periods(rng, history, plan)
    history.visits += [c[0] for c in history.conditions] + [p[0] for p in history.procedures]
    return history


def add_non_mdd_events(
    rng: random.Random,
    history: History,
    plan: PersonPlan,
    names: list[str],
    antipsychotics: list[str],
) -> None:
    """Persons without MDD: some antidepressant use (even switching), psychosis codes, ECT."""
    span = (plan.obs_start, plan.obs_end)
    if rng.random() < 0.12:
        if rng.random() < 0.15:
            onset = rng.randint(*span)
            add_trd_switch(rng, history, names, onset, plan)
        else:
            add_responsive_course(rng, history, names, rng.randint(*span))
    if rng.random() < 0.02:
        day = rng.randint(*span)
        history.conditions.append((day, *diagnosis_code(rng, day, PSYCH_ICD10, PSYCH_ICD9)))
    if rng.random() < 0.03:
        add_last_line(rng, history, rng.randint(*span), rng.choice(antipsychotics))
    if rng.random() < 0.005:
        add_last_line(rng, history, rng.randint(*span), "ect")


def add_mdd_treatment(
    rng: random.Random,
    history: History,
    plan: PersonPlan,
    first: int,
    names: list[str],
    antipsychotics: list[str],
) -> None:
    """Treatment of persons with MDD codes, following their planned group."""
    group = plan.group
    if group == "trd" or (group == "mdd_psych" and rng.random() < 0.3):
        delay = plan.time_to_trd if group == "trd" else rng.randint(1, max(1, plan.follow_up))
        onset = first + int(delay)
        add_trd_switch(rng, history, names, onset, plan)
        for kind, share in (
            ("ect", 0.08),
            ("esketamine", 0.05),
            (rng.choice(antipsychotics), 0.15),
        ):
            if rng.random() < share:
                add_last_line(rng, history, after(rng, onset + 30, plan), kind)
    elif group in ("trmdd", "mdd_psych"):
        start = first + rng.randint(-60, max(0, min(plan.follow_up - 100, 900)))
        add_responsive_course(rng, history, names, max(plan.obs_start, start))
        add_trmdd_extras(rng, history, plan, first, antipsychotics)
    else:  # untreated: at most one exposure; some take an antipsychotic and no antidepressant
        if rng.random() < 0.5:
            history.drugs.append((after(rng, first, plan), rng.choice(names), 30))
        elif rng.random() < 0.3:
            add_last_line(rng, history, after(rng, first, plan), rng.choice(antipsychotics))
    if group == "mdd_psych":
        day = (
            after(rng, first + 1, plan)
            if rng.random() < 0.6
            else max(plan.obs_start, first - rng.randint(1, 700))
        )
        history.conditions.append((day, *diagnosis_code(rng, day, PSYCH_ICD10, PSYCH_ICD9)))


def add_trmdd_extras(
    rng: random.Random, history: History, plan: PersonPlan, first: int, antipsychotics: list[str]
) -> None:
    """Last-line treatment and antipsychotics before or after the first MDD date; lithium."""
    before = max(plan.obs_start, first - rng.randint(1, 400))
    for kind, share_after, share_before in (("ect", 0.02, 0.01), ("antipsychotic", 0.08, 0.02)):
        name = rng.choice(antipsychotics) if kind == "antipsychotic" else kind
        if rng.random() < share_after:
            add_last_line(rng, history, after(rng, first, plan), name)
        elif rng.random() < share_before and before < first:
            add_last_line(rng, history, before, name)
    if rng.random() < 0.05:
        add_course(
            history, rng.choice(("lithium", "prochlorperazine")), after(rng, first, plan), 2, 30
        )


def split_or_drop_periods(rng: random.Random, history: History, plan: PersonPlan) -> None:
    """A few persons get two observation periods; a very few none at all."""
    draw = rng.random()
    start, end = plan.obs_start, plan.obs_end
    if draw < 0.003 and plan.group != "non_mdd":
        history.periods = []
    elif draw < 0.03 and end - start > 800:
        cut = rng.randint(start + 200, end - 400)
        history.periods = [(start, cut), (cut + rng.randint(30, 300), end)]
