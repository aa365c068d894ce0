"""The numpy core of the scorer against plain, loop-based computations."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
from scipy import stats

from tests.helpers.plink_bed import pack_bed_row, write_bed
from trd_spark.genomics import scoring


def test_lookup_decodes_hand_packed_bytes():
    rng = np.random.default_rng(1)
    values = [
        None if r < 0.1 else int(d)
        for r, d in zip(rng.random(37), rng.integers(0, 3, 37), strict=True)
    ]
    raw = np.frombuffer(pack_bed_row(values), dtype=np.uint8)
    decoded = scoring.bed_lookup_table()[raw].reshape(-1)[: len(values)]
    for got, want in zip(decoded, values, strict=True):
        assert (np.isnan(got) and want is None) or got == want


def test_impute_and_multiply_equals_a_loop():
    rng = np.random.default_rng(2)
    dosages = rng.integers(0, 3, size=(40, 25)).astype(float)
    dosages[rng.random(dosages.shape) < 0.15] = np.nan
    weights = rng.normal(size=(40, 3))
    columns = np.array([0, 3, 4, 7, 9, 10, 11, 20, 24])
    got = scoring.impute_and_multiply(dosages, weights, columns)
    want = np.zeros((len(columns), 3))
    for v in range(40):
        called = [dosages[v, c] for c in columns if not np.isnan(dosages[v, c])]
        mean = sum(called) / len(called)
        for i, c in enumerate(columns):
            d = mean if np.isnan(dosages[v, c]) else dosages[v, c]
            want[i] += d * weights[v]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_assemble_scores_adds_offsets_and_standardises():
    rng = np.random.default_rng(3)
    sums = rng.normal(size=(30, 2))
    table = scoring.assemble_scores(
        np.arange(30) + 1000, sums, np.array([1.5, -2.0]), np.array([10, 12]), ["a", "b"]
    )
    assert table["person_id"].dtype == np.int64
    np.testing.assert_allclose(table["a"], sums[:, 0] + 1.5)
    np.testing.assert_allclose(table["b_z"], stats.zscore(sums[:, 1] - 2.0, ddof=1))
    assert (table["a_n"] == 10).all() and (table["b_n"] == 12).all()
    assert list(table.columns) == ["person_id", "a", "a_n", "a_z", "b", "b_n", "b_z"]
    assert isinstance(table, pd.DataFrame)


def test_task_side_modules_do_not_import_hail():
    # Spark's Python workers import these; Hail would cost seconds per worker
    code = (
        "import sys; import trd_spark.genomics.pgs, trd_spark.genomics.scoring, "
        "trd_spark.genomics.qcstats, trd_spark.genomics.pcs; "
        "sys.exit('hail' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_read_sites_local_and_remote_agree(tmp_path):
    rng = np.random.default_rng(4)
    rows = [[int(d) for d in rng.integers(0, 3, 7)] for _ in range(60)]
    write_bed(tmp_path / "c.bed", rows)
    cache = scoring.DosageCache(str(tmp_path / "c"), n_samples=7, n_variants=60)
    remote = scoring.DosageCache("file://" + str(tmp_path / "c"), n_samples=7, n_variants=60)
    wanted = np.array([0, 1, 5, 40, 41, 59])  # runs and a gap longer than one read
    local_bytes = scoring.read_sites(cache, wanted)
    np.testing.assert_array_equal(local_bytes, scoring.read_sites(remote, wanted))
    decoded = scoring.bed_lookup_table()[local_bytes].reshape(len(wanted), -1)[:, :7]
    np.testing.assert_array_equal(decoded, np.array([rows[i] for i in wanted], dtype=float))


def test_score_range_equals_dense_product(tmp_path):
    rng = np.random.default_rng(5)
    n, m = 9, 30
    dos = rng.integers(0, 3, size=(m, n)).astype(float)
    dos[rng.random(dos.shape) < 0.1] = np.nan
    write_bed(tmp_path / "c.bed", [[None if np.isnan(d) else int(d) for d in row] for row in dos])
    cache = scoring.DosageCache(str(tmp_path / "c"), n_samples=n, n_variants=m)
    var_idx = np.array([3, 3, 7, 20, 29, 11])
    trait_idx = np.array([0, 1, 1, 0, 1, 0])
    weight = rng.normal(size=6)
    sites, matrix = scoring.weight_block(var_idx, trait_idx, weight, 2)
    cohorts = {"a": slice(0, 4), "b": np.array([4, 6, 8, 5, 7])}
    got = scoring.score_range(cache, sites, matrix, cohorts, block=2)
    for name, cols in cohorts.items():
        block = dos[:, cols]
        filled = np.where(np.isnan(block), np.nanmean(block, axis=1, keepdims=True), block)
        dense = np.zeros((m, 2))
        dense[var_idx, trait_idx] = weight
        np.testing.assert_allclose(got[name], filled.T @ dense, rtol=1e-12)


def test_cohort_columns_and_site_ranges():
    assert scoring.cohort_columns(np.array([3, 4, 5])) == slice(3, 6)
    assert isinstance(scoring.cohort_columns(np.array([3, 5])), np.ndarray)
    assert scoring.n_columns(slice(3, 6)) == 3
    ranges = scoring.site_ranges(10, 3)
    assert ranges == [(0, 4), (4, 8), (8, 10)]
