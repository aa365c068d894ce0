"""Reading and writing the pipeline's small outputs on a local disk or a cluster's object store.

Local paths use the local file system.  URIs (``gs://``, ``s3://``, ``hdfs://``, ``file://``)
go through Hail's Hadoop file system, which reads the object stores a Dataproc or EMR
cluster is configured for, so no extra Python package (gcsfs, s3fs) is needed.  Large
tables are written by Spark or Hail themselves, which take the same URIs.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trd_spark.uri import is_remote, join

__all__ = [
    "exists",
    "join",
    "makedirs",
    "read_parquet",
    "read_text",
    "remove",
    "replace",
    "write_parquet",
    "write_text",
]


def exists(path: str) -> bool:
    """True when a file or folder exists."""
    if is_remote(path):
        import hail as hl

        return bool(hl.hadoop_exists(path))
    return os.path.exists(path)


def makedirs(path: str) -> None:
    """Create a folder (object stores need none: a no-op there)."""
    if not is_remote(path):
        Path(path).mkdir(parents=True, exist_ok=True)


def read_text(path: str) -> str:
    """A whole text file."""
    if is_remote(path):
        import hail as hl

        with hl.hadoop_open(path) as handle:
            return str(handle.read())
    return Path(path).read_text()


def write_text(path: str, text: str) -> None:
    """Write a text file; locally through a temporary file so a reader never sees half of it."""
    if is_remote(path):
        import hail as hl

        with hl.hadoop_open(path, "w") as handle:
            handle.write(text)
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(path + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def read_parquet(path: str) -> pd.DataFrame:
    """A small Parquet table: one file (as pandas writes) or a folder of parts (as Spark writes).

    Raises FileNotFoundError when there is nothing at ``path``.
    """
    if is_remote(path):
        if not exists(path):
            raise FileNotFoundError(path)
        from hail.utils.java import Env

        return Env.spark_session().read.parquet(path).toPandas()
    return pd.read_parquet(path)


def write_parquet(frame: pd.DataFrame, path: str, schema: pa.Schema | None = None) -> None:
    """Write a small table as one Parquet file.

    With an Arrow ``schema``, the columns get its types and the file keeps no pandas
    metadata, so pandas reads it back as it reads a table Spark wrote (a nullable integer
    column with missing values as float); without, the types pandas infers.
    """
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    if schema is not None:
        table = table.replace_schema_metadata(None)
    if is_remote(path):
        import hail as hl

        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        with hl.hadoop_open(path, "wb") as handle:
            handle.write(buffer.getvalue())
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _hadoop_fs(path: str) -> tuple[Any, Any]:
    """Hadoop's FileSystem for ``path`` and a Path factory, through Hail's JVM."""
    from hail.utils.java import Env

    spark = Env.spark_session()
    jvm_path = spark._jvm.org.apache.hadoop.fs.Path
    return jvm_path(path).getFileSystem(spark._jsc.hadoopConfiguration()), jvm_path


def remove(path: str) -> None:
    """Delete a file or a folder with everything in it; nothing when absent."""
    if is_remote(path):
        fs, jvm_path = _hadoop_fs(path)
        fs.delete(jvm_path(path), True)
    elif os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def replace(source: str, target: str) -> None:
    """Move a finished folder into place, replacing what was there."""
    if not exists(source):
        return
    if is_remote(source):
        fs, jvm_path = _hadoop_fs(target)
        fs.delete(jvm_path(target), True)
        fs.rename(jvm_path(source), jvm_path(target))
        return
    old = target + ".old"
    remove(old)
    if os.path.exists(target):
        os.replace(target, old)
    os.replace(source, target)
    remove(old)
