"""The numpy core of the scorer against plain, loop-based computations."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
from scipy import stats

from trd_spark.genomics import scoring


def pack_bed_row(alt_dosages: list[int | None]) -> bytes:
    """PLINK 1 .bed packing written out by hand: A1 = ALT, 00 hom A1, 01 missing, 10 het, 11 hom A2."""
    code = {2: 0b00, None: 0b01, 1: 0b10, 0: 0b11}
    padded = list(alt_dosages) + [0] * (-len(alt_dosages) % 4)
    out = bytearray()
    for i in range(0, len(padded), 4):
        byte = 0
        for j in range(4):
            byte |= code[padded[i + j]] << (2 * j)
        out.append(byte)
    return bytes(out)


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
        "import sys; import trd_spark.genomics.pgs, trd_spark.genomics.scoring; "
        "sys.exit('hail' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
