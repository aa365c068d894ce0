"""File access from inside Spark tasks: local paths, or URIs through pyarrow's filesystems.

The driver reaches remote storage through Hail's Hadoop filesystem
(:mod:`trd_spark.storage`); Python code running in a Spark task cannot, so the
scorer's tasks read and write through ``pyarrow.fs`` (local, ``gs://``,
``s3://``, ``hdfs://``, ``file://``).
"""

from __future__ import annotations

import gzip
import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import fs

from trd_spark.genomics.matching import SiteTable, site_table
from trd_spark.uri import is_remote

MATCHED_SCHEMA = pa.schema(
    [("var_idx", pa.int64()), ("trait_idx", pa.int32()), ("w", pa.float64())]
)
_SITE_COLUMNS = ["chrom", "position", "ref", "alt", "rsid", "var_idx"]


def filesystem(path: str) -> tuple[fs.FileSystem, str]:
    """The pyarrow filesystem holding ``path`` and the path within it."""
    if is_remote(path):
        return fs.FileSystem.from_uri(path)
    return fs.LocalFileSystem(), path


def read_bytes(path: str) -> bytes:
    """A whole file (decompressed when it ends in ``.gz``)."""
    filesystem_, inner = filesystem(path)
    with filesystem_.open_input_stream(inner) as stream:
        data = bytes(stream.read())
    return gzip.decompress(data) if path.endswith(".gz") else data


def open_text(path: str) -> io.BytesIO:
    """A small file as an in-memory stream (for pandas)."""
    return io.BytesIO(read_bytes(path))


def write_text(path: str, text: str) -> None:
    """Write a text file (UTF-8)."""
    filesystem_, inner = filesystem(path)
    with filesystem_.open_output_stream(inner) as out:
        out.write(text.encode())


def file_size(path: str) -> int:
    """Size of a file in bytes."""
    filesystem_, inner = filesystem(path)
    return int(filesystem_.get_file_info(inner).size)


def read_range(path: str, offset: int, nbytes: int) -> bytes:
    """``nbytes`` bytes of a file from ``offset``."""
    filesystem_, inner = filesystem(path)
    with filesystem_.open_input_file(inner) as handle:
        return bytes(handle.read_at(nbytes, offset))


def read_site_tables(variants_path: str, chroms: list[str]) -> dict[str, SiteTable]:
    """The cached QC'd sites of ``chroms`` from ``qc/variants_<platform>.parquet``, one table each.

    Sites outside the dosage cache (null ``var_idx``) are left out; a chromosome without
    cached sites gets an empty table.
    """
    filesystem_, inner = filesystem(variants_path)
    dataset = ds.dataset(inner, format="parquet", filesystem=filesystem_)
    in_cache = pc.field("var_idx").is_valid()
    table = dataset.to_table(
        columns=_SITE_COLUMNS,
        filter=pc.field("chrom").isin(pa.array(chroms, pa.string())) & in_cache,
    )
    frame = table.to_pandas()
    frame["chrom"] = frame["chrom"].replace({"M": "MT"})
    frame["rsid"] = frame["rsid"].where(frame["rsid"].notna() & (frame["rsid"] != "."), None)
    tables = {}
    for chrom in chroms:
        part = frame[frame["chrom"] == chrom].sort_values("var_idx")
        tables[chrom] = site_table(
            part["position"].to_numpy(np.int64),
            part["ref"].to_numpy(object),
            part["alt"].to_numpy(object),
            part["rsid"].to_numpy(object),
            part["var_idx"].to_numpy(np.int64),
        )
    return tables


def write_matched(
    path: str, var_idx: np.ndarray, trait_idx: np.ndarray, weight: np.ndarray
) -> None:
    """One task's matched weights, sorted by site, as Parquet (row groups let readers skip)."""
    order = np.argsort(var_idx, kind="stable")
    table = pa.table(
        {
            "var_idx": pa.array(var_idx[order], pa.int64()),
            "trait_idx": pa.array(trait_idx[order], pa.int32()),
            "w": pa.array(weight[order], pa.float64()),
        },
        schema=MATCHED_SCHEMA,
    )
    filesystem_, inner = filesystem(path)
    pq.write_table(table, inner, filesystem=filesystem_, row_group_size=65_536)


def read_matched(folder: str, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The matched weights of sites ``lo <= var_idx < hi`` from every task's file in ``folder``."""
    filesystem_, inner = filesystem(folder)
    dataset = ds.dataset(inner, format="parquet", filesystem=filesystem_, schema=MATCHED_SCHEMA)
    site = pc.field("var_idx")
    table = dataset.to_table(filter=(site >= lo) & (site < hi))
    return (
        table["var_idx"].to_numpy(),
        table["trait_idx"].to_numpy(),
        table["w"].to_numpy(),
    )
