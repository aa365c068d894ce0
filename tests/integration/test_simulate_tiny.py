"""The tiny simulated study read back by Hail, plink2, Spark and pandas."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.integration
COMPLEMENT = {"A": "T", "T": "A", "C": "G", "G": "C"}


@pytest.fixture(scope="module")
def variants(tiny_study: Path) -> pd.DataFrame:
    return pd.read_parquet(tiny_study / "truth" / "variants.parquet")


@pytest.fixture(scope="module")
def persons(tiny_study: Path) -> pd.DataFrame:
    return pd.read_parquet(tiny_study / "truth" / "persons.parquet")


def read_mt(tiny_study: Path, platform: str):
    import hail as hl

    return hl.read_matrix_table(str(tiny_study / "data" / f"{platform}.mt"))


def test_matrix_tables_have_the_contract_schema(tiny_study, persons, variants):
    import hail as hl

    ids = {}
    for platform in ("wgs", "array"):
        mt = read_mt(tiny_study, platform)
        assert list(mt.row_key) == ["locus", "alleles"] and list(mt.col_key) == ["s"]
        assert mt.locus.dtype == hl.tlocus("GRCh38") and mt.alleles.dtype == hl.tarray(hl.tstr)
        assert set(mt.row_value) == {"rsid"} and set(mt.entry) == {"GT"} and mt.GT.dtype == hl.tcall
        ids[platform] = set(mt.s.collect())
        on_platform = persons["on_array"] if platform == "array" else persons["platform"] == "wgs"
        assert ids[platform] == set(persons.loc[on_platform, "person_id"].astype(str))
        assert mt.count_rows() == (variants["platform"] == platform).sum()
    # the array holds its own persons and some WGS persons (about 40%), as on All of Us
    wgs_on_array = ids["wgs"] & ids["array"]
    array_only = set(persons.loc[persons["platform"] == "array", "person_id"].astype(str))
    assert array_only <= ids["array"] and not array_only & ids["wgs"]
    assert 0.3 < len(wgs_on_array) / len(ids["wgs"]) < 0.5


def qc_rule_per_site(mt, ancestry: pd.DataFrame, population_af: bool) -> pd.DataFrame:
    """The architecture's QC rules computed with Hail aggregators, first failing rule per site
    (``population_af``: whether the platform's policy applies that rule)."""
    import hail as hl

    pops = hl.literal(
        dict(zip(ancestry["research_id"].astype(str), ancestry["ancestry_pred"], strict=True))
    )
    mt = mt.annotate_cols(pop=pops.get(mt.s))
    n_alt = mt.GT.n_alt_alleles()
    mt = mt.annotate_rows(
        call_rate=hl.agg.fraction(hl.is_defined(mt.GT)),
        af=hl.agg.sum(n_alt) / (2 * hl.agg.count_where(hl.is_defined(mt.GT))),
        pop_ok=hl.any(
            hl.agg.filter(
                hl.is_defined(mt.pop),
                hl.agg.group_by(
                    mt.pop,
                    hl.struct(
                        ac=hl.agg.sum(n_alt), an=2 * hl.agg.count_where(hl.is_defined(mt.GT))
                    ),
                ),
            )
            .values()
            .map(lambda g: (g.ac / g.an > 0.01) | (g.ac > 100))
        ),
        het_p=hl.agg.hardy_weinberg_test(mt.GT, one_sided=True).p_value,
    )
    rule = (
        hl.case()
        .when(hl.len(mt.alleles) > 2, "multiallelic")
        .when(~hl.is_snp(mt.alleles[0], mt.alleles[1]), "non_snv")
        .when(mt.call_rate < 0.99, "call_rate")
        .when(population_af & ~mt.pop_ok, "population_af")
        .when(mt.af <= 0.005, "overall_af")
        .when(mt.het_p < 1e-6, "excess_het")
        .or_missing()
    )
    rows = mt.select_rows(rule=rule).rows()
    frame = rows.annotate(locus_str=hl.str(rows.locus)).to_pandas()
    return frame[["locus_str", "rule"]]


# the default policy: sequencing applies the population-AF rule, an array does not
@pytest.mark.parametrize(("platform", "population_af"), [("wgs", True), ("array", False)])
def test_hail_qc_removes_exactly_the_planted_sites(tiny_study, variants, platform, population_af):
    ancestry = pd.read_csv(tiny_study / "data" / "ancestry_preds.tsv", sep="\t")
    found = qc_rule_per_site(read_mt(tiny_study, platform), ancestry, population_af)
    truth = variants[variants["platform"] == platform].merge(
        found, left_on="locus", right_on="locus_str"
    )
    assert len(truth) == (variants["platform"] == platform).sum()
    assert (truth["rule"].fillna("pass") == truth["planted_fail"].fillna("pass")).all()
    counts = truth["planted_fail"].value_counts()
    rules = {"multiallelic", "non_snv", "call_rate", "population_af", "overall_af", "excess_het"}
    assert set(counts.index) == (rules if population_af else rules - {"population_af"})
    if platform == "wgs":
        assert (counts == 25).all()  # round(5% / 6 rules x 3,000 sites)
        assert 0.03 < truth["planted_fail"].notna().mean() < 0.07
    else:  # a site built to fail the population-AF rule has one carrier: overall_af instead
        planted = variants.loc[variants["platform"] == "wgs", "planted_fail"].value_counts()
        assert counts["overall_af"] > planted["overall_af"]
    good = truth[truth["planted_fail"].isna()]
    alleles = good["alleles"].map(lambda a: frozenset(a))
    assert alleles.isin([frozenset("AT"), frozenset("CG")]).sum() > 20  # strand-ambiguous good SNPs


def test_multiallelic_rows_carry_three_alleles(tiny_study):
    import hail as hl

    mt = read_mt(tiny_study, "wgs")
    multi = mt.filter_rows(hl.len(mt.alleles) == 3)
    stats = multi.aggregate_entries(
        hl.struct(n2=hl.agg.count_where(multi.GT[1] == 2), n=hl.agg.count())
    )
    assert multi.count_rows() == 25 and stats.n2 > 0


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")
def test_plink_export_agrees_with_the_matrix_table(tiny_study, tmp_path):
    import hail as hl

    out = tmp_path / "freq"
    subprocess.run(
        [
            "plink2",
            "--bfile",
            str(tiny_study / "data" / "wgs"),
            "--freq",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    freq = pd.read_csv(f"{out}.afreq", sep="\t")
    mt = read_mt(tiny_study, "wgs")
    mt = mt.filter_rows(hl.len(mt.alleles) == 2)
    mt = mt.annotate_rows(af=hl.agg.call_stats(mt.GT, mt.alleles).AF[1])
    rows = mt.rows().select("rsid", "af").to_pandas()
    assert len(freq) == len(rows)  # multi-allelic rows left out of the PLINK export
    merged = freq.merge(rows, left_on="ID", right_on="rsid")
    assert len(merged) == len(rows)
    np.testing.assert_allclose(merged["ALT_FREQS"], merged["af"], atol=1e-6)
    bim = pd.read_csv(tiny_study / "data" / "wgs.bim", sep="\t", header=None)
    assert (bim[4].str.len() == bim[5].str.len()).sum() < len(bim)  # indels kept, ALT first
    fam = pd.read_csv(tiny_study / "data" / "wgs.fam", sep="\t", header=None)
    assert (fam[0] == fam[1]).all()


def test_vcf_export_holds_every_row(tiny_study):
    import hail as hl

    vcf = hl.import_vcf(str(tiny_study / "data" / "array.vcf.bgz"), reference_genome="GRCh38")
    mt = read_mt(tiny_study, "array")
    assert vcf.count() == mt.count()


def test_ancestry_file_parses_and_its_pcs_separate_groups(tiny_study, persons):
    ancestry = pd.read_csv(tiny_study / "data" / "ancestry_preds.tsv", sep="\t")
    assert list(ancestry.columns) == [
        "research_id",
        "ancestry_pred",
        "probabilities",
        "pca_features",
        "ancestry_pred_other",
    ]
    pcs = np.array([[float(v) for v in s.strip("[]").split(",")] for s in ancestry["pca_features"]])
    assert pcs.shape == (len(ancestry), 16)
    # as on All of Us, the file covers WGS persons only, and not quite all of them
    wgs = set(persons.loc[persons["platform"] == "wgs", "person_id"])
    assert set(ancestry["research_id"]) < wgs
    assert 1 <= len(wgs) - len(ancestry) <= 0.01 * len(wgs)
    labels = ancestry["ancestry_pred"].to_numpy()
    main = np.isin(labels, ["eur", "afr", "amr"])
    centroids = {g: pcs[labels == g, :4].mean(0) for g in ("eur", "afr", "amr")}
    nearest = [min(centroids, key=lambda g: np.sum((p - centroids[g]) ** 2)) for p in pcs[main, :4]]
    assert np.mean(np.array(nearest) == labels[main]) > 0.9


def read_weights(tiny_study: Path, trait: str) -> pd.DataFrame:
    files = sorted(
        (tiny_study / "data" / "weights").glob(f"{trait}_pst_eff_a1_b0.5_phiauto_chr*.txt")
    )
    assert files
    frames = [
        pd.read_csv(f, sep="\t", header=None, names=["CHR", "SNP", "BP", "A1", "A2", "BETA"])
        for f in files
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("trait", ["insomnia", "educational_attainment", "schizophrenia"])
def test_weight_files_overlap_and_kinds(tiny_study, variants, trait):
    traits = pd.read_csv(Path(__file__).parents[2] / "conf" / "traits.tsv", sep="\t")
    names = {p.name.split("_pst_eff")[0] for p in (tiny_study / "data" / "weights").iterdir()}
    assert names == set(traits["trait"])
    weights = read_weights(tiny_study, trait)
    assert weights["CHR"].dtype.kind == "i" and weights["BP"].dtype.kind == "i"
    for platform in ("wgs", "array"):
        sites = variants[variants["platform"] == platform]
        by_pos = {
            (int(c[3:]), p): a
            for c, p, a in zip(sites["contig"], sites["position"], sites["alleles"], strict=True)
        }
        kinds = []
        for chrom, pos, a1, a2 in zip(
            weights["CHR"], weights["BP"], weights["A1"], weights["A2"], strict=True
        ):
            alleles = by_pos.get((chrom, pos))
            if alleles is None:
                kinds.append("absent")
            elif {a1, a2} in ({"A", "T"}, {"C", "G"}):
                kinds.append("ambiguous")
            elif [a2, a1] == list(alleles) or [COMPLEMENT[a2], COMPLEMENT[a1]] == list(alleles):
                kinds.append("matched")
            elif [a1, a2] == list(alleles) or [COMPLEMENT[a1], COMPLEMENT[a2]] == list(alleles):
                kinds.append("flipped")
            else:
                kinds.append("mismatch")
        kinds = pd.Series(kinds)
        assert (kinds == "mismatch").sum() == 0
        overlap = kinds.isin(["matched", "flipped"]).mean()
        if platform == "array":
            # the array carries about 45% of the weight sites, unevenly by chromosome
            on_array = kinds.ne("absent").groupby(weights["CHR"]).mean()
            assert 0.38 < kinds.ne("absent").mean() < 0.52, on_array
            assert on_array.max() - on_array.min() > 0.15, on_array
            assert 0.3 < overlap < 0.5, overlap
        else:
            assert overlap > 0.75, (platform, overlap)
        if platform == "wgs":
            assert 0.04 < (kinds == "absent").mean() < 0.12 and (kinds == "flipped").mean() > 0.2
            truth = pd.read_parquet(tiny_study / "truth" / "weights.parquet")
            truth = truth[truth["trait"] == trait]
            np.testing.assert_array_equal(truth["kind"].to_numpy(), kinds.to_numpy())


def cohort_members(study: Path, ids: pd.Index) -> list[tuple[str, pd.Index]]:
    """The persons of ``ids`` in each WGS cohort of the study's truth."""
    truth = pd.read_parquet(study / "truth" / "persons.parquet").set_index("person_id")
    cohort = truth["cohort"].reindex(ids)
    return [(c, ids[cohort.eq(c).to_numpy()]) for c in ("wgs_european", "wgs_diverse")]


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")
def test_plink2_scores_track_the_true_genetic_values(tiny_study, tmp_path):
    bim = pd.read_csv(
        tiny_study / "data" / "wgs.bim",
        sep="\t",
        header=None,
        names=["c", "id", "cm", "pos", "alt", "ref"],
    )
    effects = pd.read_csv(tiny_study / "truth" / "effects.tsv", sep="\t").set_index("trait")
    values = pd.read_parquet(tiny_study / "truth" / "genetic_values.parquet").set_index("person_id")
    for trait in ("insomnia", "neuroticism"):
        weights = read_weights(tiny_study, trait).merge(bim, left_on="SNP", right_on="id")
        usable = weights[(weights["A1"] == weights["alt"]) | (weights["A1"] == weights["ref"])]
        usable = usable[~usable.apply(lambda r: {r.A1, r.A2} in ({"A", "T"}, {"C", "G"}), axis=1)]
        score_file = tmp_path / f"{trait}.txt"
        usable[["SNP", "A1", "BETA"]].to_csv(score_file, sep="\t", index=False, header=False)
        out = tmp_path / trait
        subprocess.run(
            [
                "plink2",
                "--bfile",
                str(tiny_study / "data" / "wgs"),
                "--score",
                str(score_file),
                "1",
                "2",
                "3",
                "cols=+scoresums",
                "--threads",
                "1",
                "--out",
                str(out),
            ],
            check=True,
            capture_output=True,
        )
        scores = pd.read_csv(f"{out}.sscore", sep="\t").set_index("IID")["SCORE1_SUM"]
        # the truth's accuracy, over the platform and within each WGS cohort (the Diverse
        # set's is lower, and ancestry mean shifts lower the platform's)
        for name, members in [("wgs", scores.index), *cohort_members(tiny_study, scores.index)]:
            r = np.corrcoef(scores[members], values.loc[members, trait])[0, 1]
            assert abs(r - effects.loc[trait, f"pgs_r_{name}"]) < 0.1, (trait, name, r)
        europeans = dict(cohort_members(tiny_study, scores.index))["wgs_european"]
        assert np.corrcoef(scores[europeans], values.loc[europeans, trait])[0, 1] > 0.6


def test_spark_reads_the_omop_tables(spark, tiny_study):
    from pyspark.sql.types import DateType, IntegerType, LongType

    omop = tiny_study / "data" / "omop"
    drugs = spark.read.parquet(str(omop / "drug_exposure"))
    fields = {f.name: f.dataType for f in drugs.schema.fields}
    assert isinstance(fields["drug_exposure_start_date"], DateType)
    assert isinstance(fields["person_id"], LongType) and isinstance(
        fields["drug_concept_id"], IntegerType
    )
    assert drugs.count() == len(pd.read_parquet(omop / "drug_exposure"))
    null_ends = drugs.filter(drugs.drug_exposure_end_date.isNull()).count()
    assert 0 < null_ends < drugs.count()


def test_truth_tables_have_the_documented_columns(tiny_study):
    tte = pd.read_parquet(tiny_study / "truth" / "time_to_event.parquet")
    assert list(tte.columns) == [
        "person_id",
        "origin_date",
        "onset_date",
        "end_of_observation",
        "event",
        "time_days",
        "age_at_diagnosis",
        "included",
        "exclusion",
    ]
    effects = pd.read_csv(tiny_study / "truth" / "effects.tsv", sep="\t")
    assert {"trait", "domain", "log_or_mdd", "log_or_trd_vs_trmdd", "log_hr_time_to_trd"} <= set(
        effects.columns
    )
    assert len(effects) == 61 and (effects["log_or_mdd"] > 0).sum() >= 38
    values = pd.read_parquet(tiny_study / "truth" / "genetic_values.parquet")
    assert values.shape[1] == 62
    np.testing.assert_allclose(values.drop(columns="person_id").std(ddof=0), 1.0, atol=1e-9)
