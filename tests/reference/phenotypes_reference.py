"""Reference phenotypes: plain Python over pandas, one person at a time.

Written from ``docs/phenotypes.md`` alone (not from the Spark
code) so that the Spark job can be checked against it.  Slow and simple on
purpose: loops, dicts and ``datetime.date``.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

FEMALE_MALE_AT_BIRTH = {45878463: "female", 45880669: "male"}
FEMALE_MALE_GENDER = {8532: "female", 8507: "male"}


@dataclass
class Settings:
    gap_basis: str = "start_to_start"
    default_gap: int = 182
    switching: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {"trd_1": (182, 365), "trd_2": (91, 365), "trd_3": (182, 730)}
    )
    n_switch: int = 3
    default_days: int = 30
    cutoff: dt.date | None = None
    survival_min_dates: int = 3


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NaT


def _date(value: Any) -> dt.date | None:
    if _missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    return value  # already a date


def _int(value: Any) -> int | None:
    return None if _missing(value) or pd.isna(value) else int(value)


def _clean(code: Any) -> str:
    return str(code).strip().upper().replace(".", "")


def _read_tsv(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


class CodeBook:
    """The code lists, with concept ids filled from the concept table."""

    def __init__(self, folder: str, concept: pd.DataFrame, ancestor: pd.DataFrame) -> None:
        self.dx = [
            (r["group"], r["vocabulary"], _clean(r["code"]))
            for r in _read_tsv(os.path.join(folder, "diagnoses.tsv"))
        ]
        self.ect = {
            (r["vocabulary"], _clean(r["code"]))
            for r in _read_tsv(os.path.join(folder, "procedures.tsv"))
            if r["group"] == "ect"
        }
        by_name = {}
        self.concepts: dict[int, tuple[str, str]] = {}
        for row in concept.itertuples():
            self.concepts[int(row.concept_id)] = (str(row.concept_code), str(row.vocabulary_id))
            if row.vocabulary_id == "RxNorm" and row.concept_class_id == "Ingredient":
                by_name.setdefault(str(row.concept_name).lower(), int(row.concept_id))
        self.drug_group: dict[int, str] = {}
        for r in _read_tsv(os.path.join(folder, "drugs.tsv")):
            cid = (
                int(r["concept_id"])
                if r["concept_id"].strip()
                else by_name.get(r["ingredient"].strip().lower())
            )
            if cid is not None:
                self.drug_group[cid] = r["group"]
        # concept -> listed ingredients it is or descends from
        self.ingredients: dict[int, set[int]] = defaultdict(set)
        for cid in self.drug_group:
            self.ingredients[cid].add(cid)
        for row in ancestor.itertuples():
            if int(row.ancestor_concept_id) in self.drug_group:
                self.ingredients[int(row.descendant_concept_id)].add(int(row.ancestor_concept_id))

    def diagnosis_groups(self, source_concept_id: Any, source_value: Any) -> set[str]:
        cid = _int(source_concept_id)
        if cid not in (None, 0) and cid in self.concepts:
            code, vocab = self.concepts[cid]
            code = _clean(code)
        else:
            if _missing(source_value):
                return set()
            code = _clean(source_value)
            first = code[:1]
            vocab = "ICD10CM" if first.isalpha() and first not in ("E", "V") else "ICD9CM"
        return {g for g, v, prefix in self.dx if v == vocab and code.startswith(prefix)}

    def is_ect(self, concept_id: Any, source_concept_id: Any, source_value: Any) -> bool:
        for cid in (_int(concept_id), _int(source_concept_id)):
            if cid is not None and cid in self.concepts:
                code, vocab = self.concepts[cid]
                if (vocab, _clean(code)) in self.ect:
                    return True
        if _int(source_concept_id) in (None, 0) and not _missing(source_value):
            return _clean(source_value) in {code for _, code in self.ect}
        return False


def exposure_end(start: dt.date, end: dt.date | None, supply: int | None, default: int) -> dt.date:
    if end is not None and end >= start:
        return end
    if supply is not None and supply > 0:
        return start + dt.timedelta(days=supply - 1)
    return start + dt.timedelta(days=default - 1)


def make_periods(exposures: list[tuple[dt.date, dt.date, int]], gap: int, basis: str) -> list[list]:
    """Split sorted (start, end, ingredient) exposures into periods (lists of exposures)."""
    periods: list[list] = []
    latest_end: dt.date | None = None
    previous_start: dt.date | None = None
    for exposure in sorted(exposures):
        start, end, _ = exposure
        if not periods:
            new = True
        elif basis == "start_to_start":
            new = (start - previous_start).days > gap
        else:
            new = (start - latest_end).days > gap
        if new:
            periods.append([])
        periods[-1].append(exposure)
        previous_start = start
        latest_end = end if latest_end is None else max(latest_end, end)
    return periods


def switching_onset(periods: list[list], window: int, n_switch: int) -> dt.date | None:
    for period in periods:  # in start order: the earliest qualifying period wins
        period_start = period[0][0]
        first_start: dict[int, dt.date] = {}
        for start, _, ingredient in period:
            first_start[ingredient] = min(start, first_start.get(ingredient, start))
        inside = sorted(
            d for d in first_start.values() if d <= period_start + dt.timedelta(days=window)
        )
        if len(inside) >= n_switch:
            return inside[n_switch - 1]
    return None


def one_person(
    pid: int,
    person: Any,
    rows: dict[str, pd.DataFrame],
    book: CodeBook,
    s: Settings,
    cutoff: dt.date | None,
) -> dict[str, Any]:
    mdd_dates: set[dt.date] = set()
    other_dates: list[dt.date] = []
    for r in rows["condition_occurrence"].itertuples():
        day = _date(r.condition_start_date)
        if day is None:
            continue
        groups = book.diagnosis_groups(r.condition_source_concept_id, r.condition_source_value)
        if "mdd" in groups:
            mdd_dates.add(day)
        if groups & {"schizophrenia", "bipolar"}:
            other_dates.append(day)
    antidepressants: list[tuple[dt.date, dt.date, int]] = []
    last_line: list[dt.date] = []
    antipsychotic: list[dt.date] = []
    for r in rows["drug_exposure"].itertuples():
        start = _date(r.drug_exposure_start_date)
        cid = _int(r.drug_concept_id)
        if start is None or cid in (None, 0):
            continue
        end = exposure_end(
            start, _date(r.drug_exposure_end_date), _int(r.days_supply), s.default_days
        )
        for ingredient in sorted(book.ingredients.get(cid, ())):
            group = book.drug_group[ingredient]
            if group == "antidepressant":
                antidepressants.append((start, end, ingredient))
            elif group == "esketamine":
                last_line.append(start)
            else:
                antipsychotic.append(start)
    for r in rows["procedure_occurrence"].itertuples():
        day = _date(r.procedure_date)
        if day is not None and book.is_ect(
            r.procedure_concept_id, r.procedure_source_concept_id, r.procedure_source_value
        ):
            last_line.append(day)
    first_mdd = min(mdd_dates) if mdd_dates else None
    n_dates = len(mdd_dates)
    out: dict[str, Any] = {"person_id": pid, "first_mdd_date": first_mdd, "n_mdd_dates": n_dates}
    out["mdd_1"] = n_dates >= 1 and not other_dates
    out["mdd_2"] = n_dates >= 2 and not other_dates
    out["mdd_3"] = n_dates >= 1 and not any(d <= first_mdd for d in other_dates)
    out["non_mdd"] = n_dates == 0
    default_periods = make_periods(antidepressants, s.default_gap, s.gap_basis)
    out["treated"] = any(len(p) >= 2 for p in default_periods)
    onsets: dict[str, dt.date | None] = {}
    for name, (gap, window) in s.switching.items():
        onsets[name] = switching_onset(
            make_periods(antidepressants, gap, s.gap_basis), window, s.n_switch
        )
    after = [d for d in last_line if first_mdd is not None and d >= first_mdd]
    candidates4 = [d for d in [onsets["trd_1"], *after] if d is not None]
    onsets["trd_4"] = min(candidates4) if candidates4 else None
    ap_after = [d for d in antipsychotic if first_mdd is not None and d >= first_mdd]
    candidates5 = [d for d in [onsets["trd_4"], *ap_after] if d is not None]
    onsets["trd_5"] = min(candidates5) if candidates5 else None
    for name in ("trd_1", "trd_2", "trd_3", "trd_4", "trd_5"):
        onset = onsets[name] if n_dates >= 1 else None
        out[name] = onset is not None
        out[f"{name}_onset"] = onset
    ends = [_date(r.observation_period_end_date) for r in rows["observation_period"].itertuples()]
    starts = [
        _date(r.observation_period_start_date) for r in rows["observation_period"].itertuples()
    ]
    ends = [e for e, b in zip(ends, starts, strict=True) if e is not None and (b is None or e >= b)]
    eoo = max(ends) if ends else None
    if eoo is not None and cutoff is not None:
        eoo = min(eoo, cutoff)
    out["end_of_observation"] = eoo
    sex = FEMALE_MALE_AT_BIRTH.get(_int(getattr(person, "sex_at_birth_concept_id", None)))
    out["sex"] = sex or FEMALE_MALE_GENDER.get(_int(person.gender_concept_id))
    yob = _int(person.year_of_birth)
    out["year_of_birth"] = yob
    out["age"] = None if yob is None or cutoff is None else cutoff.year - yob
    out["age_at_diagnosis"] = None if yob is None or first_mdd is None else first_mdd.year - yob
    return out


def time_to_event_row(p: dict[str, Any]) -> dict[str, Any]:
    origin, onset, eoo = p["first_mdd_date"], p["trd_1_onset"], p["end_of_observation"]
    exclusion = None
    event = False
    time_days = None
    if onset is not None and onset <= origin:
        exclusion = "prevalent"
    if onset is not None and onset > origin and eoo is not None and onset <= eoo:
        event = True
        time_days = (onset - origin).days
    elif eoo is not None:
        time_days = (eoo - origin).days
    if exclusion is None and eoo is None:
        exclusion = "no_observation_period"
    if exclusion is None and time_days is not None and time_days <= 0:
        exclusion = "no_follow_up"
    return {
        "person_id": p["person_id"],
        "origin_date": origin,
        "onset_date": onset,
        "end_of_observation": eoo,
        "event": event,
        "time_days": time_days,
        "age_at_diagnosis": p["age_at_diagnosis"],
        "included": exclusion is None,
        "exclusion": exclusion,
    }


def reference_phenotypes(
    tables: dict[str, pd.DataFrame], code_list_dir: str, settings: Settings | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Persons and time-to-event tables for every person in ``tables['person']``."""
    s = settings or Settings()
    book = CodeBook(code_list_dir, tables["concept"], tables["concept_ancestor"])
    cutoff = s.cutoff
    if cutoff is None:
        known = set(tables["person"]["person_id"].dropna().astype(int))
        obs_ends = []
        for r in tables["observation_period"].itertuples():
            end, start = (
                _date(r.observation_period_end_date),
                _date(r.observation_period_start_date),
            )
            if int(r.person_id) in known and end is not None and (start is None or end >= start):
                obs_ends.append(end)
        cutoff = max(obs_ends) if obs_ends else None
    by_person = {
        name: dict(tuple(tables[name].groupby("person_id")))
        for name in (
            "condition_occurrence",
            "drug_exposure",
            "procedure_occurrence",
            "observation_period",
        )
    }
    persons = []
    seen: set[int] = set()
    for person in tables["person"].itertuples():
        pid = int(person.person_id)
        if pid in seen:
            continue
        seen.add(pid)
        rows = {name: groups.get(pid, tables[name].iloc[0:0]) for name, groups in by_person.items()}
        persons.append(one_person(pid, person, rows, book, s, cutoff))
    persons_df = pd.DataFrame(persons)
    subset = [p for p in persons if p["mdd_1"] and p["n_mdd_dates"] >= s.survival_min_dates]
    tte = pd.DataFrame(
        [time_to_event_row(p) for p in subset],
        columns=[
            "person_id",
            "origin_date",
            "onset_date",
            "end_of_observation",
            "event",
            "time_days",
            "age_at_diagnosis",
            "included",
            "exclusion",
        ],
    )
    return persons_df, tte
