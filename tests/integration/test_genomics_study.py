"""The qc and score stages on the tiny simulated study, checked against its truth/ folder."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from trd_spark.config import load_config
from trd_spark.genomics.qc import QC_RULES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stage_outputs(tiny_study, tmp_path_factory):
    from trd_spark.genomics.stage import run_qc, run_score

    out = tmp_path_factory.mktemp("genomics_stages")
    config = dataclasses.replace(load_config(tiny_study / "config.yaml"), output_dir=str(out))
    qc_summary = run_qc(config, str(out))
    score_summary = run_score(config, str(out / "_score_staging"))
    return tiny_study, out, out / "_score_staging", qc_summary, score_summary


def test_qc_removes_exactly_the_planted_sites(stage_outputs):
    study, out, _, _, _ = stage_outputs
    truth = pd.read_parquet(study / "truth" / "variants.parquet")
    summary = json.loads((out / "qc" / "summary.json").read_text())
    for platform, population_af in (("wgs", True), ("array", False)):
        planted = truth[truth.platform == platform]
        counts = summary["platforms"][platform]
        expected = planted["planted_fail"].value_counts()
        want = {r: int(expected.get(r, 0)) for r in QC_RULES}
        if not population_af:  # the array's default policy: the rule is off, not applied
            assert "population_af" not in expected.index
            want["population_af"] = "off"
        assert {r: counts[r] for r in QC_RULES} == want
        assert counts["n_input"] == len(planted)
        # QC examines the sites some weight file names; the good sites no weight names are
        # counted, not examined
        good = planted[planted["planted_fail"].isna()]
        assert counts["outside_weights"] == int((~good["weight_site"]).sum()) > 0
        kept = pd.read_parquet(out / "qc" / f"variants_{platform}.parquet")
        good = good[good["weight_site"]]
        assert set(zip(kept.contig, kept.position, strict=True)) == set(
            zip(good.contig, good.position, strict=True)
        )
        assert counts["n_kept"] == len(kept)
        assert summary["policy"][platform]["min_overlap"] == (0.75 if population_af else 0.30)


def test_dosage_cache_holds_the_weight_sites_and_every_person(stage_outputs):
    _, out, _, _, _ = stage_outputs
    cohorts = pd.read_parquet(out / "qc" / "cohorts.parquet")
    summary = json.loads((out / "qc" / "summary.json").read_text())
    for platform in ("wgs", "array"):
        kept = pd.read_parquet(out / "qc" / f"variants_{platform}.parquet")
        cached = kept[kept["var_idx"].notna()].sort_values("var_idx")
        examined = summary["platforms"][platform]["n_in_cache"]
        assert len(cached) == len(kept) and 0 < len(kept) < examined  # failed sites are cached
        assert cached["var_idx"].is_unique and cached["var_idx"].max() < examined
        fam = pd.read_csv(out / "qc" / f"dosages_{platform}.fam", sep=r"\s+", header=None)
        on_platform = cohorts[cohorts.platform == platform]
        assert sorted(fam[1]) == sorted(on_platform.person_id)
        by_person = dict(zip(on_platform.person_id, on_platform.cohort, strict=True))
        fam_cohorts = [by_person[int(p)] for p in fam[1]]
        members = [c for c in fam_cohorts if c is not None]
        # cohort members first, each cohort one contiguous run, then the persons in no cohort
        assert fam_cohorts[: len(members)] == members
        runs = [c for i, c in enumerate(members) if i == 0 or c != members[i - 1]]
        assert len(runs) == len(set(runs))


def test_cohorts_match_truth(stage_outputs):
    study, out, _, _, _ = stage_outputs
    cohorts = pd.read_parquet(out / "qc" / "cohorts.parquet")
    assert cohorts["person_id"].dtype == np.int64
    assert [f"pc{i}" for i in range(1, 17)] == [c for c in cohorts.columns if c[2:].isdigit()]
    truth = pd.read_parquet(study / "truth" / "persons.parquet")
    truth = truth[truth["cohort"].notna()]
    ours = cohorts[cohorts["cohort"].notna()]
    assert dict(zip(ours.person_id, ours.cohort, strict=True)) == dict(
        zip(truth.person_id, truth.cohort, strict=True)
    )
    attrition = pd.read_parquet(out / "qc" / "cohort_attrition.parquet").set_index("step")
    for cohort, n in truth["cohort"].value_counts().items():
        assert attrition.loc[cohort, "n_persons"] == n


def test_every_cohort_member_has_pcs_from_one_source(stage_outputs):
    study, out, _, _, _ = stage_outputs
    cohorts = pd.read_parquet(out / "qc" / "cohorts.parquet")
    pcs = [f"pc{i}" for i in range(1, 17)]
    members = cohorts[cohorts["cohort"].notna()]
    assert members[pcs].notna().all().all()
    sources = members.groupby("cohort")["pcs_source"].agg(set).to_dict()
    # the WGS sets take the ancestry file's PCs; the array persons are absent from it, so
    # the microarray set is projected onto a PCA of the array's persons outside it (the
    # WGS persons also genotyped on the array)
    assert sources == {
        "wgs_european": {"ancestry_file"},
        "wgs_diverse": {"ancestry_file"},
        "microarray": {"projected"},
    }
    attrition = pd.read_parquet(out / "qc" / "cohort_attrition.parquet").set_index("step")
    n_micro = int((members["cohort"] == "microarray").sum())
    assert attrition.loc["microarray: pcs_projected", "n_persons"] == n_micro
    assert not attrition.index.str.endswith("no_pcs").any()
    # persons in no cohort keep the file's PCs when it has them, else none
    others = cohorts[cohorts["cohort"].isna()]
    assert set(others["pcs_source"].dropna()) <= {"ancestry_file"}
    # the projected PCs separate the true ancestry groups of the microarray set
    truth = pd.read_parquet(study / "truth" / "persons.parquet").set_index("person_id")
    micro = members[members["cohort"] == "microarray"]
    groups = truth.loc[micro["person_id"], "ancestry"].to_numpy()
    x = micro[pcs[:4]].to_numpy()
    main = [g for g in ("eur", "afr", "amr") if (groups == g).sum() >= 10]
    centroids = {g: x[groups == g].mean(0) for g in main}
    rows = np.isin(groups, main)
    nearest = [min(centroids, key=lambda g: np.sum((p - centroids[g]) ** 2)) for p in x[rows]]
    assert np.mean(np.array(nearest) == groups[rows]) > 0.8


def test_match_report_matches_planted_weight_kinds(stage_outputs):
    study, _, staging, _, _ = stage_outputs
    report = pd.read_parquet(staging / "pgs" / "match_report.parquet")
    weights = pd.read_parquet(study / "truth" / "weights.parquet")
    for platform in ("wgs", "array"):
        rows = report[report.platform == platform].set_index("trait")
        # a weight site planted to fail QC is genotyped but not kept
        on = weights[f"on_{platform}"] & ~weights["fails_qc"]
        expected = (
            weights.assign(
                matched=weights.kind.isin(["matched", "flipped"]) & on,
                flipped=(weights.kind == "flipped") & on,
                # A/T or C/G weights are dropped before matching, also those the simulator
                # labels "absent" (no genotyped site); worked out here from the alleles
                ambiguous=(weights.a1 + weights.a2).isin(["AT", "TA", "CG", "GC"]),
            )
            .groupby("trait")[["matched", "flipped", "ambiguous"]]
            .sum()
        )
        assert (rows.loc[expected.index, "n_matched"] == expected["matched"]).all()
        assert (rows.loc[expected.index, "n_flipped"] == expected["flipped"]).all()
        assert (rows.loc[expected.index, "n_ambiguous_dropped"] == expected["ambiguous"]).all()
        assert (rows["n_in_file"] == weights.groupby("trait").size().loc[rows.index]).all()
        n_missing = rows["n_in_file"] - rows["n_matched"] - rows["n_ambiguous_dropped"]
        assert (rows["n_missing"] == n_missing).all() and (rows["n_duplicates"] == 0).all()
        # every trait is above the platform's floor: all scored (the array carries ~45%)
        floor = 0.75 if platform == "wgs" else 0.30
        assert (rows["min_overlap"] == floor).all() and rows["scored"].all()
        if platform == "array":
            assert rows["overlap"].between(0.3, 0.5).all()


def test_scores_track_true_genetic_values(stage_outputs):
    study, _, staging, _, _ = stage_outputs
    values = pd.read_parquet(study / "truth" / "genetic_values.parquet").set_index("person_id")
    effects = pd.read_csv(study / "truth" / "effects.tsv", sep="\t").set_index("trait")
    found = {}
    for cohort in ("wgs_european", "wgs_diverse", "microarray"):
        scores = pd.read_parquet(staging / "pgs" / f"{cohort}.parquet").set_index("person_id")
        truth = values.loc[scores.index]
        r = np.array([np.corrcoef(scores[t], truth[t])[0, 1] for t in effects.index])
        # the simulator's expectation for the same persons (its score imputes a missing call
        # at the platform's mean, the pipeline at the cohort's)
        expected = effects[f"pgs_r_{cohort}"].to_numpy()
        assert np.max(np.abs(r - expected)) < 0.02, (cohort, r, expected)
        z = scores[[f"{t}_z" for t in effects.index]]
        np.testing.assert_allclose(z.mean().to_numpy(), 0, atol=1e-9)
        np.testing.assert_allclose(z.std(ddof=1).to_numpy(), 1, rtol=1e-9)
        found[cohort] = r
    # European weights: less accurate in the Diverse set
    assert np.median(found["wgs_european"]) - np.median(found["wgs_diverse"]) > 0.1


def test_raw_scores_shift_by_ancestry_as_planted(stage_outputs):
    study, _, staging, _, _ = stage_outputs
    effects = pd.read_csv(study / "truth" / "effects.tsv", sep="\t").set_index("trait")
    european = pd.read_parquet(staging / "pgs" / "wgs_european.parquet")
    diverse = pd.read_parquet(staging / "pgs" / "wgs_diverse.parquet")
    traits = effects.index
    shift = (diverse[traits].mean() - european[traits].mean()) / european[traits].std(ddof=1)
    np.testing.assert_allclose(shift, effects["ancestry_mean_shift"], atol=0.05)
    planted = effects[effects["ancestry_shift_planted"]]
    assert len(planted) >= 1 and (planted["log_hr_time_to_trd"] == 0).all()
    assert (shift[planted.index].abs() > 1).all()
