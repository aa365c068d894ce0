"""The one file layer: small files on a local disk or an object store, from the driver and
from Spark tasks alike.

Everything goes through :mod:`pyarrow.fs`: local paths and ``file://`` through its local
file system, ``gs://`` through its Google Cloud Storage client (the cluster's default
credentials), ``s3://`` through its S3 client (the instance's credentials), ``hdfs://``
through libhdfs where the cluster has it.  No Spark or Hail session is needed, so the
driver reads a manifest before Hail starts and a Spark task reads a weight file the same
way.  Large tables are written by Spark or Hail themselves, which take the same URIs.
Paths are joined with :func:`trd_spark.uri.join`.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs

from trd_spark.uri import is_remote, join

__all__ = [
    "download",
    "exists",
    "file_size",
    "filesystem",
    "inner_path",
    "join",
    "list_files",
    "makedirs",
    "open_bytes",
    "read_bytes",
    "read_parquet",
    "read_range",
    "read_text",
    "remove",
    "replace",
    "upload",
    "write_bytes",
    "write_parquet",
    "write_text",
]

# object stores: no real folders, no rename (a "move" is a copy and a delete)
_OBJECT_STORES = {"s3", "gs", "gcs"}
# schemes whose path inside the file system starts after the host (hdfs://namenode:8020/x)
_HOST_SCHEMES = {"file", "hdfs", "viewfs"}


def inner_path(uri: str) -> str:
    """The path of ``uri`` inside its file system: ``gs://b/run/x`` -> ``b/run/x``,
    ``file:///tmp/x`` -> ``/tmp/x``, ``hdfs://nn:8020/x`` -> ``/x``."""
    parsed = urlparse(uri)
    if parsed.scheme in _HOST_SCHEMES:
        return parsed.path
    return parsed.netloc + parsed.path


@cache
def _remote_filesystem(root: str) -> fs.FileSystem:
    """One client per scheme and bucket (or name node), made once per process."""
    return fs.FileSystem.from_uri(root)[0]


def filesystem(path: str) -> tuple[fs.FileSystem, str]:
    """The pyarrow file system holding ``path`` and the path within it."""
    if not is_remote(path):
        return fs.LocalFileSystem(), os.path.abspath(path)
    parsed = urlparse(path)
    if parsed.scheme == "file":
        return fs.LocalFileSystem(), parsed.path
    return _remote_filesystem(f"{parsed.scheme}://{parsed.netloc}/"), inner_path(path)


def _info(path: str) -> tuple[fs.FileSystem, str, fs.FileInfo]:
    filesystem_, inner = filesystem(path)
    return filesystem_, inner, filesystem_.get_file_info(inner)


def exists(path: str) -> bool:
    """True when a file or folder exists."""
    return _info(path)[2].type != fs.FileType.NotFound


def makedirs(path: str) -> None:
    """Create a folder and its parents (an object store needs none: a no-op there)."""
    if urlparse(path).scheme in _OBJECT_STORES:
        return
    filesystem_, inner = filesystem(path)
    filesystem_.create_dir(inner, recursive=True)


def read_bytes(path: str) -> bytes:
    """A whole file (decompressed when its name ends in ``.gz``).

    Raises FileNotFoundError when there is nothing at ``path``.
    """
    filesystem_, inner = filesystem(path)
    with filesystem_.open_input_stream(inner, compression=None) as stream:
        data = bytes(stream.read())
    return gzip.decompress(data) if path.endswith(".gz") else data


def open_bytes(path: str) -> io.BytesIO:
    """A small file as an in-memory stream (for pandas readers)."""
    return io.BytesIO(read_bytes(path))


def read_text(path: str) -> str:
    """A whole text file (UTF-8)."""
    return read_bytes(path).decode("utf-8")


def write_bytes(path: str, data: bytes) -> None:
    """Write a file; locally through a temporary file so a reader never sees half of it
    (an object store shows a new object only when it is complete)."""
    if not is_remote(path) or urlparse(path).scheme == "file":
        local = Path(path if not is_remote(path) else inner_path(path))
        local.parent.mkdir(parents=True, exist_ok=True)
        # a hidden name: Spark and Arrow skip it when they read the folder, should a
        # killed task leave it behind
        tmp = local.with_name(f".{local.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(local)
        return
    filesystem_, inner = filesystem(path)
    with filesystem_.open_output_stream(inner, compression=None) as out:
        out.write(data)


def write_text(path: str, text: str) -> None:
    """Write a text file (UTF-8), as :func:`write_bytes`."""
    write_bytes(path, text.encode("utf-8"))


def file_size(path: str) -> int:
    """Size of a file in bytes."""
    return int(_info(path)[2].size)


def read_range(path: str, offset: int, nbytes: int) -> bytes:
    """``nbytes`` bytes of a file from ``offset``."""
    filesystem_, inner = filesystem(path)
    with filesystem_.open_input_file(inner) as handle:
        return bytes(handle.read_at(nbytes, offset))


def read_parquet(path: str) -> pd.DataFrame:
    """A small Parquet table: one file (as pandas writes) or a folder of parts (as Spark writes).

    Raises FileNotFoundError when there is nothing at ``path``.
    """
    filesystem_, inner, info = _info(path)
    if info.type == fs.FileType.NotFound:
        raise FileNotFoundError(path)
    return pd.read_parquet(inner, filesystem=filesystem_)


def write_parquet(frame: pd.DataFrame, path: str, schema: pa.Schema | None = None) -> None:
    """Write a small table as one Parquet file.

    With an Arrow ``schema``, the columns get its types and the file keeps no pandas
    metadata, so pandas reads it back as it reads a table Spark wrote (a nullable integer
    column with missing values as float); without, the types pandas infers.
    """
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    if schema is not None:
        table = table.replace_schema_metadata(None)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    write_bytes(path, buffer.getvalue())


def list_files(path: str) -> list[str]:
    """The files under a folder, as paths relative to it with ``/`` separators (sorted);
    ``[""]`` when ``path`` is itself a file, ``[]`` when nothing is there."""
    filesystem_, inner, info = _info(path)
    if info.type == fs.FileType.NotFound:
        return []
    if info.type == fs.FileType.File:
        return [""]
    found = filesystem_.get_file_info(fs.FileSelector(inner, recursive=True))
    base = inner.rstrip("/") + "/"
    return sorted(f.path[len(base) :] for f in found if f.type == fs.FileType.File)


def remove(path: str) -> None:
    """Delete a file or a folder with everything in it; nothing when absent."""
    if not is_remote(path):
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
        return
    filesystem_, inner, info = _info(path)
    if info.type == fs.FileType.Directory:
        filesystem_.delete_dir(inner)
    elif info.type == fs.FileType.File:
        filesystem_.delete_file(inner)


def replace(source: str, target: str) -> None:
    """Move a finished folder into place, replacing what was there (nothing when
    ``source`` is absent).  Locally the old folder is set aside first, so ``target`` is
    never missing for long; on an object store it is a copy and a delete."""
    if not exists(source):
        return
    if not is_remote(source):
        old = target + ".old"
        remove(old)
        if os.path.exists(target):
            os.replace(target, old)
        os.replace(source, target)
        remove(old)
        return
    remove(target)
    filesystem_, source_inner = filesystem(source)
    target_inner = filesystem(target)[1]
    if urlparse(source).scheme in _OBJECT_STORES:
        fs.copy_files(source_inner, target_inner, filesystem_, filesystem_)
        remove(source)
    else:
        filesystem_.move(source_inner, target_inner)


def download(path: str, local_path: str) -> bool:
    """Copy a file or folder to a local path; False (and nothing copied) when absent."""
    filesystem_, inner, info = _info(path)
    if info.type == fs.FileType.NotFound:
        return False
    folder = local_path if info.type == fs.FileType.Directory else os.path.dirname(local_path)
    Path(folder or ".").mkdir(parents=True, exist_ok=True)
    fs.copy_files(inner, os.path.abspath(local_path), filesystem_, fs.LocalFileSystem())
    return True


def upload(local_path: str, path: str) -> list[str]:
    """Copy a local file or folder to ``path`` (same layout); returns the paths written."""
    filesystem_, inner = filesystem(path)
    makedirs(path if os.path.isdir(local_path) else os.path.dirname(path) or path)
    fs.copy_files(os.path.abspath(local_path), inner, fs.LocalFileSystem(), filesystem_)
    names = list_files(path)
    return [join(path, name) if name else path for name in names]
