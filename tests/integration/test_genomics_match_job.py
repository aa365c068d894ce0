"""The match job (Spark tasks parsing and matching weight files) against the numpy matcher."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trd_spark.errors import InputError

pytestmark = pytest.mark.integration

SITES = pd.DataFrame(
    {
        "contig": "chr1", "chrom": "1", "position": [100, 200, 300, 400, 500],
        "ref": ["A", "C", "A", "G", "T"], "alt": ["G", "T", "C", "A", "C"],
        "rsid": ["rs1", "rs2", None, "rs4", "rs5"], "var_idx": [0, 1, 2, None, 3],
    }
)  # fmt: skip
# same positions and alleles for a and b (b reuses a's match plan); c differs
ROWS = {
    "a": [("1", "rs1", 100, "G", "A", 0.1), ("1", "rs2", 200, "C", "T", 0.2),
          ("1", ".", 300, "T", "G", 0.3), ("1", "rs5", 500, "C", "T", 0.5)],
    "b": [("1", "rs1", 100, "G", "A", -1.0), ("1", "rs2", 200, "C", "T", 2.0),
          ("1", ".", 300, "T", "G", -3.0), ("1", "rs5", 500, "C", "T", 4.0)],
    "c": [("1", "rs1", 100, "A", "G", 7.0), ("1", "rs4", 400, "A", "G", 9.0)],
}  # fmt: skip


def write_inputs(tmp_path, rows=ROWS):
    variants = tmp_path / "variants.parquet"
    variants.mkdir()
    SITES.astype({"var_idx": "Int64"}).to_parquet(variants / "part-0.parquet", index=False)
    weights = tmp_path / "weights"
    weights.mkdir()
    for trait, lines in rows.items():
        text = "".join("\t".join(str(v) for v in line) + "\n" for line in lines)
        (weights / f"{trait}_pst_eff_a1_b0.5_phiauto_chr1.txt").write_text(text)
    return str(variants), weights


def test_job_equals_the_numpy_matcher(spark, tmp_path):
    from trd_spark.genomics import pgs, taskio, weights
    from trd_spark.genomics.matching import match_weights

    variants, folder = write_inputs(tmp_path)
    files = weights.list_weight_files(str(folder), "prscs", list(ROWS))
    matched = pgs.match_platform(
        spark, pgs.WeightFiles(files, "prscs"), variants, list(ROWS), False,
        str(tmp_path / "matched"), "test",
    )  # fmt: skip
    var_idx, trait_idx, w = taskio.read_matched(str(tmp_path / "matched"), 0, 10)
    sites = taskio.read_site_tables(variants, ["1"])["1"]
    for k, trait in enumerate(ROWS):
        table = weights.parse_file(trait, files.loc[files.trait == trait, "file"].iloc[0], "prscs")
        direct = match_weights(table.to_pandas(), sites, False)
        mine = trait_idx == k
        got = dict(zip(var_idx[mine].tolist(), w[mine].tolist(), strict=True))
        assert got == dict(zip(direct.var_idx.tolist(), direct.weight.tolist(), strict=True))
        assert matched.offsets[k] == pytest.approx(direct.offset)
        row = matched.report.set_index("trait").loc[trait]
        assert {c: row[c] for c in direct.counts} == direct.counts
    report = matched.report.set_index("trait")
    # a: 100 direct, 200 flipped, 300 by position (other strand, flipped), 500 direct
    assert report.loc["a", "n_matched"] == 4 and report.loc["a", "n_flipped"] == 2
    # c: 100 flipped; the site at 400 passed QC but is not in the cache: missing
    assert report.loc["c", "n_matched"] == 1 and report.loc["c", "n_missing"] == 1
    assert np.isclose(matched.offsets[1], 2 * (2.0 - 3.0))


def test_bad_weight_file_stops_the_job_naming_file_and_line(spark, tmp_path):
    from trd_spark.genomics import pgs, weights

    bad = {**ROWS, "c": [*ROWS["c"], ("1", "rs9", 900, "A", "G", "oops")]}
    variants, folder = write_inputs(tmp_path, bad)
    files = weights.list_weight_files(str(folder), "prscs", list(bad))
    with pytest.raises(InputError, match=r"c_pst_eff_a1_b0.5_phiauto_chr1.txt, line 3: .*'oops'"):
        pgs.match_platform(
            spark, pgs.WeightFiles(files, "prscs"), variants, list(bad), False,
            str(tmp_path / "matched"), "test",
        )  # fmt: skip
