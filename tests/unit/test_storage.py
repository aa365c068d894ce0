"""Small-output I/O on local paths."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trd_spark import storage


def test_local_round_trip(tmp_path: Path) -> None:
    frame = pd.DataFrame({"person_id": [3, 1], "pgs": [0.5, -1.25]})
    path = storage.join(str(tmp_path), "pgs", "cohort.parquet")
    storage.write_parquet(frame, path)
    pd.testing.assert_frame_equal(storage.read_parquet(path), frame)
    storage.write_text(storage.join(str(tmp_path), "qc", "summary.json"), '{"n": 1}')
    assert storage.read_text(str(tmp_path / "qc" / "summary.json")) == '{"n": 1}'
    assert not (tmp_path / "qc" / "summary.json.tmp").exists()


def test_missing_table_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        storage.read_parquet(str(tmp_path / "absent.parquet"))


def test_join_keeps_uri_schemes() -> None:
    assert (
        storage.join("gs://bucket/run/", "qc", "cohorts.parquet")
        == "gs://bucket/run/qc/cohorts.parquet"
    )
    assert storage.join("/data/run", "qc") == "/data/run/qc"


def test_replace_moves_a_folder_over_the_old_one(tmp_path: Path) -> None:
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a.txt").write_text("new")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "b.txt").write_text("old")
    storage.replace(str(tmp_path / "new"), str(tmp_path / "old"))
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["a.txt"]
    assert not (tmp_path / "new").exists() and not (tmp_path / "old.old").exists()
