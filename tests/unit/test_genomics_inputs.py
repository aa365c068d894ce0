"""Bad inputs to the genomics readers and cohort builder (no Spark needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trd_spark.errors import InputError
from trd_spark.genomics import weights
from trd_spark.genomics.cohorts import CohortSpec, assign_cohorts, person_ids_of
from trd_spark.genomics.readers import read_ancestry

GOOD = "1\trs1\t100\tA\tG\t0.5\n1\trs2\t200\tC\tT\t-0.25\n"


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def parse_error(tmp_path, text: str) -> str:
    frame = weights._parse_prscs("t", write(tmp_path, "t_pst_eff_a1_b0.5_phiauto_chr1.txt", text))
    assert frame["error"].notna().all() and len(frame) == 1
    return str(frame["error"].iloc[0])


def test_good_prscs_file_is_typed(tmp_path):
    frame = weights._parse_prscs("t", write(tmp_path, "t_chr1.txt", GOOD))
    assert frame["error"].isna().all()
    assert frame["pos"].tolist() == [100, 200]
    assert frame["beta"].tolist() == [0.5, -0.25]
    assert frame["chrom"].tolist() == ["1", "1"]
    assert not frame["duplicate"].any()


def test_duplicate_positions_are_flagged(tmp_path):
    text = GOOD + "1\trs9\t100\tA\tC\t0.1\n2\trs1\t100\tA\tG\t0.5\n"
    frame = weights._parse_prscs("t", write(tmp_path, "t_chr1.txt", text))
    assert frame["duplicate"].tolist() == [True, False, True, False]


def test_seven_columns_names_line(tmp_path):
    message = parse_error(tmp_path, GOOD + "1\trs3\t300\tA\tG\t0.1\textra\n")
    assert "line 3" in message and "7 columns" in message


def test_empty_weight_file(tmp_path):
    message = parse_error(tmp_path, "")
    assert "empty" in message and "t_pst_eff_a1_b0.5_phiauto_chr1.txt" in message


def test_wrong_column_count_names_line(tmp_path):
    message = parse_error(tmp_path, GOOD + "1\trs3\t300\tA\tG\n")
    assert "line 3" in message and "5 columns" in message


def test_non_numeric_beta_names_line(tmp_path):
    message = parse_error(tmp_path, GOOD + "1\trs3\t300\tA\tG\tabc\n")
    assert "line 3" in message and "'abc'" in message


def test_unknown_chromosome(tmp_path):
    message = parse_error(tmp_path, "chr99\trs3\t300\tA\tG\t0.1\n")
    assert "line 1" in message and "chromosome" in message and "99" in message


@pytest.mark.parametrize("a1,a2", [("N", "G"), ("A", "-"), ("I", "D")])
def test_alleles_not_acgt(tmp_path, a1, a2):
    message = parse_error(tmp_path, GOOD + f"2\trs3\t300\t{a1}\t{a2}\t0.1\n")
    assert "line 3" in message and "A/C/G/T" in message


def test_missing_trait_file_is_named(tmp_path):
    (tmp_path / "w").mkdir()
    write(tmp_path / "w", "a_pst_eff_a1_b0.5_phiauto_chr1.txt", GOOD)
    with pytest.raises(InputError, match=r"no weight file for trait.*b"):
        weights.list_weight_files(str(tmp_path / "w"), "prscs", ["a", "b"])


def test_trait_not_in_catalog_is_named(tmp_path):
    (tmp_path / "w").mkdir()
    write(tmp_path / "w", "a_pst_eff_a1_b0.5_phiauto_chr1.txt", GOOD)
    write(tmp_path / "w", "zz_pst_eff_a1_b0.5_phiauto_chr2.txt", GOOD)
    with pytest.raises(InputError, match="zz"):
        weights.list_weight_files(str(tmp_path / "w"), "prscs", ["a"])


def test_missing_weights_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        weights.list_weight_files(str(tmp_path / "nope"), "prscs", ["a"])


def test_pgscatalog_harmonized_columns(tmp_path):
    text = (
        "#pgs_id=PGS000001\n#genome_build=GRCh38\n"
        "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n"
        "rs1\t1\t90\ta\tg\t0.1\t1\t100\n"
    )
    frame = weights._parse_pgscatalog("x", write(tmp_path, "x.txt", text))
    assert frame["error"].isna().all()
    assert frame[["chrom", "pos", "a1", "a2", "beta"]].iloc[0].tolist() == ["1", 100, "A", "G", 0.1]


def test_duplicate_person_ids_in_genotypes():
    with pytest.raises(InputError, match="appears more than once"):
        person_ids_of(["1", "2", "2"], "wgs")


def test_non_integer_person_id():
    with pytest.raises(InputError, match="not an integer"):
        person_ids_of(["1", "abc"], "wgs")


def ancestry_text(rows: list[tuple[str, str]]) -> str:
    pcs = "[" + ", ".join(str(0.1 * i) for i in range(16)) + "]"
    body = "".join(f"{pid}\t{anc}\t{pcs}\textra\n" for pid, anc in rows)
    return "research_id\tancestry_pred\tpca_features\tother\n" + body


def test_ancestry_reader_parses_pcs(tmp_path):
    frame = read_ancestry(write(tmp_path, "a.tsv", ancestry_text([("1", "eur"), ("2", "afr")])))
    assert frame["person_id"].dtype == np.int64
    assert frame.loc[1, "pc16"] == pytest.approx(1.5)
    assert frame["ancestry_pred"].tolist() == ["eur", "afr"]


def test_ancestry_duplicate_ids(tmp_path):
    with pytest.raises(InputError, match=r"line 3.*more than once"):
        read_ancestry(write(tmp_path, "a.tsv", ancestry_text([("1", "eur"), ("1", "afr")])))


def test_ancestry_bad_pcs_names_line(tmp_path):
    text = ancestry_text([("1", "eur")]) + "2\teur\t[0.1, x]\te\n"
    with pytest.raises(InputError, match="line 3"):
        read_ancestry(write(tmp_path, "a.tsv", text))


def test_ancestry_missing_column(tmp_path):
    with pytest.raises(InputError, match="pca_features"):
        read_ancestry(write(tmp_path, "a.tsv", "research_id\tancestry_pred\n1\teur\n"))


STUDY_SPECS = [
    CohortSpec("wgs_european", "wgs", ("eur",)),
    CohortSpec("wgs_diverse", "wgs", ("afr", "amr", "eas", "mid", "sas", "oth")),
    CohortSpec("microarray", "array", None, ("wgs",)),
]


def test_cohorts_are_exclusive_and_counted():
    ancestry = pd.DataFrame(
        {"person_id": [1, 2, 3, 5], "ancestry_pred": ["eur", "afr", "eur", "amr"]}
    )
    persons = {"wgs": pd.Series([1, 2, 3, 4]), "array": pd.Series([3, 5, 6])}
    cohorts, attrition = assign_cohorts(persons, ancestry, STUDY_SPECS)
    got = {(r.platform, r.person_id): r.cohort for r in cohorts.itertuples()}
    assert got == {
        ("wgs", 1): "wgs_european",
        ("wgs", 2): "wgs_diverse",
        ("wgs", 3): "wgs_european",
        ("wgs", 4): None,
        ("array", 3): None,
        ("array", 5): "microarray",
        ("array", 6): "microarray",
    }
    steps = attrition.set_index("step")["n_persons"]
    assert steps["wgs_european"] == 2 and steps["wgs_diverse"] == 1 and steps["microarray"] == 2
    assert steps["microarray: in_wgs"] == 1
    # person 4 is genotyped but has no ancestry prediction: counted, not silently lost
    assert steps["wgs_european: unassigned"] == 1


def test_cohort_without_samples_is_an_error():
    ancestry = pd.DataFrame({"person_id": [1, 2], "ancestry_pred": ["eur", "eur"]})
    persons = {"wgs": pd.Series([1, 2]), "array": pd.Series([7])}
    with pytest.raises(InputError, match="cohort 'wgs_diverse' has no samples"):
        assign_cohorts(persons, ancestry, STUDY_SPECS)


def test_fast_reader_equals_checked_reader(tmp_path):
    text = GOOD + "chr2\t.\t300\tg\tt\t1e-3\n2\trs4\t300\tA\tC\t2\n"
    path = write(tmp_path, "t_chr1.txt", text)
    fast = weights._parse_prscs_fast("t", path).to_pandas()
    slow = weights._parse_prscs("t", path)
    columns = ["trait", "chrom", "pos", "rsid", "a1", "a2", "beta", "duplicate"]
    pd.testing.assert_frame_equal(fast[columns], slow[columns], check_dtype=False)


def test_fast_reader_falls_back_to_name_the_line(tmp_path):
    path = write(tmp_path, "t_chr1.txt", GOOD + "1\trs3\t300\tA\tG\tabc\n")
    frame = weights._parse_prscs_fast("t", path)
    assert isinstance(frame, pd.DataFrame) and "line 3" in frame["error"].iloc[0]


def test_cache_columns_are_grouped_by_cohort_then_the_others():
    from trd_spark.genomics.stage import cache_column_order

    samples = ["10", "11", "12", "13", "14"]
    platform = pd.DataFrame(
        {"person_id": [14, 10, 13, 11, 12], "cohort": ["b", "a", "a", "b", None]}
    )
    assert cache_column_order(samples, platform) == [0, 3, 1, 4, 2]


def test_pcs_come_from_the_file_or_the_genotypes_and_are_counted():
    from trd_spark.genomics.cohorts import attach_pcs, pcs_attrition

    ancestry = pd.DataFrame(
        {"person_id": [1, 2, 3, 5], "ancestry_pred": ["eur", "afr", "eur", "amr"],
         "pc1": [0.1, 0.2, 0.3, 0.5], "pc2": [1.0, 2.0, 3.0, 5.0]}
    )  # fmt: skip
    persons = {"wgs": pd.Series([1, 2, 3, 4]), "array": pd.Series([3, 5, 6])}
    cohorts, _ = assign_cohorts(persons, ancestry, STUDY_SPECS)
    computed = pd.DataFrame(
        {"person_id": [5, 6], "platform": "array", "pc1": [-1.0, -2.0], "pc2": [-3.0, -4.0],
         "pcs_source": "projected"}
    )  # fmt: skip
    out = attach_pcs(cohorts, ancestry, computed, n_pcs=2).set_index(["platform", "person_id"])
    # person 5 has a file row but the microarray cohort takes all its PCs from one source
    assert out.loc[("array", 5), ["pc1", "pc2", "pcs_source"]].tolist() == [-1.0, -3.0, "projected"]
    assert out.loc[("array", 3), ["pc1", "pcs_source"]].tolist() == [0.3, "ancestry_file"]
    assert out.loc[("wgs", 2), ["pc2", "pcs_source"]].tolist() == [2.0, "ancestry_file"]
    assert pd.isna(out.loc[("wgs", 4), "pc1"]) and out.loc[("wgs", 4), "pcs_source"] is None
    rows = pd.DataFrame(pcs_attrition(out.reset_index())).set_index("step")
    assert rows.loc["microarray: pcs_projected", "n_persons"] == 2
    assert "wgs_european: no_pcs" not in rows.index  # every cohort member has PCs
