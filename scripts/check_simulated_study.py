"""Checks a pipeline run on a simulated study against what the simulator planted.

    .venv/bin/python scripts/check_simulated_study.py out/demo

Run after ``trd-spark demo`` (or ``simulate`` + ``run``); it reads the study's config.yaml,
the run's outputs and the study's ``truth/`` folder and prints one line per check, then
exits 1 if any failed. The checks are the realities of a real biobank the simulator plants
(docs/the-study.md, docs/architecture.md "Simulated study"):

* every configured cohort is analysed, and no cohort member lacks PCs;
* on every platform, each trait at or above the platform's overlap floor is scored;
* the trMDD + TRD pools differ across TRD definitions (treated follows the definition);
* nobody without an EHR record is a control;
* every person's statuses equal the simulator's truth;
* the pooled WGS Cox HR per SD of the trait planted with an ancestry mean shift and no
  effect is within 2 SE of 1 with the default (within-cohort) scaling, and is shown beside
  the same model with the PGS scaled over the pooled set (the bias the default avoids);
  both fits are checked against statsmodels' PHReg.

Not shareable: it prints estimates of a synthetic study, no count of persons.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from trd_spark.config import Config, load_config
from trd_spark.stats.progression import SurvivalSet, build_survival_set, run_progression
from trd_spark.stats.stage import build_tables, platform_groups, read_stage_table
from trd_spark.study import (
    COMBINATIONS,
    STATUS_COLUMNS,
    TRD_DEFS,
    Layout,
    pooled_set_name,
    read_trait_catalog,
    treated_column,
)

RESULTS: list[tuple[bool, str]] = []


def check(ok: bool, text: str) -> None:
    """Record and print one check."""
    RESULTS.append((bool(ok), text))
    print(f"{'ok  ' if ok else 'FAIL'} {text}", flush=True)


def read(config: Config, relative: str) -> pd.DataFrame:
    """One output table of the run."""
    return read_stage_table(config.output_dir, relative, "an earlier")


def check_cohorts(config: Config) -> None:
    """Every cohort analysed; every member with PCs."""
    associations = read(config, Layout.ASSOCIATIONS)
    analysed = set(associations["cohort"])
    check(set(config.cohorts) <= analysed, f"cohorts analysed: {sorted(analysed)}")
    cohorts = read(config, Layout.COHORTS)
    members = cohorts[cohorts["cohort"].isin(list(config.cohorts))]
    pcs = [f"pc{i}" for i in range(1, config.analysis.n_pcs + 1)]
    lacking = int(members[pcs].isna().any(axis=1).sum())
    sources = sorted(members.get("pcs_source", pd.Series(dtype=str)).dropna().unique())
    check(lacking == 0, f"cohort members without PCs: {lacking}; PC sources {sources}")


def check_floors(config: Config) -> None:
    """Each trait at or above its platform's floor is scored there."""
    report = read(config, Layout.MATCH_REPORT)
    for platform, rows in report.groupby("platform"):
        above = rows["overlap"] >= config.platform_min_overlap(str(platform))
        wrong = int((above != rows["scored"].astype(bool)).sum())
        check(
            wrong == 0,
            f"{platform}: {int(above.sum())} of {len(rows)} traits at or above the floor "
            f"{config.platform_min_overlap(str(platform)):g} (overlap {rows['overlap'].min():.2f}"
            f"-{rows['overlap'].max():.2f}), all scored",
        )


def check_statuses(config: Config, study: Path) -> None:
    """Pools, controls and every status against the truth."""
    persons = read(config, Layout.PERSONS).set_index("person_id")
    pools = {
        trd: int((persons["mdd_1"] & persons[treated_column(trd)].astype(bool)).sum())
        for trd in TRD_DEFS
    }
    check(len(set(pools.values())) > 1, "trMDD + TRD pools differ across TRD definitions")
    controls_without_ehr = int((persons["non_mdd"] & ~persons["has_ehr"].astype(bool)).sum())
    check(controls_without_ehr == 0, f"controls without EHR: {controls_without_ehr}")
    truth = pd.read_parquet(study / "truth" / "persons.parquet").set_index("person_id")
    columns = [c for c in STATUS_COLUMNS if c in truth.columns and c in persons.columns]
    shared = persons.index.intersection(truth.index)
    differing = (
        persons.loc[shared, columns].astype(bool) != truth.loc[shared, columns].astype(bool)
    ).any(axis=1)
    check(
        len(shared) == len(truth) and not differing.any(),
        f"statuses equal to the truth for every person ({len(columns)} columns; persons "
        f"differing: {int(differing.sum())}; {len(COMBINATIONS)} comparisons)",
    )


def statsmodels_hr(set_df: pd.DataFrame, trait: str, covariates: list[str], within: bool) -> float:
    """The log HR per SD by statsmodels' PHReg, stratified by cohort (Breslow ties)."""
    from statsmodels.duration.hazard_regression import PHReg

    score = set_df[trait].astype(float)
    groups = set_df["cohort"] if within else pd.Series(0, index=set_df.index)
    z = score.groupby(groups).transform(lambda s: (s - s.mean()) / s.std(ddof=1))
    exog = np.column_stack([z.to_numpy(), set_df[covariates].to_numpy(float)])
    fit = PHReg(
        set_df["time_days"].to_numpy(float), exog, status=set_df["event"].to_numpy(int),
        strata=set_df["cohort"].to_numpy(), ties="efron",
    ).fit()  # fmt: skip
    return float(fit.params[0])


def statsmodels_naive(set_df: pd.DataFrame, trait: str) -> tuple[float, float]:
    """(log HR, SE) per SD of a Cox model that ignores ancestry: one baseline hazard for the
    pooled set, the PGS scaled over it, no PCs (what the pipeline's defaults avoid)."""
    from statsmodels.duration.hazard_regression import PHReg

    score = set_df[trait].astype(float)
    z = ((score - score.mean()) / score.std(ddof=1)).to_numpy()[:, None]
    exog = np.column_stack([z, set_df[["age_at_diagnosis", "sex"]].to_numpy(float)])
    fit = PHReg(
        set_df["time_days"].to_numpy(float), exog, status=set_df["event"].to_numpy(int),
        ties="efron",
    ).fit()  # fmt: skip
    return float(fit.params[0]), float(fit.bse[0])


def check_ancestry_shift(config: Config, study: Path) -> None:
    """The pooled WGS HR of the planted ancestry-shift trait: default near 1, raw biased."""
    effects = pd.read_csv(study / "truth" / "effects.tsv", sep="\t")
    planted = effects.loc[effects["ancestry_shift_planted"].astype(bool), "trait"].tolist()
    traits = read_trait_catalog(config.weights.traits).names
    tables, _ = build_tables(config, traits)
    tte_df = read(config, Layout.TIME_TO_EVENT)
    covariates = [
        "age_at_diagnosis",
        "sex",
        *[f"pc{i}" for i in range(1, config.analysis.n_pcs + 1)],
    ]
    for platform, members in platform_groups(config, list(tables)).items():
        pooled = pd.concat([build_survival_set(tte_df, tables[m])[0] for m in members])
        pooled = pooled.reset_index(drop=True)
        for trait in planted:
            for within in (True, False):
                survival_set = SurvivalSet(
                    pooled_set_name(platform), pooled, [trait], pooled=True, within_cohort=within
                )
                rows = run_progression([survival_set], config.analysis.n_pcs).survival_df
                row = rows[rows["term"] == "pgs_per_sd"].iloc[0]
                z = row["coef"] / row["se"]
                reference = statsmodels_hr(pooled, trait, covariates, within)
                scale = "within each cohort" if within else "over the pooled set"
                text = (
                    f"{pooled_set_name(platform)} Cox, {trait} (planted shift, no effect), PGS "
                    f"scaled {scale}: HR {row['hr']:.3f} "
                    f"({row['ci_low']:.3f}-{row['ci_high']:.3f}), {abs(z):.1f} SE from 1; "
                    "statsmodels log HR differs by "
                    f"{abs(row['coef'] - reference):.1e}"
                )
                agrees = abs(row["coef"] - reference) < 1e-6
                check(agrees and (abs(z) < 2 if within else True), text)
                top = rows[rows["term"] == "pgs_80_100"].iloc[0]
                print(f"     top 20% vs bottom 20% (cut {scale}): HR {top['hr']:.3f} "
                      f"({top['ci_low']:.3f}-{top['ci_high']:.3f})")  # fmt: skip
            log_hr, se = statsmodels_naive(pooled, trait)
            print(f"     without the cohort stratum and the PCs, PGS over the pooled set: "
                  f"HR {np.exp(log_hr):.3f}, {abs(log_hr / se):.1f} SE from 1")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", type=Path, help="a simulated study with a finished run")
    args = parser.parse_args()
    config = load_config(args.study / "config.yaml")
    check_cohorts(config)
    check_floors(config)
    check_statuses(config, args.study)
    check_ancestry_shift(config, args.study)
    failed = [text for ok, text in RESULTS if not ok]
    print(f"{len(RESULTS) - len(failed)} of {len(RESULTS)} checks hold")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
