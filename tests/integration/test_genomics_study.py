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
    for platform in ("wgs", "array"):
        planted = truth[truth.platform == platform]
        counts = summary["platforms"][platform]
        expected = planted["planted_fail"].value_counts()
        assert {r: counts[r] for r in QC_RULES} == {r: int(expected.get(r, 0)) for r in QC_RULES}
        assert counts["n_input"] == len(planted)
        kept = pd.read_parquet(out / "qc" / f"variants_{platform}.parquet")
        good = planted[planted["planted_fail"].isna()]
        assert set(zip(kept.contig, kept.position, strict=True)) == set(
            zip(good.contig, good.position, strict=True)
        )


def test_dosage_cache_holds_the_weight_sites_and_cohort_members(stage_outputs):
    study, out, _, _, _ = stage_outputs
    truth = pd.read_parquet(study / "truth" / "variants.parquet")
    cohorts = pd.read_parquet(out / "qc" / "cohorts.parquet")
    summary = json.loads((out / "qc" / "summary.json").read_text())
    for platform in ("wgs", "array"):
        kept = pd.read_parquet(out / "qc" / f"variants_{platform}.parquet")
        cached = kept[kept["var_idx"].notna()].sort_values("var_idx")
        # qc.cache_sites: weights -> exactly the kept sites some weight file names
        planted = truth[(truth.platform == platform) & truth["planted_fail"].isna()]
        weight_sites = planted[planted["weight_site"]]
        assert set(cached.position) == set(weight_sites.position) < set(kept.position)
        assert cached["var_idx"].tolist() == list(range(len(cached)))
        assert summary["platforms"][platform]["n_in_cache"] == len(cached)
        fam = pd.read_csv(out / "qc" / f"dosages_{platform}.fam", sep=r"\s+", header=None)
        members = cohorts[(cohorts.platform == platform) & cohorts.cohort.notna()]
        by_person = dict(zip(members.person_id, members.cohort, strict=True))
        fam_cohorts = [by_person[int(p)] for p in fam[1]]
        assert len(fam) == len(members)
        # each cohort is one contiguous run of .fam rows
        runs = [c for i, c in enumerate(fam_cohorts) if i == 0 or c != fam_cohorts[i - 1]]
        assert len(runs) == len(set(runs))


def test_cohorts_match_truth(stage_outputs):
    study, out, _, _, _ = stage_outputs
    cohorts = pd.read_parquet(out / "qc" / "cohorts.parquet")
    assert cohorts["person_id"].dtype == np.int64
    assert [f"pc{i}" for i in range(1, 17)] == [c for c in cohorts.columns if c[2:].isdigit()]
    assert set(cohorts["pcs_source"]) == {"ancestry_file"}
    truth = pd.read_parquet(study / "truth" / "persons.parquet")
    truth = truth[truth["cohort"].notna()]
    ours = cohorts[cohorts["cohort"].notna()]
    assert dict(zip(ours.person_id, ours.cohort, strict=True)) == dict(
        zip(truth.person_id, truth.cohort, strict=True)
    )
    attrition = pd.read_parquet(out / "qc" / "cohort_attrition.parquet").set_index("step")
    for cohort, n in truth["cohort"].value_counts().items():
        assert attrition.loc[cohort, "n_persons"] == n


def test_match_report_matches_planted_weight_kinds(stage_outputs):
    study, _, staging, _, _ = stage_outputs
    report = pd.read_parquet(staging / "pgs" / "match_report.parquet")
    weights = pd.read_parquet(study / "truth" / "weights.parquet")
    for platform in ("wgs", "array"):
        rows = report[report.platform == platform].set_index("trait")
        on = weights[f"on_{platform}"]
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


def test_scores_track_true_genetic_values(stage_outputs):
    study, _, staging, _, _ = stage_outputs
    values = pd.read_parquet(study / "truth" / "genetic_values.parquet").set_index("person_id")
    effects = pd.read_csv(study / "truth" / "effects.tsv", sep="\t").set_index("trait")
    for cohort, platform in (
        ("wgs_european", "wgs"),
        ("wgs_diverse", "wgs"),
        ("microarray", "array"),
    ):
        scores = pd.read_parquet(staging / "pgs" / f"{cohort}.parquet").set_index("person_id")
        truth = values.loc[scores.index]
        r = np.array([np.corrcoef(scores[t], truth[t])[0, 1] for t in effects.index])
        expected = effects[f"pgs_r_{platform}"].to_numpy()
        # the simulator's expectation is over the whole platform; a cohort of ~130-260
        # persons scatters around it by about (1 - r^2) / sqrt(n)
        assert np.median(np.abs(r - expected)) < 0.03, (cohort, r, expected)
        assert np.all(np.abs(r - expected) < 0.12), (cohort, r, expected)
        z = scores[[f"{t}_z" for t in effects.index]]
        np.testing.assert_allclose(z.mean().to_numpy(), 0, atol=1e-9)
        np.testing.assert_allclose(z.std(ddof=1).to_numpy(), 1, rtol=1e-9)
