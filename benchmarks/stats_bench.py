"""Benchmark: the study's logistic grid and survival step, batched vs one model at a time.

Builds demo-sized per-person inputs (tests.helpers.stats_inputs: 15,000 discovery,
8,000 + 6,000 replication persons, 61 traits), the analysis tables, and

  * logistic: every design of the grid; times the batched fitter over the whole grid
    (run_association_grid) and statsmodels ``Logit(y, X).fit(method="newton")`` for every
    model of the same grid; prints both times, the ratio (target >= 20x) and the largest
    relative difference of beta and SE of the reported term;
  * cox: the survival sets of the analyze stage (each cohort, and the two WGS cohorts
    pooled with cohort as a Cox stratum); times the whole survival step as the stage runs
    it (run_progression: both Cox models of every trait, cox.zph, Kaplan-Meier curves and
    the Schoenfeld residuals of two traits) and a loop of lifelines ``CoxPHFitter`` over
    the same models (the Cox fits alone); prints both times, the ratio (target >= 10x)
    and the largest relative difference of the PGS coefficients and SEs.

    .venv/bin/python benchmarks/stats_bench.py [--scale 1.0] [--seed 1] [--parts logistic,cox]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's tests/

from tests.helpers.stats_inputs import COHORT_SIZES, write_synthetic_inputs
from trd_spark.resources import conf_path
from trd_spark.stats.analysis import AnalysisTable, build_analysis_table
from trd_spark.stats.grid import design_data, enumerate_designs, run_association_grid
from trd_spark.stats.progression import SurvivalSet, build_survival_set, run_progression
from trd_spark.stats.survival import pgs_strata
from trd_spark.study import SURVIVAL_TERMS, read_trait_catalog

KEYS = ["cohort", "contrast", "trd_def", "trmdd_def", "stratum", "trait"]


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the demo cohort sizes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--parts", default="logistic,cox", help="which benchmarks to run: logistic and/or cox"
    )
    parser.add_argument(
        "--loops",
        default="default,single",
        help="statsmodels loops to time: 'default' (BLAS threads as installed, what a user "
        "gets) and/or 'single' (BLAS limited to one thread, as the batched grid runs)",
    )
    return parser


@contextlib.contextmanager
def blas_threads(mode: str) -> Iterator[None]:
    """BLAS as installed ('default') or limited to one thread ('single')."""
    if mode == "default":
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def build_tables(
    folder: str, traits: list[str], scale: float, seed: int
) -> dict[str, AnalysisTable]:
    sizes = {c: int(n * scale) for c, n in COHORT_SIZES.items()}
    write_synthetic_inputs(folder, traits, sizes=sizes, seed=seed)
    cohorts_df = pd.read_parquet(f"{folder}/qc/cohorts.parquet")
    persons_df = pd.read_parquet(f"{folder}/phenotypes/persons.parquet")
    return {
        c: build_analysis_table(
            c, cohorts_df, pd.read_parquet(f"{folder}/pgs/{c}.parquet"), persons_df, traits
        )
        for c in sizes
    }


def statsmodels_loop(tables: dict[str, AnalysisTable], designs: list) -> pd.DataFrame:
    """Every model of the grid, one statsmodels Logit at a time."""
    rows = []
    for design in designs:
        data = design_data(tables[design.cohort], design)
        for k, trait_index in enumerate(data.fitted):
            X = np.column_stack([data.specific[:, k, :], data.covariates])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = sm.Logit(data.y, X).fit(disp=0, method="newton", maxiter=50)
            key = (design.cohort, design.contrast, design.trd_def, design.trmdd_def)
            trait = tables[design.cohort].traits[trait_index]
            rows.append((*key, design.stratum, trait, fit.params[data.term], fit.bse[data.term]))
    return pd.DataFrame(rows, columns=[*KEYS, "sm_beta", "sm_se"])


def main(args: argparse.Namespace) -> None:
    traits = read_trait_catalog(str(conf_path("traits.tsv"))).names
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    with tempfile.TemporaryDirectory() as folder:
        tables = build_tables(folder, traits, args.scale, args.seed)
        tte_df = pd.read_parquet(f"{folder}/phenotypes/time_to_event.parquet")
    persons = {c: len(t.data_df) for c, t in tables.items()}
    print(f"analysis tables: {persons}; {len(traits)} traits")
    if "logistic" in parts:
        logistic_benchmark(tables, [m.strip() for m in args.loops.split(",") if m.strip()])
    if "cox" in parts:
        cox_benchmark(tables, tte_df)


def logistic_benchmark(tables: dict[str, AnalysisTable], loops: list[str]) -> None:
    """The logistic grid, batched against statsmodels loops."""
    designs = enumerate_designs(list(tables), "wgs_european")
    print(f"logistic grid: {len(designs)} designs")
    started = time.perf_counter()
    grid = run_association_grid(tables, designs)
    batched = time.perf_counter() - started
    print(f"batched IRLS grid: {len(grid)} models in {batched:.2f} s")
    for mode in loops:
        started = time.perf_counter()
        with blas_threads(mode):
            loop = statsmodels_loop(tables, designs)
        looped = time.perf_counter() - started
        print(f"statsmodels Logit loop, BLAS {mode}: {len(loop)} models in {looped:.2f} s")
        report_agreement(grid, loop)
        print(f"speed-up vs loop with BLAS {mode}: {looped / batched:.1f}x (target >= 20x)")


def survival_sets(tables: dict[str, AnalysisTable], tte_df: pd.DataFrame) -> list[SurvivalSet]:
    """The analyze stage's survival sets: each cohort, and the WGS cohorts pooled."""
    frames = {c: build_survival_set(tte_df, t)[0] for c, t in tables.items()}
    sets = [SurvivalSet(c, frames[c], t.traits) for c, t in tables.items()]
    wgs = [c for c in tables if c.startswith("wgs")]
    shared = [t for t in tables[wgs[0]].traits if all(t in tables[c].traits for c in wgs)]
    pooled_df = pd.concat([frames[c] for c in wgs], ignore_index=True)
    sets.append(SurvivalSet("wgs", pooled_df, shared, pooled=True, within_cohort=True))
    return sets


def cox_benchmark(tables: dict[str, AnalysisTable], tte_df: pd.DataFrame) -> None:
    """The survival step, batched, against a lifelines CoxPHFitter loop over its models."""
    sets = survival_sets(tables, tte_df)
    sizes = {s.name: len(s.data_df) for s in sets}
    print(f"survival sets: {sizes}")
    started = time.perf_counter()
    results = run_progression(sets, schoenfeld_traits=["educational_attainment", "insomnia"])
    batched = time.perf_counter() - started
    survival_df = results.survival_df
    n_models = len(survival_df.drop_duplicates(["cohort", "trait", "term"])) * 2 // 3
    print(
        f"batched survival step: {n_models} Cox models with cox.zph, "
        f"{len(results.km_df)} KM rows, {len(results.schoenfeld_df)} Schoenfeld rows "
        f"in {batched:.2f} s"
    )
    started = time.perf_counter()
    loop_df = lifelines_loop(sets)
    looped = time.perf_counter() - started
    print(
        f"lifelines CoxPHFitter loop (fits only): {len(loop_df) * 2 // 3} models in {looped:.2f} s"
    )
    merged = survival_df.merge(loop_df, on=["cohort", "trait", "term"])
    ok = merged[merged.status == "ok"]
    abs_coef = np.max(np.abs(ok.coef - ok.ll_coef))
    rel_coef = np.max(np.abs(ok.coef - ok.ll_coef) / np.abs(ok.ll_coef))
    in_se = np.max(np.abs(ok.coef - ok.ll_coef) / ok.ll_se)
    rel_se = np.max(np.abs(ok.se - ok.ll_se) / np.abs(ok.ll_se))
    print(f"  terms compared: {len(ok)} (flagged by the batched fitter: {len(merged) - len(ok)})")
    print(
        f"  max difference: coef {abs_coef:.2e} absolute, {in_se:.2e} SE, {rel_coef:.2e} "
        f"relative (largest for coefficients near 0); se {rel_se:.2e} relative"
    )
    print(f"speed-up vs lifelines loop: {looped / batched:.1f}x (target >= 10x)")


def lifelines_loop(sets: list[SurvivalSet], n_pcs: int = 16) -> pd.DataFrame:
    """Both Cox models of every trait of every set, one lifelines CoxPHFitter at a time.

    The PGS strata and per-SD scaling are rebuilt here from their definition (numpy
    type-7 quantiles within each cohort of a pooled set), independently of the stage."""
    from lifelines import CoxPHFitter

    covariates = ["age_at_diagnosis", "sex", *[f"pc{i}" for i in range(1, n_pcs + 1)]]
    rows = []
    for survival_set in sets:
        set_df = survival_set.data_df.reset_index(drop=True)
        kept = [c for c in covariates if set_df[c].std() > 0]
        within = set_df.cohort if survival_set.within_cohort else pd.Series(0, index=set_df.index)
        for trait in survival_set.traits:
            values = set_df[trait]
            groups = values.groupby(within).transform(
                lambda v: pd.Series(pgs_strata(v.to_numpy()), v.index)
            )
            per_sd = values.groupby(within).transform(lambda v: (v - v.mean()) / v.std(ddof=1))
            frame = set_df[["time_days", "event", *kept]].assign(
                pgs_20_80=(groups == 1).astype(float),
                pgs_80_100=(groups == 2).astype(float),
                pgs_per_sd=per_sd,
            )
            if survival_set.pooled:
                frame["cohort"] = set_df.cohort
            for terms in (["pgs_20_80", "pgs_80_100"], ["pgs_per_sd"]):
                other = [t for t in SURVIVAL_TERMS if t not in terms]
                fitter = CoxPHFitter().fit(
                    frame.drop(columns=other), duration_col="time_days", event_col="event",
                    strata=["cohort"] if survival_set.pooled else None,
                    fit_options={"precision": 1e-10, "max_steps": 500},
                )  # fmt: skip
                summary = fitter.summary
                rows += [(survival_set.name, trait, term, summary.loc[term, "coef"],
                          summary.loc[term, "se(coef)"]) for term in terms]  # fmt: skip
    return pd.DataFrame(rows, columns=["cohort", "trait", "term", "ll_coef", "ll_se"])


def report_agreement(grid: pd.DataFrame, loop: pd.DataFrame) -> None:
    """Largest relative difference of beta and SE over models both fitted."""
    merged = grid.merge(loop, on=KEYS)
    ok = merged[merged.converged]
    rel_beta = np.max(np.abs(ok.beta - ok.sm_beta) / np.abs(ok.sm_beta))
    rel_se = np.max(np.abs(ok.se - ok.sm_se) / np.abs(ok.sm_se))
    flagged = int((~merged.converged).sum())
    print(f"  models compared: {len(ok)} (flagged by the batched fitter: {flagged})")
    print(f"  max relative difference: beta {rel_beta:.2e}, se {rel_se:.2e} (target <= 1e-6)")


if __name__ == "__main__":
    main(get_parser().parse_args())
