"""The one file layer (pyarrow.fs) on plain paths and on URIs; no Spark or Hail session.

``file://`` URIs take the same code as ``gs://`` and ``s3://`` (a client from
``pyarrow.fs.FileSystem.from_uri``), so they stand in for a bucket here; the object-store
specific parts (the path inside the bucket, copy-and-delete moves) are checked on names.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trd_spark import storage
from trd_spark.uri import is_remote


@pytest.fixture(params=["plain", "file-uri"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    """A run folder as a plain path or as a file:// URI, and where it is on disk."""
    folder = tmp_path / "run"
    return (str(folder) if request.param == "plain" else f"file://{folder}"), folder


def test_small_files_round_trip(root: tuple[str, Path]) -> None:
    base, disk = root
    frame = pd.DataFrame({"person_id": [3, 1, 2], "pgs": [0.5, -1.25, 2.0]})
    table = storage.join(base, "pgs", "cohort.parquet")
    storage.write_parquet(frame, table)
    assert (disk / "pgs" / "cohort.parquet").is_file()
    pd.testing.assert_frame_equal(storage.read_parquet(table), frame)
    summary = storage.join(base, "qc", "summary.json")
    storage.write_text(summary, '{"n": 2}')
    assert storage.exists(summary) and storage.read_text(summary) == '{"n": 2}'
    assert [p.name for p in (disk / "qc").iterdir()] == ["summary.json"]  # no temp file left
    assert storage.file_size(summary) == 8
    assert storage.read_range(summary, 1, 3) == b'"n"'
    assert storage.list_files(base) == ["pgs/cohort.parquet", "qc/summary.json"]
    storage.remove(storage.join(base, "qc"))
    assert not (disk / "qc").exists() and not storage.exists(summary)
    with pytest.raises(FileNotFoundError):
        storage.read_parquet(storage.join(base, "absent.parquet"))
    storage.remove(storage.join(base, "absent"))  # nothing there: no error


def test_reads_a_folder_of_parts_as_spark_writes_it(root: tuple[str, Path]) -> None:
    base, disk = root
    folder = disk / "persons.parquet"
    folder.mkdir(parents=True)
    for part, ids in enumerate([[0, 1], [2, 3, 4]]):
        pq.write_table(pa.table({"person_id": ids}), folder / f"part-{part:05d}.parquet")
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00001.parquet.crc").write_bytes(b"\0")
    back = storage.read_parquet(storage.join(base, "persons.parquet"))
    assert sorted(back["person_id"]) == [0, 1, 2, 3, 4]


def test_gzip_files_are_decompressed(root: tuple[str, Path]) -> None:
    base, disk = root
    disk.mkdir(parents=True)
    (disk / "w_chr1.txt.gz").write_bytes(gzip.compress(b"1\trs1\t100\tA\tG\t0.5\n"))
    assert storage.read_bytes(storage.join(base, "w_chr1.txt.gz")).startswith(b"1\trs1")
    frame = pd.read_csv(
        storage.open_bytes(storage.join(base, "w_chr1.txt.gz")), sep="\t", header=None
    )
    assert frame.iloc[0, 1] == "rs1"


def test_replace_moves_a_folder_over_the_old_one(root: tuple[str, Path]) -> None:
    base, disk = root
    (disk / "new").mkdir(parents=True)
    (disk / "new" / "a.txt").write_text("new")
    (disk / "old").mkdir()
    (disk / "old" / "b.txt").write_text("old")
    storage.replace(storage.join(base, "new"), storage.join(base, "old"))
    assert sorted(p.name for p in (disk / "old").iterdir()) == ["a.txt"]
    assert not (disk / "new").exists() and not (disk / "old.old").exists()
    storage.replace(storage.join(base, "gone"), storage.join(base, "old"))  # no source: no-op
    assert (disk / "old" / "a.txt").read_text() == "new"


def test_download_and_upload_copy_whole_folders(root: tuple[str, Path], tmp_path: Path) -> None:
    base, disk = root
    (disk / "manifests").mkdir(parents=True)
    (disk / "manifests" / "qc.json").write_text("{}")
    local = tmp_path / "local" / "manifests"
    assert storage.download(storage.join(base, "manifests"), str(local))
    assert (local / "qc.json").read_text() == "{}"
    assert not storage.download(storage.join(base, "absent"), str(tmp_path / "local" / "x"))
    report = tmp_path / "report"
    (report / "tables").mkdir(parents=True)
    (report / "index.html").write_text("<html>")
    (report / "tables" / "t.csv").write_text("a\n1\n")
    written = storage.upload(str(report), storage.join(base, "_staging", "report"))
    assert written == [
        storage.join(base, "_staging", "report", "index.html"),
        storage.join(base, "_staging", "report", "tables", "t.csv"),
    ]
    assert (disk / "_staging" / "report" / "tables" / "t.csv").read_text() == "a\n1\n"


@pytest.mark.parametrize(
    ("uri", "inner"),
    [
        ("gs://bucket/run/qc/summary.json", "bucket/run/qc/summary.json"),
        ("s3://bucket/run/pgs", "bucket/run/pgs"),
        ("file:///data/run/qc", "/data/run/qc"),
        ("hdfs://namenode:8020/user/run", "/user/run"),
    ],
)
def test_uris_name_the_path_inside_their_file_system(uri: str, inner: str) -> None:
    assert is_remote(uri)
    assert storage.inner_path(uri) == inner


def test_join_keeps_uri_schemes_and_plain_paths() -> None:
    assert storage.join("gs://bucket/run/", "qc", "cohorts.parquet") == (
        "gs://bucket/run/qc/cohorts.parquet"
    )
    assert storage.join("s3://bucket/run", "/pgs/", "x.parquet") == "s3://bucket/run/pgs/x.parquet"
    assert storage.join("/data/run", "qc") == "/data/run/qc"
    assert not is_remote("/data/run") and not is_remote("relative/run")


def test_object_stores_need_no_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_client(path: str) -> object:
        raise AssertionError(f"makedirs({path}) should not reach a client")

    monkeypatch.setattr(storage, "filesystem", no_client)
    storage.makedirs("gs://bucket/run/qc")
    storage.makedirs("s3://bucket/run/qc")
