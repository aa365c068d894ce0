"""The same I/O on Hadoop URIs (file:// stands in for gs:// and s3://), through Hail's file system."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trd_spark import storage

pytestmark = pytest.mark.integration


def test_uri_round_trip(spark, tmp_path: Path) -> None:
    root = f"file://{tmp_path}/run"
    frame = pd.DataFrame({"person_id": [3, 1, 2], "pgs": [0.5, -1.25, 2.0]})
    storage.write_parquet(frame, storage.join(root, "pgs", "cohort.parquet"))
    assert (tmp_path / "run" / "pgs" / "cohort.parquet").is_file()
    back = storage.read_parquet(storage.join(root, "pgs", "cohort.parquet"))
    pd.testing.assert_frame_equal(
        back.sort_values("person_id").reset_index(drop=True),
        frame.sort_values("person_id").reset_index(drop=True),
    )
    storage.write_text(storage.join(root, "qc", "summary.json"), '{"n": 2}')
    assert storage.exists(storage.join(root, "qc", "summary.json"))
    assert storage.read_text(storage.join(root, "qc", "summary.json")) == '{"n": 2}'
    storage.remove(storage.join(root, "qc"))
    assert not (tmp_path / "run" / "qc").exists()
    with pytest.raises(FileNotFoundError):
        storage.read_parquet(storage.join(root, "absent.parquet"))


def test_uri_reads_a_folder_spark_wrote(spark, tmp_path: Path) -> None:
    spark.range(5).withColumnRenamed("id", "person_id").repartition(2).write.parquet(
        str(tmp_path / "persons.parquet")
    )
    back = storage.read_parquet(f"file://{tmp_path}/persons.parquet")
    assert sorted(back["person_id"].tolist()) == [0, 1, 2, 3, 4]
