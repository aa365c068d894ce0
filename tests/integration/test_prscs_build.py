"""The LD panel builder (Hail) against numpy correlations of the same genotypes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trd_spark.prscs import ldref
from trd_spark.simulate.ldref import LDModel, draw_haplotypes

pytestmark = pytest.mark.integration


def test_built_panel_holds_numpy_correlations(spark, tmp_path: Path) -> None:
    import hail as hl

    from trd_spark.prscs.build import build_ld_panel

    rng = np.random.default_rng(8)
    n_snps, n_persons = 40, 150
    freq = rng.uniform(0.1, 0.6, n_snps)
    freq[7] = 0.003  # left out by the MAF filter
    model = LDModel(
        blocks=[np.arange(n_snps)], rho=rng.uniform(0.7, 0.95, n_snps),
        sign=np.where(rng.random(n_snps) < 0.5, -1.0, 1.0),
        threshold=__import__("scipy.stats").stats.norm.ppf(freq),
    )  # fmt: skip
    haplotypes = draw_haplotypes(rng, model, model.blocks[0], 2 * n_persons)
    dosage = (haplotypes[0::2] + haplotypes[1::2]).astype(float)  # persons x SNPs
    dosage[rng.random(dosage.shape) < 0.02] = np.nan  # a few missing calls
    contigs = ["chr1"] * 25 + ["chr2"] * 15
    positions = [1000 * (i + 1) for i in range(25)] + [5000 * (i + 1) for i in range(15)]
    rsids = [f"rs{i}" if i != 3 else "." for i in range(n_snps)]
    # BED blocks (0-based, end exclusive: 1-based positions 1-12500, 12501-30000, 1-60000);
    # the last chr2 SNPs lie outside every block
    bed = tmp_path / "blocks.bed"
    bed.write_text("chr1\t0\t12500\nchr1\t12500\t30000\nchr2\t0\t60000\n")
    mt = hl.utils.range_matrix_table(n_snps, n_persons)
    calls = hl.literal([[None if np.isnan(v) else int(v) for v in row] for row in dosage.T])
    mt = mt.annotate_rows(
        locus=hl.locus(
            hl.literal(contigs)[mt.row_idx], hl.literal(positions)[mt.row_idx], "GRCh38"
        ),
        alleles=hl.literal([["A", "G"]] * n_snps)[mt.row_idx],
        rsid=hl.literal(rsids)[mt.row_idx],
    )
    n_alt = calls[mt.row_idx][mt.col_idx]
    mt = mt.annotate_entries(
        GT=hl.case().when(n_alt == 0, hl.call(0, 0)).when(n_alt == 1, hl.call(0, 1))
        .when(n_alt == 2, hl.call(1, 1)).or_missing()
    )  # fmt: skip
    mt = mt.key_rows_by("locus", "alleles")
    mt = mt.key_cols_by(s=hl.str(mt.col_idx))
    panel = build_ld_panel(mt, str(bed), str(tmp_path / "panel"), "own", "GRCh38", min_maf=0.01)

    snpinfo = ldref.read_snpinfo(panel.snpinfo)
    in_blocks = [i for i in range(n_snps) if i != 7 and (i < 25 or positions[i] <= 60000)]
    assert list(snpinfo["snp"]) == [rsids[i] if i != 3 else "1:4000:A:G" for i in in_blocks]
    alt_freq = np.nanmean(dosage, axis=0) / 2
    np.testing.assert_allclose(
        snpinfo["maf"], np.minimum(alt_freq, 1 - alt_freq)[in_blocks], rtol=1e-5
    )
    assert list(panel.chromosomes) == ["1", "2"]
    expected_blocks = [[i for i in in_blocks if i < 12], [i for i in in_blocks if 12 <= i < 25],
                       [i for i in in_blocks if i >= 25]]  # fmt: skip
    blocks = [
        b for c in ("1", "2") for b in ldref.read_blocks(panel.chromosomes[c], set(snpinfo["snp"]))
    ]
    assert [len(b.snps) for b in blocks] == [len(e) for e in expected_blocks]
    imputed = np.where(np.isnan(dosage), np.nanmean(dosage, axis=0), dosage)
    for block, rows in zip(blocks, expected_blocks, strict=True):
        np.testing.assert_allclose(
            block.ld, np.corrcoef(imputed[:, rows], rowvar=False), atol=1e-10
        )
    assert pd.Series([b.ld.shape[0] for b in blocks]).sum() == len(snpinfo)
