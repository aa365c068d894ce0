"""Each person's true status, recomputed from the OMOP rows the simulator wrote.

An independent pandas implementation of ``docs/phenotypes.md`` (it does not use ``trd_spark.ehr``).
Dates are day numbers since 1970-01-01 throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trd_spark.resources import conf_path

GAP_DEFAULT = 182
SWITCH_DEFS = {"trd_1": (182, 365), "trd_2": (91, 365), "trd_3": (182, 730)}
EHR_TABLES = {  # a row with a date in one of these: the person has EHR
    "condition_occurrence": "condition_start_date",
    "drug_exposure": "drug_exposure_start_date",
    "procedure_occurrence": "procedure_date",
    "visit_occurrence": "visit_start_date",
    "observation_period": "observation_period_end_date",
}
MIN_SWITCH_DRUGS = 3
DEFAULT_EXPOSURE_DAYS = 30


@dataclass(frozen=True)
class CodeLists:
    """Normalised code lists: diagnosis prefixes, ingredient ids, ECT codes."""

    diagnoses: pd.DataFrame  # group, vocabulary, prefix
    antidepressants: set[int]
    esketamine: set[int]
    antipsychotics: set[int]
    ect: set[tuple[str, str]]
    # not exposures: (ingredient id or None for any antidepressant, route concept id) and
    # (ingredient id or None, dose form name, lower case)
    routes: set[tuple[int | None, int]]
    dose_forms: set[tuple[int | None, str]]
    labels: dict[str, dict[int, str]]  # race / ethnicity concept id -> text


def normalise(codes: pd.Series) -> pd.Series:
    """Upper case, dots removed."""
    return codes.astype("string").str.upper().str.replace(".", "", regex=False)


def load_code_lists(concept_df: pd.DataFrame) -> CodeLists:
    """Read conf/code_lists; antipsychotics without an id are looked up by name in ``concept``."""
    folder = conf_path("code_lists")
    diagnoses = pd.read_csv(folder / "diagnoses.tsv", sep="\t", dtype=str)
    diagnoses["prefix"] = normalise(diagnoses["code"])
    drugs = pd.read_csv(folder / "drugs.tsv", sep="\t", dtype={"concept_id": "Int64"})
    ingredients = concept_df[
        (concept_df["vocabulary_id"] == "RxNorm") & (concept_df["concept_class_id"] == "Ingredient")
    ]
    by_name = dict(
        zip(ingredients["concept_name"].str.lower(), ingredients["concept_id"], strict=True)
    )
    ids = [
        int(c) if pd.notna(c) else by_name.get(n.lower())
        for c, n in zip(drugs["concept_id"], drugs["ingredient"], strict=True)
    ]
    drugs["id"] = ids
    procedures = pd.read_csv(folder / "procedures.tsv", sep="\t", dtype=str)

    def group_ids(name: str) -> set[int]:
        return {int(i) for i in drugs.loc[drugs["group"] == name, "id"].dropna()}

    ingredient = dict(zip(drugs["ingredient"], drugs["id"], strict=True))
    forms = pd.read_csv(folder / "drug_forms.tsv", sep="\t", dtype=str, keep_default_na=False)
    routes_by_name = {
        str(n).lower(): int(c)
        for n, c, d in zip(
            concept_df["concept_name"], concept_df["concept_id"], concept_df["domain_id"],
            strict=True,
        )
        if d == "Route"
    }  # fmt: skip
    routes: set[tuple[int | None, int]] = set()
    dose_forms: set[tuple[int | None, str]] = set()
    for group, name, concept_id, form in zip(
        forms["group"], forms["ingredient"], forms["concept_id"], forms["name"], strict=True
    ):
        found = ingredient.get(str(name))
        who = None if name == "*" else (None if found is None else int(found))
        if who is None and name != "*":
            continue  # not a listed antidepressant: the rule holds for nothing
        if group == "route":
            route = int(concept_id) if concept_id else routes_by_name.get(str(form).lower())
            if route is not None:
                routes.add((who, route))
        else:
            dose_forms.add((who, str(form).lower()))
    demography = pd.read_csv(folder / "race_ethnicity.tsv", sep="\t", dtype=str)
    labels = {
        str(g): dict(zip(rows["concept_id"].astype(int), rows["label"].astype(str), strict=True))
        for g, rows in demography.groupby("group")
    }
    return CodeLists(
        diagnoses=diagnoses[["group", "vocabulary", "prefix"]],
        antidepressants=group_ids("antidepressant"),
        esketamine=group_ids("esketamine"),
        antipsychotics=group_ids("antipsychotic"),
        ect={(v, c) for v, c in zip(procedures["vocabulary"], procedures["code"], strict=True)},
        routes=routes,
        dose_forms=dose_forms,
        labels=labels,
    )


def condition_codes(conditions_df: pd.DataFrame, concept_df: pd.DataFrame) -> pd.DataFrame:
    """person_id, day, vocabulary, code (normalised) of every condition row."""
    lookup = concept_df[["concept_id", "concept_code", "vocabulary_id"]]
    merged = conditions_df.merge(
        lookup, how="left", left_on="condition_source_concept_id", right_on="concept_id"
    )
    source_id = merged["condition_source_concept_id"]
    use_concept = source_id.notna() & (source_id != 0) & merged["concept_code"].notna()
    value = merged["condition_source_value"].astype("string")
    code = normalise(value.where(~use_concept, merged["concept_code"]))
    first = value.str.upper().str[0]
    icd9_value = first.str.isdigit().fillna(False) | first.isin(["E", "V"])
    vocab = pd.Series(np.where(icd9_value, "ICD9CM", "ICD10CM"), index=merged.index)
    vocab = vocab.where(~use_concept, merged["vocabulary_id"])
    return pd.DataFrame(
        {
            "person_id": merged["person_id"],
            "day": merged["condition_start_date"],
            "vocabulary": vocab,
            "code": code,
            "source_concept_id": source_id,
        }
    )


def code_hits(codes_df: pd.DataFrame, lists: CodeLists, groups: tuple[str, ...]) -> np.ndarray:
    """Rows whose (vocabulary, code) matches a prefix of ``groups`` in its own vocabulary."""
    hit = np.zeros(len(codes_df), dtype=bool)
    wanted = lists.diagnoses[lists.diagnoses["group"].isin(groups)]
    for vocabulary, prefix in zip(wanted["vocabulary"], wanted["prefix"], strict=True):
        same = (codes_df["vocabulary"] == vocabulary).fillna(False).to_numpy()
        hit |= same & codes_df["code"].str.startswith(prefix).fillna(False).to_numpy()
    return hit


def snomed_groups(vocabulary: dict[str, pd.DataFrame], lists: CodeLists) -> pd.DataFrame:
    """(concept_id, mdd, other) of the SNOMED concepts: a concept's standard concepts ('Maps
    to') are MDD (other) when every ICD code mapping to them is."""
    concept_df, links = vocabulary["concept"], vocabulary["concept_relationship"]
    links = links[links["relationship_id"] == "Maps to"]
    icd = concept_df[concept_df["vocabulary_id"].isin(["ICD9CM", "ICD10CM"])]
    icd_codes = pd.DataFrame(
        {"vocabulary": icd["vocabulary_id"], "code": normalise(icd["concept_code"])}
    )
    icd = icd.assign(
        mdd=code_hits(icd_codes, lists, ("mdd",)),
        other=code_hits(icd_codes, lists, ("schizophrenia", "bipolar")),
    )
    mapped = icd.merge(links, left_on="concept_id", right_on="concept_id_1")
    standard = mapped.groupby("concept_id_2")[["mdd", "other"]].all().reset_index()
    snomed = concept_df.loc[concept_df["vocabulary_id"] == "SNOMED", ["concept_id"]]
    sources = snomed.merge(links, left_on="concept_id", right_on="concept_id_1").merge(
        standard, on="concept_id_2"
    )
    return sources.groupby("concept_id")[["mdd", "other"]].any().reset_index()


def diagnosis_days(
    codes_df: pd.DataFrame, lists: CodeLists, groups: tuple[str, ...], snomed: pd.DataFrame
) -> pd.DataFrame:
    """Distinct (person_id, day) with a code of any of ``groups`` (prefix match, own
    vocabulary), or a SNOMED source concept of that kind (``snomed``: :func:`snomed_groups`)."""
    hit = code_hits(codes_df, lists, groups)
    kind = "mdd" if groups == ("mdd",) else "other"
    by_snomed = codes_df["source_concept_id"].isin(snomed.loc[snomed[kind], "concept_id"])
    hit |= (codes_df["vocabulary"] == "SNOMED").fillna(False).to_numpy() & by_snomed.to_numpy()
    return codes_df.loc[hit, ["person_id", "day"]].drop_duplicates()


def dose_form_names(vocabulary: dict[str, pd.DataFrame]) -> dict[int, str]:
    """Drug concept id -> its dose form's name, lower case ('RxNorm has dose form')."""
    links = vocabulary["concept_relationship"]
    links = links[links["relationship_id"] == "RxNorm has dose form"]
    names = vocabulary["concept"].set_index("concept_id")["concept_name"].str.lower()
    return {
        int(a): names.get(b, "")
        for a, b in zip(links["concept_id_1"], links["concept_id_2"], strict=True)
    }


def not_systemic(merged: pd.DataFrame, lists: CodeLists, forms: dict[int, str]) -> np.ndarray:
    """Rows whose route or dose form is listed (for their ingredient, or for all)."""
    ingredient = merged["ancestor_concept_id"].to_numpy()
    route = (
        merged["route_concept_id"]
        if "route_concept_id" in merged
        else pd.Series([None] * len(merged), index=merged.index)
    )
    form = merged["drug_concept_id"].map(forms).fillna("").to_numpy()
    out = np.zeros(len(merged), dtype=bool)
    for who, listed in lists.routes:
        out |= (route.fillna(-1).to_numpy() == listed) & ((who is None) | (ingredient == who))
    for who, name in lists.dose_forms:
        out |= (form == name) & ((who is None) | (ingredient == who))
    return out


def exposures(
    drugs_df: pd.DataFrame,
    ancestor_df: pd.DataFrame,
    ingredient_ids: set[int],
    systemic: tuple[CodeLists, dict[int, str]] | None = None,
) -> pd.DataFrame:
    """person_id, ingredient, start, end of every exposure to the listed ingredients (or their
    descendants); a combination product yields one exposure per listed ingredient.  With
    ``systemic`` (the lists and :func:`dose_form_names`), rows of a listed route or dose
    form are not exposures."""
    links = ancestor_df[ancestor_df["ancestor_concept_id"].isin(ingredient_ids)]
    links = pd.concat(
        [
            links[["ancestor_concept_id", "descendant_concept_id"]],
            pd.DataFrame(
                {
                    "ancestor_concept_id": list(ingredient_ids),
                    "descendant_concept_id": list(ingredient_ids),
                }
            ),
        ]
    ).drop_duplicates()
    merged = drugs_df.merge(links, left_on="drug_concept_id", right_on="descendant_concept_id")
    if systemic is not None:
        merged = merged[~not_systemic(merged, *systemic)]
    start = merged["drug_exposure_start_date"].astype("int64")
    end = merged["drug_exposure_end_date"]
    supply = merged["days_supply"]
    by_supply = np.where(
        supply.fillna(0) > 0, start + supply.fillna(0) - 1, start + DEFAULT_EXPOSURE_DAYS - 1
    )
    valid_end = end.notna() & (end.fillna(-(10**9)) >= start)
    final_end = np.where(valid_end, end.fillna(0), by_supply).astype("int64")
    return pd.DataFrame(
        {
            "person_id": merged["person_id"].astype("int64"),
            "ingredient": merged["ancestor_concept_id"].astype("int64"),
            "start": start,
            "end": final_end,
        }
    )


def assign_periods(exposures_df: pd.DataFrame, gap_days: int) -> pd.DataFrame:
    """Add period_id (start-to-start gaps above ``gap_days`` open a new period) and period_start."""
    frame = exposures_df.sort_values(["person_id", "start", "end", "ingredient"], ignore_index=True)
    new_person = frame["person_id"].ne(frame["person_id"].shift())
    gap = frame["start"] - frame["start"].shift()
    frame["period_id"] = (
        (new_person | (gap > gap_days)).astype(int).groupby(frame["person_id"]).cumsum()
    )
    frame["period_start"] = frame.groupby(["person_id", "period_id"])["start"].transform("min")
    return frame


def switching_onsets(periods_df: pd.DataFrame, window_days: int) -> pd.Series:
    """Per person, the onset of TRD by switching (third new ingredient within the window)."""
    first = periods_df.groupby(["person_id", "period_id", "ingredient"], as_index=False).agg(
        first_start=("start", "min"), period_start=("period_start", "first")
    )
    first = first[first["first_start"] <= first["period_start"] + window_days]
    first = first.sort_values(["person_id", "period_id", "first_start"])
    first["rank"] = first.groupby(["person_id", "period_id"]).cumcount() + 1
    third = first[first["rank"] == MIN_SWITCH_DRUGS]
    earliest = (
        third.sort_values(["person_id", "period_id"]).groupby("person_id")["first_start"].first()
    )
    return earliest


def first_day_after(days_df: pd.DataFrame, first_mdd: pd.Series) -> pd.Series:
    """Per person, the earliest event day on or after the person's first MDD date."""
    mdd_df = first_mdd.rename("first_mdd").rename_axis("person_id").reset_index()
    frame = days_df.merge(mdd_df, on="person_id")
    frame = frame[frame["day"] >= frame["first_mdd"]]
    return frame.groupby("person_id")["day"].min()


def sex_of(person_df: pd.DataFrame) -> pd.Series:
    """female / male from sex at birth, else gender; None otherwise."""
    sab, gender = person_df["sex_at_birth_concept_id"], person_df["gender_concept_id"]
    sex = pd.Series([None] * len(person_df), index=person_df.index, dtype=object)
    # later assignments win: sex at birth overrides gender
    for column, female, male in ((gender, 8532, 8507), (sab, 45878463, 45880669)):
        sex[column == female] = "female"
        sex[column == male] = "male"
    return sex


def mdd_columns(truth_df: pd.DataFrame, mdd_days: pd.DataFrame, psych_days: pd.DataFrame) -> None:
    """first_mdd_date, n_mdd_dates and mdd_1..3 (in place; truth_df indexed by person_id)."""
    first_mdd = mdd_days.groupby("person_id")["day"].min()
    truth_df["first_mdd_date"] = first_mdd.reindex(truth_df.index).astype("Int64")
    truth_df["n_mdd_dates"] = (
        mdd_days.groupby("person_id")["day"].nunique().reindex(truth_df.index).fillna(0).astype(int)
    )
    first_psych = psych_days.groupby("person_id")["day"].min().reindex(truth_df.index)
    never = first_psych.isna()
    n = truth_df["n_mdd_dates"]
    truth_df["mdd_1"] = (n >= 1) & never
    truth_df["mdd_2"] = (n >= 2) & never
    after_mdd = first_psych > truth_df["first_mdd_date"].astype("float")
    truth_df["mdd_3"] = (n >= 1) & (never | after_mdd.fillna(False))
    truth_df["non_mdd"] = (n == 0) & truth_df["has_ehr"]


def treated_under(ad_df: pd.DataFrame, gap: int, persons: pd.Index) -> np.ndarray:
    """Whether each person has a period under ``gap`` holding two or more exposures."""
    sizes = assign_periods(ad_df, gap).groupby(["person_id", "period_id"]).size()
    return persons.isin(sizes[sizes >= 2].index.get_level_values("person_id").unique())


def trd_columns(
    truth_df: pd.DataFrame, ad_df: pd.DataFrame, ect_esk: pd.DataFrame, antipsychotic: pd.DataFrame
) -> None:
    """treated (default gap), treated_trd_k (trd_k's gap), trd_1..5 and their onsets (in
    place)."""
    truth_df["treated"] = treated_under(ad_df, GAP_DEFAULT, truth_df.index)
    for name, (gap, _) in SWITCH_DEFS.items():
        truth_df[f"treated_{name}"] = treated_under(ad_df, gap, truth_df.index)
    has_mdd = truth_df["n_mdd_dates"] >= 1
    for name, (gap, window) in SWITCH_DEFS.items():
        onset = switching_onsets(assign_periods(ad_df, gap), window).reindex(truth_df.index)
        onset = onset.where(has_mdd)
        truth_df[f"{name}_onset"] = onset.astype("Int64")
        truth_df[name] = onset.notna()
    first_mdd = truth_df["first_mdd_date"].dropna().astype("int64")
    onset = truth_df["trd_1_onset"].astype("float")
    for name, extra in (("trd_4", ect_esk), ("trd_5", antipsychotic)):
        after = first_day_after(extra, first_mdd).reindex(truth_df.index).astype("float")
        onset = pd.concat([onset, after], axis=1).min(axis=1).where(has_mdd)
        truth_df[f"{name}_onset"] = onset.astype("Int64")
        truth_df[name] = onset.notna()


def compute_truth(
    tables: dict[str, pd.DataFrame],
    vocabulary: dict[str, pd.DataFrame],
    lists: CodeLists,
    cutoff: int,
    cutoff_year: int,
) -> pd.DataFrame:
    """Every OMOP person's status under all definitions of ``docs/phenotypes.md``.

    Parameters
    ----------
    tables : person, observation_period, visit_occurrence, condition_occurrence,
        drug_exposure, procedure_occurrence (dates as day numbers).
    vocabulary : concept, concept_ancestor and concept_relationship as written.
    lists : the code lists.
    cutoff : data cutoff (day number); cutoff_year its calendar year.

    Returns
    -------
    One row per person (index person_id) with the persons.parquet definition columns.
    """
    concept_df, ancestor_df = vocabulary["concept"], vocabulary["concept_ancestor"]
    person_df = tables["person"].set_index("person_id")
    truth_df = pd.DataFrame(index=person_df.index)
    truth_df["sex"] = sex_of(person_df)
    for column in ("race", "ethnicity"):
        labels = lists.labels.get(column, {})
        truth_df[column] = person_df[f"{column}_concept_id"].map(labels).astype(object)
    truth_df["year_of_birth"] = person_df["year_of_birth"].astype(int)
    truth_df["age"] = cutoff_year - truth_df["year_of_birth"]
    codes_df = condition_codes(tables["condition_occurrence"], concept_df)
    snomed = snomed_groups(vocabulary, lists)
    truth_df["has_ehr"] = has_ehr(tables, truth_df.index)
    mdd_columns(
        truth_df,
        diagnosis_days(codes_df, lists, ("mdd",), snomed),
        diagnosis_days(codes_df, lists, ("schizophrenia", "bipolar"), snomed),
    )
    drugs_df = tables["drug_exposure"]
    systemic = (lists, dose_form_names(vocabulary))
    ad_df = exposures(drugs_df, ancestor_df, lists.antidepressants, systemic)
    esk = exposures(drugs_df, ancestor_df, lists.esketamine)[["person_id", "start"]].rename(
        columns={"start": "day"}
    )
    ect = ect_days(tables["procedure_occurrence"], concept_df, lists)
    ap = exposures(drugs_df, ancestor_df, lists.antipsychotics)[["person_id", "start"]].rename(
        columns={"start": "day"}
    )
    trd_columns(truth_df, ad_df, pd.concat([esk, ect]), ap)
    obs_end = tables["observation_period"].groupby("person_id")["observation_period_end_date"].max()
    truth_df["end_of_observation"] = np.minimum(obs_end.reindex(truth_df.index), cutoff).astype(
        "Int64"
    )
    diagnosis_year = pd.to_datetime(truth_df["first_mdd_date"].astype("float"), unit="D").dt.year
    truth_df["age_at_diagnosis"] = (diagnosis_year - truth_df["year_of_birth"]).astype("Int64")
    return truth_df


def has_ehr(tables: dict[str, pd.DataFrame], persons: pd.Index) -> np.ndarray:
    """Whether each person has a dated row in one of the ``EHR_TABLES``."""
    ids: set[int] = set()
    for table, column in EHR_TABLES.items():
        rows = tables[table]
        ids.update(rows.loc[rows[column].notna(), "person_id"].astype("int64"))
    return persons.isin(list(ids))


def ect_days(
    procedures_df: pd.DataFrame, concept_df: pd.DataFrame, lists: CodeLists
) -> pd.DataFrame:
    """(person_id, day) of procedures whose concept is a listed ECT code."""
    merged = procedures_df.merge(
        concept_df[["concept_id", "vocabulary_id", "concept_code"]],
        left_on="procedure_concept_id",
        right_on="concept_id",
    )
    keys = list(zip(merged["vocabulary_id"], merged["concept_code"], strict=True))
    hit = np.array([k in lists.ect for k in keys], dtype=bool)
    return merged.loc[hit, ["person_id", "procedure_date"]].rename(
        columns={"procedure_date": "day"}
    )


def time_to_event(truth_df: pd.DataFrame, min_dates: int = 3) -> pd.DataFrame:
    """The survival subset (mdd_1 and n_mdd_dates >= min_dates) with time, event and exclusions."""
    subset = truth_df[truth_df["mdd_1"] & (truth_df["n_mdd_dates"] >= min_dates)]
    origin = subset["first_mdd_date"].astype("int64")
    onset = subset["trd_1_onset"]
    eoo = subset["end_of_observation"]
    prevalent = onset.notna() & (onset.astype("float") <= origin)
    event = (
        onset.notna() & ~prevalent & eoo.notna() & (onset.astype("float") <= eoo.astype("float"))
    )
    time = np.where(event, onset.astype("float") - origin, eoo.astype("float") - origin)
    exclusion = pd.Series([None] * len(subset), index=subset.index, dtype=object)
    # later assignments win: prevalent first, then no observation period, then no follow-up
    exclusion[~(time > 0)] = "no_follow_up"
    exclusion[eoo.isna().to_numpy()] = "no_observation_period"
    exclusion[prevalent.to_numpy()] = "prevalent"
    return pd.DataFrame(
        {
            "person_id": subset.index.to_numpy(),
            "origin_date": origin.to_numpy(),
            "onset_date": onset.to_numpy(),
            "end_of_observation": eoo.to_numpy(),
            "event": event.to_numpy(),
            "time_days": pd.Series(time, dtype="Float64").astype("Int64").to_numpy(),
            "age_at_diagnosis": subset["age_at_diagnosis"].to_numpy(),
            "included": exclusion.isna().to_numpy(),
            "exclusion": exclusion.to_numpy(),
        }
    )
