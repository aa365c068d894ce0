"""The weights stage's inputs: summary statistics, LD panels, matching, output files."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trd_spark import storage
from trd_spark.errors import InputError
from trd_spark.genomics.matching import site_table
from trd_spark.prscs import ldref
from trd_spark.prscs.matching import match_sumstats, reference_in_target
from trd_spark.prscs.sampler import ChainResult, ChainSettings
from trd_spark.prscs.sumstats import parse_sumstats, trait_of_file
from trd_spark.prscs.tasks import weight_file_name, write_weight_file

N = 10_000.0


def parse(text: str, n: float = N):
    return parse_sumstats(text.encode(), "gwas/bmi.txt", n)


# --- summary statistics ---------------------------------------------------------------


def test_effects_from_se_from_p_and_from_odds_ratios() -> None:
    with_se = parse("SNP A1 A2 BETA SE\nrs1 A G 0.02 0.01\nrs2 c t -0.03 0.02\n")
    np.testing.assert_allclose(with_se.beta_std, [2.0 / 100, -1.5 / 100])
    assert list(with_se.a1) == ["A", "C"] and list(with_se.a2) == ["G", "T"]
    with_p = parse("snp\ta1\ta2\tbeta\tp\textra\nrs1\tA\tG\t-0.5\t1e-8\tx\nrs2\tA\tC\t0.1\t1\ty\n")
    expected = -stats.norm.ppf(1 - 1e-8 / 2) / np.sqrt(N)
    np.testing.assert_allclose(with_p.beta_std, [expected, 0.0], atol=1e-15)
    with_or = parse("SNP A1 A2 OR P\nrs1 A G 0.8 0.05\nrs2 A C 1.3 1e-320\n")
    z = [-stats.norm.isf(0.025), stats.norm.isf(0.5e-320)]
    np.testing.assert_allclose(with_or.beta_std, np.array(z) / np.sqrt(N))
    assert np.isfinite(parse("SNP A1 A2 BETA P\nrs1 A G 0.1 5e-324\n").beta_std).all()


def test_non_snv_rows_are_counted_not_used() -> None:
    sumstats = parse("SNP A1 A2 BETA P\nrs1 A G 0.1 0.5\nrs2 AT G 0.1 0.5\nrs3 A N 0.1 0.5\n\n")
    assert list(sumstats.snp) == ["rs1"] and sumstats.n_not_snv == 2 and sumstats.n_rows == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SNP A1 BETA P\nrs1 A 0.1 0.5\n", r"gwas/bmi.txt: the header lacks column\(s\) A2"),
        ("SNP A1 A2 Z P\nrs1 A G 0.1 0.5\n", "lacks column.*BETA or OR"),
        ("SNP A1 A2 BETA\nrs1 A G 0.1\n", "lacks column.*P or SE"),
        ("SNP A1 A2 BETA P\nrs1 A G 0.1 0.5\nrs2 A G abc 0.5\n", r"line 3: column BETA is 'abc'"),
        ("SNP A1 A2 BETA P\nrs1 A G 0.1 NA\n", "line 2: column P is 'NA', not a finite number"),
        ("SNP A1 A2 BETA P\nrs1 A G 0.1 0\n", r"line 2: column P is 0; it must be in \(0, 1\]"),
        ("SNP A1 A2 BETA P\nrs1 A G 0.1 0.2\nrs2 A G 1 1.5\n", "line 3: column P is 1.5"),
        ("SNP A1 A2 BETA SE\nrs1 A G 0.1 -1\n", "line 2: column SE is -1; it must be positive"),
        ("SNP A1 A2 OR P\nrs1 A G 0 0.5\n", "line 2: column OR is 0; it must be positive"),
        ("SNP A1 A2 BETA P\nrs1 A G 0.1 0.5\nrs2 C T 0.2 0.5\nrs1 A G 0.3 0.1\n",
         "line 4: SNP rs1 is listed again \\(first on line 2\\)"),
        ("SNP A1 A2 BETA P\nrs1 A G 0.1\n", "line 2: 4 fields but the header names 5"),
        ("SNP A1 A2 BETA P\nrs1 A G 0.1 0.5 7\n", "line 2: 6 fields but the header names 5"),
        ("SNP A1 A2 BETA P\nrs1 A G 0.1 0.5\nrs2 A G 0.1 0.5\nrs3 A G 0.1\n",
         "line 4: no value in column P"),
        ("SNP A1 A2 BETA P\nrs1 A G 0.1 0.5\nrs2 A G 0.1 0.5\nrs3 A G 0.1 0.5 1\n",
         "gwas/bmi.txt: .*line 4"),
        ("  \n", "the summary-statistics file is empty"),
    ],
)  # fmt: skip
def test_bad_summary_statistics_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse(text)


def test_gzipped_file_and_trait_names(tmp_path: Path) -> None:
    path = tmp_path / "bmi.txt.gz"
    path.write_bytes(gzip.compress(b"SNP A1 A2 BETA SE\nrs1 A G 0.2 0.1\n"))
    sumstats = parse_sumstats(storage.read_bytes(str(path)), str(path), 100.0)
    np.testing.assert_allclose(sumstats.beta_std, [0.2])
    assert trait_of_file("bmi.txt.gz") == "bmi" and trait_of_file("bmi.sumstats") == "bmi"
    assert trait_of_file("notes.md") is None


# --- LD panels ------------------------------------------------------------------------


def write_stock_layout(folder: Path) -> None:
    """A panel written with h5py directly, as PRS-CS's own files are (not with write_panel)."""
    folder.mkdir()
    (folder / "snpinfo_1kg_hm3").write_text(
        "CHR\tSNP\tBP\tA1\tA2\tMAF\n1\trs1\t100\tA\tG\t0.2\n1\trs2\t200\tC\tT\t0.4\n"
        "1\trs3\t300\tG\tT\t0.1\n1\trs4\t400\tA\tC\t0.3\n"
    )
    with h5py.File(folder / "ldblk_1kg_chr1.hdf5", "w") as handle:
        first = handle.create_group("blk_1")
        first.create_dataset("ldblk", data=np.array([[1.0, 0.5], [0.5, 1.0]], dtype=np.float32))
        first.create_dataset("snplist", data=[b"rs1", b"rs2"])
        second = handle.create_group("blk_2")
        second.create_dataset("ldblk", data=np.array([[1.0, -0.3], [-0.3, 1.0]]))
        second.create_dataset("snplist", data=np.array([b"rs3", b"rs4"], dtype="S3"))


def test_stock_layout_is_read(tmp_path: Path) -> None:
    write_stock_layout(tmp_path / "ldblk_1kg_eur")
    panel = ldref.find_panel(str(tmp_path / "ldblk_1kg_eur"))
    assert panel.name == "1kg" and list(panel.chromosomes) == ["1"]
    snpinfo = ldref.read_snpinfo(panel.snpinfo)
    assert list(snpinfo.columns) == ["chrom", "snp", "bp", "a1", "a2", "maf"]
    blocks = ldref.read_blocks(panel.chromosomes["1"], {"rs2", "rs3", "rs4"})
    assert [list(b.snps) for b in blocks] == [["rs2"], ["rs3", "rs4"]]
    np.testing.assert_allclose(blocks[0].ld, [[1.0]])
    np.testing.assert_allclose(blocks[1].ld, [[1.0, -0.3], [-0.3, 1.0]])


def test_written_panel_reads_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    matrix = np.corrcoef(rng.standard_normal((50, 3)), rowvar=False)
    snpinfo = pd.DataFrame(
        {"chrom": ["2"] * 3, "snp": ["rs7", "rs8", "rs9"], "bp": [5, 6, 7],
         "a1": ["A", "C", "G"], "a2": ["G", "T", "T"], "maf": [0.1, 0.2, 0.3]}
    )  # fmt: skip
    block = ldref.LDBlock(np.array(["rs7", "rs8", "rs9"], dtype=object), matrix)
    panel = ldref.write_panel(str(tmp_path / "p"), "mine", snpinfo, {"2": [block]})
    assert panel.snpinfo.endswith("snpinfo_mine_hm3")
    pd.testing.assert_frame_equal(ldref.read_snpinfo(panel.snpinfo), snpinfo, check_dtype=False)
    (back,) = ldref.read_blocks(panel.chromosomes["2"], {"rs7", "rs8", "rs9"})
    np.testing.assert_allclose(back.ld, matrix)
    with h5py.File(panel.chromosomes["2"]) as handle:  # the stock reader's view
        assert [x.decode("UTF-8") for x in handle["blk_1"]["snplist"][:]] == ["rs7", "rs8", "rs9"]


def test_ld_file_without_the_datasets_names_the_dataset(tmp_path: Path) -> None:
    path = tmp_path / "ldblk_x_chr1.hdf5"
    with h5py.File(path, "w") as handle:
        handle.create_group("blk_1").create_dataset("snplist", data=[b"rs1"])
    with pytest.raises(InputError, match=r"ldblk_x_chr1.hdf5: dataset blk_1/ldblk is missing"):
        ldref.read_blocks(str(path), {"rs1"})
    with h5py.File(path, "w") as handle:
        handle.create_group("blk_1").create_dataset("ldblk", data=np.eye(1))
    with pytest.raises(InputError, match="dataset blk_1/snplist is missing"):
        ldref.read_blocks(str(path), {"rs1"})
    with h5py.File(path, "w") as handle:
        group = handle.create_group("blk_1")
        group.create_dataset("ldblk", data=np.eye(2))
        group.create_dataset("snplist", data=[b"rs1", b"rs2", b"rs3"])
    with pytest.raises(InputError, match=r"blk_1/ldblk has shape \(2, 2\) but blk_1/snplist"):
        ldref.read_blocks(str(path), {"rs1"})
    with h5py.File(path, "w") as handle:
        handle.create_dataset("something", data=np.eye(2))
    with pytest.raises(InputError, match="no groups blk_1, blk_2"):
        ldref.read_blocks(str(path), {"rs1"})
    path.write_text("not hdf5")
    with pytest.raises(InputError, match="not a readable HDF5 file"):
        ldref.read_blocks(str(path), {"rs1"})


def test_bad_panels_and_snp_tables(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no snpinfo_<panel>_hm3 file"):
        ldref.find_panel(str(tmp_path / "empty"))
    (tmp_path / "empty" / "snpinfo_a_hm3").write_text("CHR SNP BP A1 A2 MAF\n")
    with pytest.raises(InputError, match=r"no ldblk_a_chr<N>\.hdf5 files"):
        ldref.find_panel(str(tmp_path / "empty"))
    header = "CHR SNP BP A1 A2 MAF\n"
    with pytest.raises(InputError, match="x/snpinfo: lacks column\\(s\\) MAF"):
        ldref.parse_snpinfo(b"CHR SNP BP A1 A2\n1 rs1 5 A G\n", "x/snpinfo")
    with pytest.raises(InputError, match="line 3: SNP rs1 is listed again"):
        ldref.parse_snpinfo((header + "1 rs1 5 A G 0.1\n1 rs1 6 A G 0.1\n").encode(), "s")
    with pytest.raises(InputError, match=r"line 2: MAF is not in \(0, 1\)"):
        ldref.parse_snpinfo((header + "1 rs1 5 A G 0\n").encode(), "s")


# --- matching -------------------------------------------------------------------------


def reference_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "chrom": ["1"] * 6,
            "snp": ["rs1", "rs2", "rs3", "rs4", "rs5", "rs6"],
            "bp": [10, 20, 30, 40, 50, 60],
            "a1": ["A", "C", "A", "G", "C", "A"],
            "a2": ["G", "T", "T", "A", "A", "C"],
            "maf": [0.1] * 6,
        }
    )


def test_summary_statistics_matched_and_counted_per_reason() -> None:
    sumstats = parse(
        "SNP A1 A2 BETA SE\n"
        "rs1 A G 0.1 0.01\n"  # same alleles
        "rs2 T C 0.2 0.01\n"  # swapped: the effect turns round
        "rs3 A T 0.3 0.01\n"  # A/T: ambiguous
        "rs4 C T 0.4 0.01\n"  # other strand of G/A
        "rs5 C G 0.5 0.01\n"  # C/G: ambiguous (before the reference is looked at)
        "rs6 A G 0.6 0.01\n"  # alleles match nothing of A/C
        "rs9 A G 0.7 0.01\n"  # not in the reference
        "rs7 A CC 0.8 0.01\n"  # not an SNV
    )
    reference = reference_table()
    in_target = np.array([True, True, True, False, True, True])
    matched = match_sumstats(sumstats, reference, in_target, keep_ambiguous=False)
    assert matched.counts == {
        "n_in_file": 8, "not_snv": 1, "ambiguous": 2, "not_in_reference": 1,
        "allele_mismatch": 1, "not_in_target": 1,
    }  # fmt: skip
    assert list(matched.reference_row) == [0, 1]
    np.testing.assert_allclose(matched.beta_std, np.array([10.0, -20.0]) / np.sqrt(N))
    kept = match_sumstats(sumstats, reference, np.ones(6, bool), keep_ambiguous=True)
    assert list(kept.reference_row) == [0, 1, 2, 3]  # rs5 C/G vs reference C/A: mismatch
    assert kept.counts["ambiguous"] == 0 and kept.counts["allele_mismatch"] == 2
    np.testing.assert_allclose(kept.beta_std[3], 40.0 / np.sqrt(N))


def test_reference_in_target_by_position_or_rsid_only() -> None:
    reference = reference_table()
    sites = site_table(
        np.array([10, 20, 45, 60]), np.array(["G", "C", "A", "A"], object),
        np.array(["A", "T", "G", "C"], object), np.array(["rs1", None, "rsX", "rsY"], object),
        np.arange(4),
    )  # fmt: skip
    same_build = reference_in_target(reference, [(sites, True)], keep_ambiguous=False)
    assert list(same_build) == [True, True, False, False, False, False]  # rs6: other rsID
    other_build = reference_in_target(reference, [(sites, False)], keep_ambiguous=False)
    assert list(other_build) == [True, False, False, False, False, False]


# --- output ---------------------------------------------------------------------------


def test_weight_files_as_prscs_names_and_writes_them(tmp_path: Path) -> None:
    assert weight_file_name("bmi", "3", ChainSettings()) == "bmi_pst_eff_a1_b0.5_phiauto_chr3.txt"
    fixed = ChainSettings(phi=1e-2)
    assert weight_file_name("bmi", "3", fixed) == "bmi_pst_eff_a1_b0.5_phi1e-02_chr3.txt"
    info = pd.DataFrame(
        {"bp": [10, 20], "a1": ["A", "C"], "a2": ["G", "T"], "maf": [0.5, 0.1]},
        index=["rs1", "rs2"],
    )
    chain = ChainResult(np.array([0.01, -0.003]), np.ones(2), np.ones(1), np.ones(1), np.ones(1))
    path = tmp_path / "bmi_pst_eff_a1_b0.5_phiauto_chr3.txt"
    write_weight_file(str(path), "3", np.array(["rs1", "rs2"], object), info, chain)
    per_allele = [0.01 / np.sqrt(0.5), -0.003 / np.sqrt(0.18)]
    assert path.read_text() == (
        f"3\trs1\t10\tA\tG\t{per_allele[0]:.6e}\n3\trs2\t20\tC\tT\t{per_allele[1]:.6e}\n"
    )


def test_task_side_modules_do_not_import_hail() -> None:
    # Spark's Python workers import these for every task of the weights stage
    code = (
        "import sys; import trd_spark.prscs.tasks, trd_spark.prscs.gig, trd_spark.prscs.ldref; "
        "sys.exit('hail' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
