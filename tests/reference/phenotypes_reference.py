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
    require_ehr: bool = True


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

    def __init__(
        self,
        folder: str,
        concept: pd.DataFrame,
        ancestor: pd.DataFrame,
        relationship: pd.DataFrame | None = None,
    ) -> None:
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
        links = [] if relationship is None else list(relationship.itertuples())
        self.snomed_groups = self._snomed_groups(concept, links)
        self._read_forms(folder, concept, links, by_name)
        self.labels: dict[str, dict[int, str]] = defaultdict(dict)
        for r in _read_tsv(os.path.join(folder, "race_ethnicity.tsv")):
            self.labels[r["group"]][int(r["concept_id"])] = r["label"]

    def _snomed_groups(self, concept: pd.DataFrame, links: list) -> dict[int, set[str]]:
        """SNOMED concept -> the groups it counts for: those of its 'Maps to' targets, a
        target counting for a group when every ICD code mapping to it is in the group
        (schizophrenia and bipolar taken together)."""
        maps = [
            (int(r.concept_id_1), int(r.concept_id_2))
            for r in links
            if r.relationship_id == "Maps to"
        ]
        kinds_into: dict[int, list[set[str]]] = defaultdict(list)
        for source, target in maps:
            code, vocab = self.concepts.get(source, ("", ""))
            if vocab in ("ICD9CM", "ICD10CM"):
                kinds_into[target].append(self._kinds(_clean(code), vocab))
        standard = {target: set.intersection(*kinds) for target, kinds in kinds_into.items()}
        out: dict[int, set[str]] = defaultdict(set)
        for source, target in maps:
            if self.concepts.get(source, ("", ""))[1] == "SNOMED":
                out[source] |= standard.get(target, set())
        return out

    def _kinds(self, code: str, vocab: str) -> set[str]:
        groups = {g for g, v, prefix in self.dx if v == vocab and code.startswith(prefix)}
        kinds = {"mdd"} if "mdd" in groups else set()
        return kinds | ({"psychosis"} if groups & {"schizophrenia", "bipolar"} else set())

    def _read_forms(
        self, folder: str, concept: pd.DataFrame, links: list, by_name: dict[str, int]
    ) -> None:
        """Routes and dose forms that make an antidepressant row no exposure."""
        route_by_name = {
            str(r.concept_name).lower(): int(r.concept_id)
            for r in concept.itertuples()
            if getattr(r, "domain_id", None) == "Route"
        }
        form_name = {
            int(r.concept_id): str(r.concept_name).lower()
            for r in concept.itertuples()
            if r.concept_class_id == "Dose Form"
        }
        self.dose_form = {
            int(r.concept_id_1): form_name.get(int(r.concept_id_2), "")
            for r in links
            if r.relationship_id == "RxNorm has dose form"
        }
        self.bad_routes: list[tuple[int | None, int, str]] = []
        self.bad_forms: list[tuple[int | None, str, str]] = []
        for r in _read_tsv(os.path.join(folder, "drug_forms.tsv")):
            ingredient = r["ingredient"].strip().lower()
            who = None if ingredient == "*" else by_name.get(ingredient, -2)
            name = r["name"].strip().lower()
            if r["group"] == "route":
                cid = int(r["concept_id"]) if r["concept_id"].strip() else route_by_name.get(name)
                if cid is not None:
                    self.bad_routes.append((who, cid, r["label"]))
            else:
                self.bad_forms.append((who, name, r["label"]))

    def not_exposure(self, drug_concept_id: int, ingredient: int, route: int | None) -> bool:
        """An antidepressant row of a listed dose form, or of a listed route."""
        form = self.dose_form.get(drug_concept_id)
        for who, name, _ in self.bad_forms:
            if form == name and who in (None, ingredient):
                return True
        return any(route == cid and who in (None, ingredient) for who, cid, _ in self.bad_routes)

    def diagnosis_groups(self, source_concept_id: Any, source_value: Any) -> set[str]:
        cid = _int(source_concept_id)
        if cid not in (None, 0) and cid in self.concepts:
            code, vocab = self.concepts[cid]
            if vocab == "SNOMED":
                kinds = self.snomed_groups.get(cid, set())
                return {"mdd"} & kinds | ({"schizophrenia"} if "psychosis" in kinds else set())
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
        route = _int(getattr(r, "route_concept_id", None))
        for ingredient in sorted(book.ingredients.get(cid, ())):
            group = book.drug_group[ingredient]
            if group == "antidepressant":
                if not book.not_exposure(cid, ingredient, route):
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
    out["has_ehr"] = has_ehr_record(rows)
    out["non_mdd"] = n_dates == 0 and (out["has_ehr"] or not s.require_ehr)
    default_periods = make_periods(antidepressants, s.default_gap, s.gap_basis)
    out["treated"] = any(len(p) >= 2 for p in default_periods)
    for name, (gap, _) in s.switching.items():  # treated under the gap of each definition
        periods = make_periods(antidepressants, gap, s.gap_basis)
        out[f"treated_{name}"] = any(len(p) >= 2 for p in periods)
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
    for column in ("race", "ethnicity"):
        value = _int(getattr(person, f"{column}_concept_id", None))
        out[column] = book.labels[column].get(value) if value is not None else None
    yob = _int(person.year_of_birth)
    out["year_of_birth"] = yob
    out["age"] = None if yob is None or cutoff is None else cutoff.year - yob
    out["age_at_diagnosis"] = None if yob is None or first_mdd is None else first_mdd.year - yob
    return out


def has_ehr_record(rows: dict[str, pd.DataFrame]) -> bool:
    """A usable condition, drug, procedure, visit or observation period row."""
    for r in rows["condition_occurrence"].itertuples():
        if _date(r.condition_start_date) is not None:
            return True
    for r in rows["drug_exposure"].itertuples():
        if _date(r.drug_exposure_start_date) is not None and _int(r.drug_concept_id) not in (
            None,
            0,
        ):
            return True
    for r in rows["procedure_occurrence"].itertuples():
        if _date(r.procedure_date) is not None:
            return True
    for r in rows["visit_occurrence"].itertuples():
        start, end = _date(r.visit_start_date), _date(r.visit_end_date)
        if start is not None and (end is None or end >= start):
            return True
    for r in rows["observation_period"].itertuples():
        start, end = _date(r.observation_period_start_date), _date(r.observation_period_end_date)
        if end is not None and (start is None or end >= start):
            return True
    return False


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
    book = CodeBook(
        code_list_dir,
        tables["concept"],
        tables["concept_ancestor"],
        tables.get("concept_relationship"),
    )
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
            "visit_occurrence",
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
