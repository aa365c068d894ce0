"""The scorer's files as its Spark tasks read and write them: cached sites and matched weights.

Every byte goes through :mod:`trd_spark.storage` (pyarrow's file systems: local, ``gs://``,
``s3://``, ``hdfs://``, ``file://``), the one file layer of driver and tasks alike.  The
generic readers are re-exported here for the scorer's modules that import them from here.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from trd_spark.genomics.matching import SiteTable, site_table
from trd_spark.storage import file_size, filesystem, read_bytes, read_range, write_text
from trd_spark.storage import open_bytes as open_text

__all__ = [
    "MATCHED_SCHEMA",
    "file_size",
    "filesystem",
    "open_text",
    "read_bytes",
    "read_matched",
    "read_range",
    "read_site_tables",
    "write_matched",
    "write_text",
]

MATCHED_SCHEMA = pa.schema(
    [("var_idx", pa.int64()), ("trait_idx", pa.int32()), ("w", pa.float64())]
)
_SITE_COLUMNS = ["chrom", "position", "ref", "alt", "rsid", "var_idx"]


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


def write_table(path: str, table: pa.Table) -> None:
    """Write an Arrow table as one Parquet file."""
    filesystem_, inner = filesystem(path)
    pq.write_table(table, inner, filesystem=filesystem_)


def open_output(path: str) -> pa.NativeFile:
    """A binary output stream (local or remote), for files written block by block."""
    filesystem_, inner = filesystem(path)
    return filesystem_.open_output_stream(inner, compression=None)


def concatenate(parts: list[str], target: str, header: bytes = b"") -> None:
    """Write ``header`` then the files ``parts`` in order as one file ``target``."""
    filesystem_, inner = filesystem(target)
    with filesystem_.open_output_stream(inner, compression=None) as out:
        out.write(header)
        for part in parts:
            part_fs, part_inner = filesystem(part)
            with part_fs.open_input_stream(part_inner, compression=None) as stream:
                while chunk := stream.read(64 << 20):
                    out.write(chunk)
