"""A complete fake output_dir with the documented output tables, for the report tests.

The numbers are made up but shaped like a run of the study: three cohorts,
61 PGS, the three contrasts, 15 definition pairs, Cox fits and KM curves.
Some groups are deliberately small (1..20 persons) so that suppression has
something to hide; ``SMALL_COUNTS`` lists where they are.  Every count of persons is
computed from the fake persons, so the tables agree with each other as a real run's do
(disclosure control checks that they follow their declared structure).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from trd_spark.config import Config, config_from_dict
from trd_spark.resources import conf_path
from trd_spark.stats.grid import replicate_survival
from trd_spark.study import COMBINATIONS, TRD_DEFS, contrast_groups, group_masks, treated_column

COHORTS = ("wgs_european", "wgs_diverse", "microarray")
# planted group sizes per cohort: non-MDD, trMDD, TRD, MDD but untreated (no group)
GROUP_SIZES = {
    "wgs_european": (300, 200, 60, 40),
    "wgs_diverse": (150, 100, 35, 15),
    "microarray": (90, 40, 12, 8),
}
SMALL_COUNTS = {"microarray TRD": 12, "sensitivity trd_2/trmdd_3 n_trd": 15}
CONTRASTS = ("trMDD_vs_nonMDD", "TRD_vs_nonMDD", "TRD_vs_trMDD")
KM_TRAITS = ("educational_attainment", "insomnia", "neuroticism")
RACES = ("White", "Black or African American", "Asian", None)
ETHNICITIES = ("Not Hispanic or Latino", "Hispanic or Latino", None)
EXCLUDED = 35  # persons of each cohort excluded for missing covariates (not in persons)
FLAGGED_TRAITS = ("height", "asthma")
STRATA = ("pgs_0_20", "pgs_20_80", "pgs_80_100")


def fake_config(run_dir: Path, **report: object) -> Config:
    """A config whose output_dir is ``run_dir`` (input paths need not exist for the report)."""
    return config_from_dict(
        {
            "output_dir": str(run_dir),
            "genotypes": {"wgs": {"path": "wgs.mt"}, "array": {"path": "array.mt"}},
            "ancestry": "ancestry_preds.tsv",
            "weights": {"path": "weights"},
            "omop": {"path": "omop"},
            "report": dict(report),
        },
        base_dir=run_dir,
    )


def write_fake_run(run_dir: Path, seed: int = 11) -> Path:
    """Write every output table the report reads under ``run_dir``; returns ``run_dir``."""
    rng = np.random.default_rng(seed)
    traits = pd.read_csv(conf_path("traits.tsv"), sep="\t")["trait"].tolist()
    for folder in ("qc", "pgs", "phenotypes", "results", "manifests"):
        (run_dir / folder).mkdir(parents=True, exist_ok=True)
    persons_df = fake_persons(rng)
    persons_df.to_parquet(run_dir / "phenotypes/persons.parquet")
    fake_associations(rng, traits, persons_df).to_parquet(run_dir / "results/associations.parquet")
    replication_df = fake_replication(rng)
    sensitivity_df = fake_sensitivity(rng, persons_df)
    survival_df = fake_survival(rng, traits)
    # what the analyze stage added later (slopes, Cox replication, residuals) draws from its
    # own generator, so the numbers above stay as they were
    extra = np.random.default_rng(seed + 1000)
    replication_df = with_survival_replication(with_slopes(extra, replication_df), survival_df)
    replication_df.to_parquet(run_dir / "results/replication.parquet")
    sensitivity_df = sensitivity_df.assign(
        meta_slope=extra.uniform(0.6, 1.1, len(sensitivity_df)),
        meta_slope_ci_low=lambda t: t["meta_slope"] - 0.2,
        meta_slope_ci_high=lambda t: t["meta_slope"] + 0.2,
    )
    sensitivity_df.to_parquet(run_dir / "results/sensitivity.parquet")
    survival_df.to_parquet(run_dir / "results/survival.parquet")
    fake_schoenfeld(extra, survival_df).to_parquet(run_dir / "results/schoenfeld.parquet")
    fake_km(rng).to_parquet(run_dir / "results/km.parquet")
    time_df = pd.DataFrame(
        {
            "cohort": ["wgs", "microarray"],
            "n_events": [90, 14],
            "mean_days": [944.0, 700.0],
            "ci_low": [880.0, 500.0],
            "ci_high": [1010.0, 900.0],
        }
    )
    time_df.to_parquet(run_dir / "results/time_to_trd.parquet")
    fake_match_report(rng, traits).to_parquet(run_dir / "pgs/match_report.parquet")
    fake_attrition().to_parquet(run_dir / "phenotypes/attrition.parquet")
    fake_attrition().to_parquet(run_dir / "qc/cohort_attrition.parquet")
    fake_analysis_attrition().to_parquet(run_dir / "results/attrition.parquet")
    fake_group_sizes(persons_df).to_parquet(run_dir / "phenotypes/group_sizes.parquet")
    summary = {
        "rules": ["multiallelic", "call_rate"],
        "platforms": {
            "wgs": {"n_input": 5000, "multiallelic": 12, "call_rate": 340, "n_kept": 4648}
        },
    }
    (run_dir / "qc/summary.json").write_text(json.dumps(summary))
    manifest = {
        "stage": "analyze",
        "finished": "2026-01-01T00:00:00+00:00",
        "seconds": 12.5,
        "versions": {"numpy": np.__version__, "pandas": pd.__version__},
    }
    (run_dir / "manifests/analyze.json").write_text(json.dumps(manifest))
    return run_dir


def fake_persons(rng: np.random.Generator) -> pd.DataFrame:
    """Persons with the definition columns, in the planted group sizes.

    The other definitions nest as the study's do: ``mdd_2`` is most of ``mdd_1``, ``mdd_3``
    equals it, ``trd_3`` to ``trd_5`` add treated MDD persons to ``trd_1``, and ``trd_2``
    holds 15 treated MDD persons in wgs_european (``SMALL_COUNTS``) and equals ``trd_1``
    elsewhere.
    """
    frames = []
    for cohort, (n_non, n_tr, n_trd, n_untreated) in GROUP_SIZES.items():
        n = n_non + n_tr + n_trd + n_untreated
        mdd = np.r_[np.zeros(n_non, bool), np.ones(n - n_non, bool)]
        trd = np.r_[np.zeros(n_non + n_tr, bool), np.ones(n_trd, bool), np.zeros(n_untreated, bool)]
        treated = np.r_[
            rng.random(n_non) < 0.3, np.ones(n_tr + n_trd, bool), np.zeros(n_untreated, bool)
        ]
        trd_2 = trd.copy()
        if cohort == "wgs_european":
            trd_2[:] = False
            trd_2[n_non : n_non + SMALL_COUNTS["sensitivity trd_2/trmdd_3 n_trd"]] = True
        frames.append(
            pd.DataFrame(
                {"cohort": cohort, "mdd_1": mdd, "trd_1": trd, "trd_2": trd_2, "treated": treated}
            )
        )
    ungenotyped = pd.DataFrame(
        {"cohort": None, "mdd_1": [True] * 30, "trd_1": [True] * 30, "treated": True}
    )
    ungenotyped["trd_2"] = ungenotyped["trd_1"]
    persons_df = pd.concat([*frames, ungenotyped], ignore_index=True)
    # treated follows the TRD definition's gap (trd_spark.study.treated_column); here the
    # 91-day gap of trd_2 treats the same persons as the default gap
    for trd_def in TRD_DEFS:
        persons_df[treated_column(trd_def)] = persons_df["treated"]
    n = len(persons_df)
    persons_df["person_id"] = np.arange(1, n + 1, dtype=np.int64) * 7
    persons_df["non_mdd"] = ~persons_df["mdd_1"]
    # the analysis needs sex: only persons in no cohort lack it
    sex = rng.choice(np.array(["female", "male"], dtype=object), n, p=[0.56, 0.44])
    persons_df["sex"] = np.where(persons_df["cohort"].isna() & (rng.random(n) < 0.3), None, sex)
    persons_df["year_of_birth"] = rng.integers(1940, 2000, n)
    persons_df["age"] = 2023 - persons_df["year_of_birth"]
    persons_df["race"] = rng.choice(np.array(RACES, dtype=object), n, p=[0.6, 0.2, 0.1, 0.1])
    persons_df["ethnicity"] = rng.choice(
        np.array(ETHNICITIES, dtype=object), n, p=[0.8, 0.15, 0.05]
    )
    # the other definitions nest as the study's do (trd_spark.study.DEFINITION_IMPLICATIONS)
    persons_df["mdd_2"] = persons_df["mdd_1"] & (rng.random(n) < 0.8)
    persons_df["mdd_3"] = persons_df["mdd_1"]
    trmdd = persons_df["mdd_1"] & persons_df["treated"] & ~persons_df["trd_1"]
    persons_df["trd_3"] = persons_df["trd_1"] | (trmdd & (rng.random(n) < 0.3))
    persons_df["trd_4"] = persons_df["trd_1"] | (trmdd & (rng.random(n) < 0.15))
    persons_df["trd_5"] = persons_df["trd_4"] | (trmdd & (rng.random(n) < 0.15))
    persons_df["n_mdd_dates"] = np.where(persons_df["mdd_1"], rng.integers(1, 9, n), 0)
    persons_df["first_mdd_date"] = [dt.date(2015, 1, 1) if m else None for m in persons_df["mdd_1"]]
    persons_df["end_of_observation"] = dt.date(2023, 6, 30)
    persons_df["age_at_diagnosis"] = np.where(
        persons_df["mdd_1"], 2015 - persons_df["year_of_birth"], np.nan
    )
    return persons_df


def group_counts(persons_df: pd.DataFrame, trd_def: str, trmdd_def: str) -> dict[str, int]:
    """Sizes of the TRD, trMDD and non-MDD groups of one comparison among ``persons_df``."""
    flag = lambda c: persons_df[c].fillna(False).astype(bool)  # noqa: E731
    return {g: int(m.sum()) for g, m in group_masks(flag, trd_def, trmdd_def).items()}


def fake_associations(
    rng: np.random.Generator, traits: list[str], persons_df: pd.DataFrame
) -> pd.DataFrame:
    """Primary grid, the 15 definition pairs in discovery, and sex strata; cases and
    controls counted among each cohort's persons (the fake analysis sample)."""
    rows = []
    for cohort in COHORTS:
        members_df = persons_df[persons_df["cohort"] == cohort]
        for contrast in CONTRASTS:
            rows += _grid(rng, traits, members_df, cohort, contrast, "trd_1", "trmdd_1", "all")
    discovery_df = persons_df[persons_df["cohort"] == "wgs_european"]
    for trd_def, trmdd_def in COMBINATIONS[1:]:
        rows += _grid(
            rng, traits, discovery_df, "wgs_european", "TRD_vs_trMDD", trd_def, trmdd_def, "all"
        )
    for stratum in ("female", "male", "pgs_x_sex"):
        subset_df = (
            discovery_df if stratum == "pgs_x_sex" else discovery_df[discovery_df["sex"] == stratum]
        )
        rows += _grid(
            rng, traits, subset_df, "wgs_european", "TRD_vs_trMDD", "trd_1", "trmdd_1", stratum
        )
    assoc_df = pd.DataFrame(rows)
    # two separated fits in the small microarray TRD group: flagged, never drawn
    flagged = (assoc_df["cohort"] == "microarray") & (assoc_df["contrast"] == "TRD_vs_trMDD")
    flagged &= assoc_df["trait"].isin(FLAGGED_TRAITS)
    assoc_df.loc[flagged, ["beta", "converged", "significant"]] = [25.0, False, False]
    return assoc_df


def _grid(rng, traits, sample_df, cohort, contrast, trd_def, trmdd_def, stratum):
    sizes = group_counts(sample_df, trd_def, trmdd_def)
    cases, controls = (sizes[g] for g in contrast_groups(contrast))
    rows = []
    for i, trait in enumerate(traits):
        beta = rng.normal(0.0, 0.08) + (0.4 if i % 9 == 0 else 0.0)
        se = rng.uniform(0.03, 0.09)
        p = float(2 * _normal_sf(abs(beta) / se))
        rows.append(
            {
                "cohort": cohort,
                "contrast": contrast,
                "trd_def": trd_def,
                "trmdd_def": trmdd_def,
                "stratum": stratum,
                "trait": trait,
                "beta": beta,
                "se": se,
                "odds_ratio": np.exp(beta),
                "ci_low": np.exp(beta - 1.96 * se),
                "ci_high": np.exp(beta + 1.96 * se),
                "p": p,
                "n_cases": cases,
                "n_controls": controls,
                "converged": True,
                "significant": p < 1e-5,
            }
        )
    return rows


def _normal_sf(z: float) -> float:
    from math import erfc, sqrt

    return 0.5 * erfc(z / sqrt(2.0))


def fake_replication(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for contrast in CONTRASTS:
        for cohort in COHORTS[1:]:
            tau2_null = rng.uniform(0.002, 0.01)
            tau2 = tau2_null * rng.uniform(0.1, 0.9)
            rows.append(
                {
                    "contrast": contrast,
                    "cohort": cohort,
                    "reference_cohort": COHORTS[0],
                    "k": 61,
                    "tau2": tau2,
                    "tau2_null": tau2_null,
                    "r2": 100 * (tau2_null - tau2) / tau2_null,
                    "qe": rng.uniform(50, 90),
                    "qe_p": rng.uniform(0, 1),
                    "qm": rng.uniform(1, 30),
                    "qm_p": rng.uniform(0, 0.05),
                }
            )
    return pd.DataFrame(rows)


def with_slopes(rng: np.random.Generator, replication_df: pd.DataFrame) -> pd.DataFrame:
    """The logistic rows with the analysis name and a meta-regression line (slope with CI)."""
    slope = rng.uniform(0.3, 1.2, len(replication_df))
    se = rng.uniform(0.05, 0.2, len(replication_df))
    return replication_df.assign(
        analysis="logistic",
        intercept=rng.normal(0, 0.01, len(replication_df)),
        intercept_se=0.01,
        slope=slope,
        slope_se=se,
        slope_ci_low=slope - 1.959964 * se,
        slope_ci_high=slope + 1.959964 * se,
        slope_p=[2 * _normal_sf(b / s) for b, s in zip(slope, se, strict=True)],
    )


def with_survival_replication(
    replication_df: pd.DataFrame, survival_df: pd.DataFrame
) -> pd.DataFrame:
    """Add the Cox replication rows (eFigure 6) as the analyze stage computes them."""
    survival_rows = replicate_survival(
        survival_df, [("microarray", "wgs_european"), ("microarray", "wgs")]
    )
    return pd.concat([replication_df, survival_rows], ignore_index=True)


def fake_schoenfeld(rng: np.random.Generator, survival_df: pd.DataFrame) -> pd.DataFrame:
    """Scaled Schoenfeld residuals of the pooled set's Kaplan-Meier traits, one per death:
    the coefficient plus noise of variance deaths x SE^2 (as cox.zph scales them)."""
    rows = []
    for trait in KM_TRAITS:
        for term in ("pgs_20_80", "pgs_80_100", "pgs_per_sd"):
            model = survival_df[(survival_df["cohort"] == "wgs") & (survival_df["trait"] == trait)
                                & (survival_df["term"] == term)].iloc[0]  # fmt: skip
            deaths = int(model["n_events"])
            time = np.sort(rng.choice(np.arange(1, 2500), deaths, replace=False)).astype(float)
            residual = model["coef"] + rng.normal(0, np.sqrt(deaths) * model["se"], deaths)
            rows.append(pd.DataFrame({"cohort": "wgs", "trait": trait, "term": term,
                                      "time": time,
                                      "transformed_time": np.arange(deaths) / (deaths - 1),
                                      "residual": residual}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def fake_sensitivity(rng: np.random.Generator, persons_df: pd.DataFrame) -> pd.DataFrame:
    """Table 2: the discovery cohort's TRD and trMDD counts for each definition pair."""
    discovery_df = persons_df[persons_df["cohort"] == "wgs_european"]
    rows = []
    for trd_def, trmdd_def in COMBINATIONS:
        sizes = group_counts(discovery_df, trd_def, trmdd_def)
        rows.append(
            {
                "trd_def": trd_def,
                "trmdd_def": trmdd_def,
                "n_trmdd": sizes["trMDD"],
                "n_trd": sizes["TRD"],
                "meta_r2": 100.0
                if (trd_def, trmdd_def) == COMBINATIONS[0]
                else rng.uniform(40, 99),
                "n_significant": int(rng.integers(0, 8)),
                "overlap_pct": rng.uniform(0, 100),
            }
        )
    return pd.DataFrame(rows)


def fake_survival(rng: np.random.Generator, traits: list[str]) -> pd.DataFrame:
    rows = []
    for cohort, n, events in (
        ("wgs", 500, 90),
        ("wgs_european", 320, 60),
        ("wgs_diverse", 180, 30),
        ("microarray", 60, 14),
    ):
        for trait in traits:
            for term in ("pgs_20_80", "pgs_80_100", "pgs_per_sd"):
                log_hr, se = rng.normal(0, 0.15), rng.uniform(0.1, 0.3)
                rows.append(
                    {
                        "cohort": cohort,
                        "trait": trait,
                        "term": term,
                        "hr": np.exp(log_hr),
                        "ci_low": np.exp(log_hr - 1.96 * se),
                        "ci_high": np.exp(log_hr + 1.96 * se),
                        "p": float(2 * _normal_sf(abs(log_hr) / se)),
                        "n": n,
                        "n_events": events,
                        "zph_chisq": rng.uniform(0, 5),
                        "zph_p": rng.uniform(0, 1),
                        "coef": log_hr,
                        "se": se,
                        "status": "ok",
                    }
                )
    survival_df = pd.DataFrame(rows)
    # the GLOBAL cox.zph test of each model (drawn from the model's own PGS term statistic)
    survival_df["zph_global_chisq"] = survival_df["zph_chisq"] + 1.5
    survival_df["zph_global_p"] = survival_df["zph_p"] * 0.9
    return survival_df


def fake_km(rng: np.random.Generator) -> pd.DataFrame:
    """Kaplan-Meier curves from simulated times, shaped as the stats stage writes them.

    One row per distinct time, no row at time 0, CI missing where survival is 1;
    risk sets fall to 1.  The pooled ``wgs`` set is large, ``microarray`` tiny.
    """
    rows = []
    # strata of 20%, 60% and 20% of the Cox models' persons (fake_survival: 500 and 60)
    for cohort, scale in (("wgs", 1.0), ("microarray", 0.12)):
        for trait in KM_TRAITS:
            for s, stratum in enumerate(STRATA):
                n = round((300 if stratum == "pgs_20_80" else 100) * scale)
                rows += _km_curve(rng, n, 30 * s, cohort=cohort, trait=trait, stratum=stratum)
    return pd.DataFrame(rows)


def _km_curve(rng: np.random.Generator, n: int, shift: int, **keys: str) -> list[dict]:
    times = np.sort(rng.choice(np.arange(1, 2000), n, replace=False) + shift)
    events = rng.random(n) < 0.4
    surv, at_risk, rows = 1.0, n, []
    for t, e in zip(times, events, strict=True):
        if e:
            surv *= 1 - 1 / at_risk
        half = 1.96 * 0.02 * np.sqrt(n / at_risk)
        ci = (np.nan, np.nan) if surv == 1.0 else (max(0.0, surv - half), min(1.0, surv + half))
        rows.append(keys | {"time": float(t), "survival": surv, "ci_low": ci[0],
                            "ci_high": ci[1], "at_risk": at_risk})  # fmt: skip
        at_risk -= 1
    return rows


def fake_match_report(rng: np.random.Generator, traits: list[str]) -> pd.DataFrame:
    """One row per trait and platform, as the score stage writes it."""
    frames = []
    for platform, low in (("wgs", 0.85), ("array", 0.76)):
        n_file = rng.integers(800, 1200, len(traits))
        matched = (n_file * rng.uniform(low, 0.98, len(traits))).astype(int)
        frames.append(
            pd.DataFrame(
                {
                    "platform": platform,
                    "trait": traits,
                    "n_in_file": n_file,
                    "n_matched": matched,
                    "n_flipped": matched // 2,
                    "n_ambiguous": rng.integers(0, 15, len(traits)),
                    "n_missing": n_file - matched,
                    "overlap": matched / n_file,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def fake_attrition() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "step": [
                "all persons",
                "unparseable date",
                "unknown person",
                "missing sex",
                "missing PCs",
            ],
            "n_persons": [1000, 1000, 998, 985, 980],
            "n_rows_dropped": [0, 7, 2, 13, 5],
            "reason": [
                "",
                "condition_start_date not a date",
                "person_id not in person",
                "no sex",
                "not in ancestry file",
            ],
        }
    )


def fake_analysis_attrition() -> pd.DataFrame:
    """Per cohort: the start, then exclusions (persons left, persons dropped); those left
    are the cohort's persons in the fake persons table."""
    rows = []
    for cohort, sizes in GROUP_SIZES.items():
        n = sum(sizes) + EXCLUDED
        for step, dropped, reason in (
            ("cohort", 0, "persons in the cohort"),
            ("missing_sex", 13, "sex missing"),
            ("missing_pcs", EXCLUDED - 13, "not in the ancestry file"),
            ("missing_age", 0, "year of birth missing"),
        ):
            n -= dropped
            rows.append({"cohort": cohort, "step": step, "n_persons": n,
                         "n_rows_dropped": dropped, "reason": reason})  # fmt: skip
    return pd.DataFrame(rows)


def fake_group_sizes(persons_df: pd.DataFrame) -> pd.DataFrame:
    """Group sizes per cohort (``(none)`` for persons in none, ``all`` for everyone) and
    definition pair, as the phenotype stage writes them."""
    cohorts = persons_df["cohort"].fillna("(none)")
    rows = []
    for cohort in [*COHORTS, "(none)", "all"]:
        members_df = persons_df if cohort == "all" else persons_df[cohorts == cohort]
        for trd_def, trmdd_def in COMBINATIONS:
            sizes = group_counts(members_df, trd_def, trmdd_def)
            rows.append({"cohort": cohort, "trd_def": trd_def, "trmdd_def": trmdd_def,
                         "n_trd": sizes["TRD"], "n_trmdd": sizes["trMDD"],
                         "n_non_mdd": sizes["nonMDD"]})  # fmt: skip
    return pd.DataFrame(rows)
