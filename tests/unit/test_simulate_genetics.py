"""The genetic side of the simulator has the shape of real data (issue 18): who is in the
ancestry file and on the array, the array's share of the weight sites, correlated traits,
ancestry-dependent accuracy and mean shifts, and QC expectations per assay."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from trd_spark.config import ASSAY_QC_DEFAULTS
from trd_spark.resources import conf_path
from trd_spark.simulate.dosages import expected_rule, failed_rules
from trd_spark.simulate.effects import build_effects
from trd_spark.simulate.genetics import simulate_genetics
from trd_spark.simulate.genotypes import PlinkTarget
from trd_spark.simulate.persons import build_persons
from trd_spark.simulate.plan import plan_unit
from trd_spark.simulate.scales import GroupFractions, get_scale
from trd_spark.simulate.variants import array_weight_shares, build_variant_table
from trd_spark.simulate.weights import GENETIC_CLUSTERS, PLANTED_SHIFT, draw_true_effects


@pytest.fixture(scope="module")
def traits() -> pd.DataFrame:
    return pd.read_csv(conf_path("traits.tsv"), sep="\t")


def test_the_ancestry_file_covers_wgs_persons_only_and_some_wgs_persons_are_on_the_array():
    persons = build_persons(np.random.default_rng(4), get_scale("demo"))
    wgs = persons["platform"] == "wgs"
    array_only = persons["platform"] == "array"
    assert not persons.loc[array_only, "in_ancestry_file"].any()
    assert not persons.loc[persons["platform"].isna(), "in_ancestry_file"].any()
    absent = (wgs & ~persons["in_ancestry_file"]).sum()
    assert absent >= 1 and abs(absent / wgs.sum() - 0.005) < 0.002
    assert persons.loc[array_only, "on_array"].all()
    assert abs(persons.loc[wgs, "on_array"].mean() - 0.4) < 0.02
    assert not persons.loc[persons["platform"].isna(), "on_array"].any()
    # the microarray cohort holds array-only persons: a WGS person on the array is not in it
    assert set(persons.loc[persons["cohort"] == "microarray", "platform"]) == {"array"}


def test_the_array_carries_about_45_percent_of_the_weight_sites_unevenly():
    shares = array_weight_shares(np.random.default_rng(1), 22)
    assert shares.mean() == pytest.approx(0.45) and shares.max() - shares.min() > 0.25
    table = build_variant_table(np.random.default_rng(2), 60_000, 22)
    weight_sites = table[table["hm3"] & table["on_wgs"]]
    by_chrom = weight_sites.groupby("chrom")["on_array"].mean()
    assert abs(weight_sites["on_array"].mean() - 0.45) < 0.02
    assert by_chrom.max() - by_chrom.min() > 0.2
    assert by_chrom.between(0.25, 0.65).all()  # 0.45 +- 0.15, plus sampling noise
    # every site planted to fail a rule that needs genotypes is a weight site
    entry_kinds = table["kind"].isin(["call_rate", "population_af", "overall_af", "excess_het"])
    assert table.loc[entry_kinds, "hm3"].all()


def test_cluster_traits_share_a_genetic_component(traits):
    names = traits["trait"].tolist()
    effects = draw_true_effects(np.random.default_rng(3), 40_000, names)
    r = np.corrcoef(effects.T)
    index = {t: i for i, t in enumerate(names)}
    for members in GENETIC_CLUSTERS.values():
        pairs = [(a, b) for a in members for b in members if a < b and a in index and b in index]
        assert pairs
        for a, b in pairs:
            # sqrt(w_a) sqrt(w_b): the shared component's share of each trait's variance
            want = np.sqrt(members[a] * members[b])
            assert abs(r[index[a], index[b]] - want) < 0.03, (a, b)
    assert abs(r[index["insomnia"], index["height"]]) < 0.03
    np.testing.assert_allclose(effects.var(axis=0), effects.var(axis=0).mean(), rtol=0.1)


def test_a_planted_shift_trait_has_no_trd_effect(traits):
    effects = build_effects(traits).set_index("trait")
    planted = effects[effects["ancestry_shift_planted"]]
    assert set(planted.index) == set(PLANTED_SHIFT)
    assert (planted["log_or_trd_vs_trmdd"] == 0).all()
    assert (planted["log_hr_time_to_trd"] == 0).all()
    assert effects.loc["intelligence", "genetic_cluster"] == "education_cognition"


def test_scores_shift_by_ancestry_and_track_the_diverse_set_less_well(tmp_path, traits):
    sizes = dataclasses.replace(get_scale("tiny"), n_sites=1_500)
    persons = build_persons(np.random.default_rng([3, 1]), sizes)
    genetics = simulate_genetics(tmp_path, 3, sizes, persons, traits, True)
    assert genetics.ancestry_shift is not None
    shift = pd.Series(genetics.ancestry_shift, index=traits["trait"])
    assert (shift[list(PLANTED_SHIFT)].abs() > 1.5).all()
    others = shift.drop(list(PLANTED_SHIFT))
    assert others.abs().median() < 0.6
    # the truth is centred within ancestry groups: its group means do not differ
    truth = genetics.genetic_values
    eur = (persons["cohort"] == "wgs_european").to_numpy()
    div = (persons["cohort"] == "wgs_diverse").to_numpy()
    height = traits["trait"].tolist().index("height")
    gap = truth[div, height].mean() - truth[eur, height].mean()
    assert abs(gap) < 4 / np.sqrt(div.sum())
    r = genetics.pgs_correlation
    assert np.median(r["wgs_european"]) - np.median(r["wgs_diverse"]) > 0.15


def test_an_array_expects_no_population_af_rule():
    assert ASSAY_QC_DEFAULTS["array"]["population_af"] is False
    assert expected_rule("population_af", True) == "population_af"
    assert expected_rule("population_af", False) == "overall_af"
    assert expected_rule("good", False) is None and expected_rule("call_rate", False) == "call_rate"
    # one carrier among 300: fails the population-AF rule, or without it the overall-AF rule
    columns = np.zeros((300, 1), dtype=np.int8)
    columns[0, 0] = 1
    group = np.repeat(np.arange(3), 100)
    assert failed_rules(columns, np.array([True]), group, True) == ["population_af"]
    assert failed_rules(columns, np.array([True]), group, False) == ["overall_af"]


def test_plink_targets_write_the_same_rows_but_the_export_drops_three_allele_ones(tmp_path):
    sites = pd.DataFrame(
        {"contig": ["chr1"] * 3, "chrom": [1] * 3, "position": [10, 20, 30],
         "rsid": ["rs1", "rs2", "rs3"], "ref": ["A", "C", "G"], "alt": ["G", "T,A", "T"],
         "kind": ["good", "multiallelic", "good"]}
    )  # fmt: skip
    columns = np.array([[0, 1, 2], [2, -1, 1], [1, 1, 0], [0, 0, 0], [2, 2, 2]], dtype=np.int8)
    full, export = PlinkTarget(tmp_path / "full"), PlinkTarget(tmp_path / "export", True)
    for target in (full, export):
        target.start()
        target.append(sites, columns)
        target.finish(np.arange(5) + 100, np.ones(5, dtype=int))
    bytes_per_site = 2  # 5 persons, 4 per byte
    full_bed = (tmp_path / "full.bed").read_bytes()
    export_bed = (tmp_path / "export.bed").read_bytes()
    assert len(full_bed) == 3 + 3 * bytes_per_site and len(export_bed) == 3 + 2 * bytes_per_site
    kept_rows = full_bed[3 : 3 + bytes_per_site] + full_bed[3 + 2 * bytes_per_site :]
    assert export_bed[3:] == kept_rows
    export_bim = (tmp_path / "export.bim").read_text().splitlines()
    assert [line.split("\t")[1] for line in export_bim] == ["rs1", "rs3"]
    assert (tmp_path / "full.fam").read_text() == (tmp_path / "export.fam").read_text()


def test_an_ancestry_hazard_term_delays_trd():
    rng = np.random.default_rng(5)
    n = 4_000
    effects = pd.DataFrame({"log_or_mdd": [0.0], "log_hr_time_to_trd": [0.0]})
    fractions = GroupFractions(trmdd=0.45, trd=0.15, mdd_untreated=0.05, mdd_psych=0.05)
    offset = np.where(np.arange(n) % 2 == 0, 0.0, -1.5)
    plan = plan_unit(rng, np.zeros((n, 1)), np.zeros(n), effects, fractions,
                     np.full(n, 5_000), offset)  # fmt: skip
    trd = plan["group"].to_numpy() == "trd"
    treated = np.isin(plan["group"].to_numpy(), ["trd", "trmdd"])
    share = [trd[(offset == o) & treated].mean() for o in (0.0, -1.5)]
    assert share[0] > 2 * share[1]
