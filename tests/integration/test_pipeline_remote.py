"""Stage outputs on a Hadoop file system URI go through the same runner (file:// stands in for gs://)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_pipeline import make_config
from trd_spark import pipeline
from trd_spark.config import Config
from trd_spark.pipeline import read_manifest, run_stages
from trd_spark.study import STAGE_FOLDERS

pytestmark = pytest.mark.integration


def test_remote_output_dir_is_moved_and_manifested(spark, tmp_path: Path, monkeypatch) -> None:
    calls: list[str] = []

    def fake_stage(stage: str):
        def run(config: Config, out_dir: str) -> dict[str, Any]:
            assert out_dir.startswith("file://")
            folder = Path(out_dir.removeprefix("file://")) / STAGE_FOLDERS[stage][0]
            folder.mkdir(parents=True)
            (folder / "out.txt").write_text(f"{stage} {len(calls)}")
            calls.append(stage)
            return {}

        return run

    for stage in STAGE_FOLDERS:
        monkeypatch.setitem(pipeline.STAGE_FUNCTIONS, stage, fake_stage(stage))
    local = make_config(tmp_path)
    config = dataclasses.replace(local, output_dir=f"file://{tmp_path}/remote-run")
    run_stages(["qc", "score"], config)
    assert (tmp_path / "remote-run" / "pgs" / "out.txt").read_text() == "score 1"
    assert not (tmp_path / "remote-run" / "_staging").exists()
    assert read_manifest(config.output_dir, "score") is not None
    run_stages(["qc", "score"], config, force=True)
    assert (tmp_path / "remote-run" / "qc" / "out.txt").read_text() == "qc 2"
    assert run_stages(["qc"], config)["qc"]["skipped"] == "up to date"
