"""Benchmark: the study's logistic grid, batched IRLS vs a loop of statsmodels Logit.

Builds demo-sized per-person inputs (tests.helpers.stats_inputs: 15,000 discovery,
8,000 + 6,000 replication persons, 61 traits), the analysis tables, and every
design of the grid; then, in one run, times

  * the batched fitter over the whole grid (run_association_grid), and
  * statsmodels ``Logit(y, X).fit(method="newton")`` for every model of the same grid,

and prints both times, the ratio (target >= 20x) and the largest relative difference
of beta and SE of the reported term.

    .venv/bin/python benchmarks/stats_bench.py [--scale 1.0] [--seed 1]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd
import statsmodels.api as sm

from tests.helpers.stats_inputs import COHORT_SIZES, write_synthetic_inputs
from trd_spark.resources import conf_path
from trd_spark.stats.analysis import AnalysisTable, build_analysis_table
from trd_spark.stats.grid import design_data, enumerate_designs, run_association_grid
from trd_spark.study import read_trait_catalog

KEYS = ["cohort", "contrast", "trd_def", "trmdd_def", "stratum", "trait"]


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the demo cohort sizes")
    parser.add_argument("--seed", type=int, default=1)
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
    with tempfile.TemporaryDirectory() as folder:
        tables = build_tables(folder, traits, args.scale, args.seed)
    designs = enumerate_designs(list(tables), "wgs_european")
    persons = {c: len(t.data_df) for c, t in tables.items()}
    print(f"analysis tables: {persons}; {len(designs)} designs x {len(traits)} traits")
    started = time.perf_counter()
    grid = run_association_grid(tables, designs)
    batched = time.perf_counter() - started
    print(f"batched IRLS grid: {len(grid)} models in {batched:.2f} s")
    for mode in [m.strip() for m in args.loops.split(",") if m.strip()]:
        started = time.perf_counter()
        with blas_threads(mode):
            loop = statsmodels_loop(tables, designs)
        looped = time.perf_counter() - started
        print(f"statsmodels Logit loop, BLAS {mode}: {len(loop)} models in {looped:.2f} s")
        report_agreement(grid, loop)
        print(f"speed-up vs loop with BLAS {mode}: {looped / batched:.1f}x (target >= 20x)")


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
