"""Remote runs (gs://, s3://, hdfs://): copy the report's inputs down and the report up.

The report reads small tables with pandas and writes a folder of files, so
for a remote ``output_dir`` it works on a local scratch copy.  Copies go
through Hail's Hadoop file system, the same one the pipeline uses for remote
paths, so no cloud SDK is needed; Hail is already initialised by the runner.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator


def join_remote(base: str, *parts: str) -> str:
    """``gs://b/run`` + ``report/index.html`` -> ``gs://b/run/report/index.html``."""
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]])


def local_uri(path: str) -> str:
    """A local path as a ``file://`` URI, so a cluster's default (HDFS) file system is not used."""
    return "file://" + os.path.abspath(path)


def localize_run(output_dir: str, local_dir: str, relative_paths: Iterable[str]) -> str:
    """Copy the files and Parquet folders the report reads from a remote run to ``local_dir``.

    Parameters
    ----------
    output_dir : the remote run (``gs://...``).
    local_dir : an empty local folder.
    relative_paths : paths under ``output_dir`` (files or folders); absent ones are skipped
        (the report then says "not available").

    Returns
    -------
    ``local_dir``, laid out as the run.
    """
    import hail as hl

    for relative in relative_paths:
        source = join_remote(output_dir, relative)
        if not hl.hadoop_exists(source):
            continue
        for remote_file, relative_file in _walk_remote(source, relative):
            target = os.path.join(local_dir, relative_file)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            hl.hadoop_copy(remote_file, local_uri(target))
    return local_dir


def _walk_remote(path: str, relative: str) -> Iterator[tuple[str, str]]:
    import hail as hl

    if hl.hadoop_is_file(path):
        yield path, relative
        return
    for entry in hl.hadoop_ls(path):
        name = str(entry["path"]).rstrip("/").rsplit("/", 1)[-1]
        yield from _walk_remote(join_remote(path, name), f"{relative}/{name}")


def upload_folder(local_dir: str, remote_dir: str) -> list[str]:
    """Copy every file under ``local_dir`` to ``remote_dir`` (same relative layout).

    Parameters
    ----------
    local_dir : the written report folder.
    remote_dir : its remote destination.

    Returns
    -------
    The remote paths written.
    """
    import hail as hl

    written = []
    for folder, _, files in os.walk(local_dir):
        for name in sorted(files):
            local = os.path.join(folder, name)
            remote = join_remote(remote_dir, os.path.relpath(local, local_dir).replace(os.sep, "/"))
            hl.hadoop_copy(local_uri(local), remote)
            written.append(remote)
    return written
