"""The stage runner: order, staging and atomic moves, manifests, skip / force / resume."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trd_spark import pipeline
from trd_spark.config import Config, config_from_dict
from trd_spark.pipeline import read_manifest, run_stages
from trd_spark.study import STAGE_FOLDERS, STAGES, parse_stages


def make_config(tmp_path: Path) -> Config:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "omop.txt").write_text("omop v1")
    return config_from_dict(
        {
            "output_dir": "run",
            "genotypes": {"wgs": {"path": "data/wgs.mt"}},
            "cohorts": {"all": {"genotypes": "wgs", "role": "discovery"}},
            "weights": {"path": "data/weights"},
            "omop": {"path": "data/omop.txt"},
        },
        base_dir=tmp_path,
    )


class FakeStages:
    """Stage functions that write one file each and record their calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail: set[str] = set()

    def function(self, stage: str) -> Callable[[Config, str], dict[str, Any]]:
        def run(config: Config, out_dir: str) -> dict[str, Any]:
            self.calls.append(stage)
            folder = Path(out_dir) / STAGE_FOLDERS[stage][0]
            folder.mkdir(parents=True)
            (folder / "out.txt").write_text(f"{stage} run {self.calls.count(stage)}")
            if stage in self.fail:
                raise RuntimeError(f"{stage} killed")
            return {"rows": 1}

        return run


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeStages:
    stages = FakeStages()
    for stage in STAGES:
        monkeypatch.setitem(pipeline.STAGE_FUNCTIONS, stage, stages.function(stage))
    return stages


def output(config: Config, stage: str) -> str:
    return (Path(config.output_dir) / STAGE_FOLDERS[stage][0] / "out.txt").read_text()


def test_parse_stages_orders_and_rejects_unknown() -> None:
    assert parse_stages("report,qc, score") == ["qc", "score", "report"]
    with pytest.raises(ValueError, match="unknown stage"):
        parse_stages("qc,scoring")
    with pytest.raises(ValueError, match="none given"):
        parse_stages(" , ")


def test_stages_run_in_order_and_write_manifests(tmp_path: Path, fake: FakeStages) -> None:
    config = make_config(tmp_path)
    manifests = run_stages(["report", "qc", "score"], config)
    assert fake.calls == ["qc", "score", "report"]
    assert output(config, "score") == "score run 1"
    manifest = read_manifest(config.output_dir, "score")
    assert manifest is not None and manifest["summary"] == {"rows": 1}
    assert manifest["fingerprint"] == manifests["score"]["fingerprint"]
    assert "hail" in manifest["versions"] and manifest["seconds"] >= 0
    assert not (Path(config.output_dir) / "_staging").exists()


def test_second_run_skips_and_force_redoes(tmp_path: Path, fake: FakeStages) -> None:
    config = make_config(tmp_path)
    run_stages(["qc", "score"], config)
    again = run_stages(["qc", "score"], config)
    assert fake.calls == ["qc", "score"]
    assert again["qc"]["skipped"] == "up to date"
    run_stages(["qc", "score"], config, force=True)
    assert fake.calls == ["qc", "score", "qc", "score"]
    assert output(config, "qc") == "qc run 2"


def test_config_change_reruns_the_stage_and_what_reads_it(tmp_path: Path, fake: FakeStages) -> None:
    config = make_config(tmp_path)
    run_stages(["qc", "score", "phenotype"], config)
    changed = dataclasses.replace(config, qc=dataclasses.replace(config.qc, min_call_rate=0.9))
    run_stages(["qc", "score", "phenotype"], changed)
    # qc changed; score reads qc, phenotype reads qc (cohorts): all three rerun
    assert fake.calls == ["qc", "score", "phenotype", "qc", "score", "phenotype"]
    (tmp_path / "data" / "omop.txt").write_text("omop v2, a larger file")
    run_stages(["qc", "score", "phenotype"], changed)
    assert fake.calls[6:] == ["phenotype"]


def test_run_killed_in_a_stage_resumes_there(tmp_path: Path, fake: FakeStages) -> None:
    config = make_config(tmp_path)
    fake.fail = {"score"}
    with pytest.raises(RuntimeError, match="score killed"):
        run_stages(["qc", "score", "phenotype"], config)
    assert read_manifest(config.output_dir, "qc") is not None
    assert read_manifest(config.output_dir, "score") is None
    assert not (Path(config.output_dir) / "pgs").exists()  # half-written output never moved in
    fake.fail = set()
    run_stages(["qc", "score", "phenotype"], config)
    assert fake.calls == ["qc", "score", "score", "phenotype"]
    assert output(config, "score") == "score run 2"
    assert not (Path(config.output_dir) / "_staging").exists()


def test_failed_rerun_keeps_the_finished_outputs(tmp_path: Path, fake: FakeStages) -> None:
    config = make_config(tmp_path)
    run_stages(["qc", "score"], config)
    before = read_manifest(config.output_dir, "score")
    fake.fail = {"score"}
    with pytest.raises(RuntimeError, match="score killed"):
        run_stages(["score"], config, force=True)
    assert output(config, "score") == "score run 1"
    assert read_manifest(config.output_dir, "score") == before
    fake.fail = set()
    assert run_stages(["score"], config)["score"]["skipped"] == "up to date"


def test_stage_without_manifest_is_redone(tmp_path: Path, fake: FakeStages) -> None:
    config = make_config(tmp_path)
    run_stages(["qc"], config)
    Path(pipeline.manifest_path(config.output_dir, "qc")).unlink()
    run_stages(["qc"], config)
    assert fake.calls == ["qc", "qc"]


def test_every_stage_has_a_function() -> None:
    assert list(pipeline.STAGE_FUNCTIONS) == list(STAGES)
    assert all(callable(function) for function in pipeline.STAGE_FUNCTIONS.values())
