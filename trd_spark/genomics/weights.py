"""PGS weight readers: PRS-CS per-chromosome files and PGS Catalog scoring files.

Files are listed on the driver and parsed inside Spark tasks (pandas' C parser
per file), so the driver never holds the weights.  A malformed line does not
kill a task with an opaque Java trace: the task returns it as an ``error`` row
and :func:`read_weights` raises an :class:`InputError` naming file and line.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from trd_spark.errors import InputError
from trd_spark.genomics import taskio

WEIGHT_SCHEMA = (
    "trait string, chrom string, pos long, rsid string, a1 string, a2 string, beta double, "
    "duplicate boolean, error string"
)
WEIGHT_ARROW_SCHEMA = pa.schema(
    [
        ("trait", pa.string()), ("chrom", pa.string()), ("pos", pa.int64()),
        ("rsid", pa.string()), ("a1", pa.string()), ("a2", pa.string()),
        ("beta", pa.float64()), ("duplicate", pa.bool_()), ("error", pa.string()),
    ]
)  # fmt: skip
VALID_CHROMS = frozenset([*(str(i) for i in range(1, 23)), "X", "Y", "MT"])
_PRSCS_NAME = re.compile(r"^(?P<trait>.+?)_pst_eff.*_chr(?P<chrom>[0-9XYMT]+)\.txt$")
_PRSCS_LOOSE = re.compile(r"^(?P<trait>.+?)_chr(?P<chrom>[0-9XYMT]+)\.txt$")
_ALLELE = re.compile(r"^[ACGT]+$")


def read_trait_catalog(path: str) -> pd.DataFrame:
    """Read ``traits.tsv`` (trait, label, domain, source).

    Parameters
    ----------
    path : the catalog file.

    Returns
    -------
    DataFrame with one row per trait, in file order.
    """
    if not os.path.exists(path):
        raise InputError(f"trait catalog {path} does not exist; check weights.traits")
    catalog_df = pd.read_csv(path, sep="\t", dtype=str)
    if "trait" not in catalog_df.columns:
        raise InputError(f"{path}: needs a 'trait' column (found {', '.join(catalog_df.columns)})")
    return catalog_df


def list_weight_files(path: str, fmt: str, traits: list[str]) -> pd.DataFrame:
    """Find the weight files of every trait.

    Parameters
    ----------
    path : folder holding the weight files.
    fmt : ``prscs`` or ``pgscatalog``.
    traits : the traits of the catalog; each must have at least one file.

    Returns
    -------
    DataFrame with ``trait`` and ``file`` (full path), one row per file.
    """
    if not os.path.isdir(path):
        raise InputError(f"weights folder {path} does not exist; check weights.path")
    rows = [(_trait_of(name, fmt), os.path.join(path, name)) for name in sorted(os.listdir(path))]
    files_df = pd.DataFrame([r for r in rows if r[0] is not None], columns=["trait", "file"])
    unknown = sorted(set(files_df["trait"]) - set(traits))
    if unknown:
        raise InputError(
            f"{path}: weight files for trait(s) {', '.join(unknown[:5])} that the trait catalog "
            "does not list; add them to weights.traits or remove the files"
        )
    absent = [t for t in traits if t not in set(files_df["trait"])]
    if absent:
        raise InputError(
            f"{path}: no weight file for trait(s) {', '.join(absent[:5])}"
            f"{' ...' if len(absent) > 5 else ''}; expected e.g. "
            f"{absent[0]}_pst_eff_a1_b0.5_phiauto_chr1.txt"
        )
    return files_df


def _trait_of(name: str, fmt: str) -> str | None:
    if fmt == "prscs":
        match = _PRSCS_NAME.match(name) or _PRSCS_LOOSE.match(name)
        return match.group("trait") if match else None
    for suffix in (".txt.gz", ".txt", ".tsv.gz", ".tsv"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def read_weights(spark: SparkSession, files_df: pd.DataFrame, fmt: str) -> DataFrame:
    """Parse weight files inside Spark tasks into one long table.

    Parameters
    ----------
    spark : the session.
    files_df : ``trait``, ``file`` as returned by :func:`list_weight_files`.
    fmt : ``prscs`` or ``pgscatalog``.

    Returns
    -------
    Persisted DataFrame ``trait, chrom, pos, rsid, a1, a2, beta, duplicate`` (``chrom``
    without a ``chr`` prefix; alleles upper case; ``duplicate`` marks every weight whose
    position occurs more than once in its file).  Raises InputError on the first bad line.
    """

    def parse_files(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for trait, file in zip(
                batch["trait"].to_pylist(), batch["file"].to_pylist(), strict=True
            ):
                yield from parse_file(trait, file, fmt).to_batches()

    n_slices = max(1, min(len(files_df), spark.sparkContext.defaultParallelism * 4))
    list_df = spark.createDataFrame(files_df).repartition(n_slices)
    weights_df = list_df.mapInArrow(parse_files, WEIGHT_SCHEMA).persist()
    errors = weights_df.filter(F.col("error").isNotNull()).limit(1).collect()
    if errors:
        weights_df.unpersist()
        raise InputError(errors[0]["error"])
    return weights_df.drop("error")


def parse_file(trait: str, file: str, fmt: str) -> pa.Table:
    """Parse one weight file into the columns of ``WEIGHT_SCHEMA``.

    Parameters
    ----------
    trait : the trait the file belongs to.
    file : a PRS-CS or PGS Catalog file, or (``fmt='lifted'``) the folder of lifted weights.
    fmt : ``prscs``, ``pgscatalog`` or ``lifted``.

    Returns
    -------
    The weights as Arrow (``WEIGHT_ARROW_SCHEMA``); a file that cannot be used gives one row
    whose ``error`` names file and line.
    """
    parsers = {"prscs": _parse_prscs_fast, "pgscatalog": _parse_pgscatalog, "lifted": _read_lifted}
    if fmt not in parsers:
        raise ValueError(f"weights format '{fmt}' unknown; use prscs or pgscatalog")
    table = parsers[fmt](trait, file)
    if isinstance(table, pd.DataFrame):  # the checked pandas parsers
        return pa.Table.from_pandas(table, schema=WEIGHT_ARROW_SCHEMA, preserve_index=False)
    return table


def write_lifted(weights_df: DataFrame, folder: str) -> pd.DataFrame:
    """Write lifted-over weights, one Parquet partition per trait.

    Returns
    -------
    ``trait, file`` rows for :func:`parse_file` with ``fmt='lifted'`` (``file`` is ``folder``).
    """
    weights_df.write.mode("overwrite").partitionBy("trait").parquet(folder)
    traits = [r["trait"] for r in weights_df.select("trait").distinct().collect()]
    return pd.DataFrame({"trait": sorted(traits), "file": folder})


def _read_lifted(trait: str, folder: str) -> pa.Table:
    """One trait's lifted weights; positions that now coincide become duplicates too."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    filesystem, inner = taskio.filesystem(folder)
    partitioning = ds.partitioning(pa.schema([("trait", pa.string())]), flavor="hive")
    dataset = ds.dataset(inner, format="parquet", filesystem=filesystem, partitioning=partitioning)
    table = dataset.to_table(filter=pc.field("trait") == trait)
    lifted = table.filter(pc.is_valid(table["pos"]))
    clash = np.zeros(table.num_rows, dtype=bool)
    valid = np.asarray(pc.is_valid(table["pos"]))
    clash[valid] = np.asarray(_duplicated(lifted["chrom"], lifted["pos"]))
    duplicate = pc.or_(table["duplicate"], pa.array(clash))
    columns = {name: table[name] for name in ("chrom", "pos", "rsid", "a1", "a2", "beta")}
    return pa.table(
        {
            "trait": pa.repeat(pa.scalar(trait, pa.string()), table.num_rows),
            **columns,
            "duplicate": duplicate,
            "error": pa.nulls(table.num_rows, pa.string()),
        },
        schema=WEIGHT_ARROW_SCHEMA,
    )


def _parse_prscs_fast(trait: str, file: str) -> pa.Table | pd.DataFrame:
    """Arrow's C++ CSV reader and compute kernels for the common, valid file.

    Anything unexpected falls back to :func:`_parse_prscs`, whose slower pandas checks
    name the offending line (pandas string methods cost ~5 s per 100,000 lines).
    """
    from pyarrow import compute as pc
    from pyarrow import csv

    data = taskio.read_bytes(file)
    names = ["chrom", "rsid", "pos", "a1", "a2", "beta"]
    types = {"chrom": pa.string(), "rsid": pa.string(), "pos": pa.int64(),
             "a1": pa.string(), "a2": pa.string(), "beta": pa.float64()}  # fmt: skip
    try:
        table = csv.read_csv(
            pa.py_buffer(data),
            read_options=csv.ReadOptions(column_names=names),
            parse_options=csv.ParseOptions(delimiter="\t"),
            convert_options=csv.ConvertOptions(column_types=types, strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, ValueError):
        return _parse_prscs(trait, file)
    chrom = pc.replace_substring_regex(table["chrom"], "^chr", "")
    a1, a2 = pc.utf8_upper(table["a1"]), pc.utf8_upper(table["a2"])
    valid = pc.and_(
        pc.and_(pc.is_in(chrom, pa.array(sorted(VALID_CHROMS))), pc.greater(table["pos"], 0)),
        pc.and_(
            pc.match_substring_regex(a1, "^[ACGT]+$"), pc.match_substring_regex(a2, "^[ACGT]+$")
        ),
    )
    if table.num_rows == 0 or not pc.all(valid).as_py() or table["beta"].null_count:
        return _parse_prscs(trait, file)
    rsid = pc.if_else(pc.equal(table["rsid"], "."), pa.scalar(None, pa.string()), table["rsid"])
    return pa.table(
        {
            "trait": pa.repeat(pa.scalar(trait, pa.string()), table.num_rows),
            "chrom": chrom, "pos": table["pos"], "rsid": rsid, "a1": a1, "a2": a2,
            "beta": table["beta"], "duplicate": _duplicated(chrom, table["pos"]),
            "error": pa.nulls(table.num_rows, pa.string()),
        },
        schema=WEIGHT_ARROW_SCHEMA,
    )  # fmt: skip


def _duplicated(chrom: pa.ChunkedArray, pos: pa.ChunkedArray) -> pa.Array:
    """True for every row whose (chromosome, position) occurs more than once."""
    from pyarrow import compute as pc

    codes = pc.dictionary_encode(chrom.combine_chunks()).indices.to_numpy(zero_copy_only=False)
    key = codes.astype(np.int64) * (1 << 40) + pos.to_numpy()
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    repeated = np.zeros(len(key), dtype=bool)
    same = ordered[1:] == ordered[:-1]
    repeated[1:] |= same
    repeated[:-1] |= same
    duplicate = np.empty(len(key), dtype=bool)
    duplicate[order] = repeated
    return pa.array(duplicate)


def _error_frame(message: str) -> pd.DataFrame:
    frame = pd.DataFrame({c: [None] for c in _columns()})
    frame["error"] = [message]
    return frame


def _columns() -> list[str]:
    return [part.split()[0] for part in WEIGHT_SCHEMA.split(", ")]


def _parse_prscs(trait: str, file: str) -> pd.DataFrame:
    """One PRS-CS file: ``CHR SNP BP A1 A2 BETA``, tab-separated, no header."""
    data = taskio.read_bytes(file)
    if not data.strip():
        return _error_frame(f"{file}: the weight file is empty; expected CHR SNP BP A1 A2 BETA")
    try:
        # one spare column: a line with 7 fields lands there, a line with fewer leaves BETA empty
        raw_df = pd.read_csv(
            io.BytesIO(data), sep="\t", header=None, names=range(7), dtype=str,
            keep_default_na=False, na_values=[], skip_blank_lines=False, engine="c",
        )  # fmt: skip
    except pd.errors.ParserError as err:
        return _error_frame(f"{file}: {err}; a PRS-CS file has 6 tab-separated columns")
    empty = raw_df.isna() | (raw_df == "")
    n_fields = 7 - empty.iloc[:, ::-1].cummin(axis=1).sum(axis=1)
    bad = (n_fields != 6).to_numpy().nonzero()[0]
    if len(bad):
        return _error_frame(
            f"{file}, line {bad[0] + 1}: {n_fields.iloc[bad[0]]} columns; a PRS-CS file has 6 "
            "(CHR SNP BP A1 A2 BETA, tab-separated)"
        )
    raw_df = raw_df.iloc[:, :6]
    raw_df.columns = ["chrom", "rsid", "pos", "a1", "a2", "beta"]
    return _validate(raw_df, trait, file, first_line=1)


def _parse_pgscatalog(trait: str, file: str) -> pd.DataFrame:
    """One PGS Catalog scoring file (harmonized columns preferred when present)."""
    text = taskio.read_bytes(file).decode()
    lines = text.splitlines()
    n_comments = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    if n_comments >= len(lines) - 1:
        return _error_frame(f"{file}: the scoring file has no variants")
    try:
        raw_df = pd.read_csv(
            io.StringIO(text), sep="\t", comment=None, skiprows=n_comments, dtype=str
        )
    except pd.errors.ParserError as err:
        return _error_frame(f"{file}: cannot parse the scoring file: {err}")
    pick = {
        "chrom": ("hm_chr", "chr_name"),
        "pos": ("hm_pos", "chr_position"),
        "a1": ("effect_allele",),
        "a2": ("other_allele", "hm_inferOtherAllele"),
        "beta": ("effect_weight",),
        "rsid": ("hm_rsID", "rsID"),
    }
    out_df = pd.DataFrame(index=raw_df.index)
    for name, candidates in pick.items():
        column = next((c for c in candidates if c in raw_df.columns), None)
        if column is None and name != "rsid":
            return _error_frame(
                f"{file}: column {' or '.join(candidates)} missing "
                f"(found {', '.join(raw_df.columns)})"
            )
        out_df[name] = raw_df[column] if column else None
    return _validate(out_df, trait, file, first_line=n_comments + 2)


def _validate(raw_df: pd.DataFrame, trait: str, file: str, first_line: int) -> pd.DataFrame:
    """Check and type the parsed columns; the first bad line becomes an error row."""
    chrom = raw_df["chrom"].astype(str).str.strip().str.replace("^chr", "", regex=True)
    chrom = chrom.replace({"23": "X", "M": "MT"})
    beta = pd.to_numeric(raw_df["beta"], errors="coerce")
    pos = pd.to_numeric(raw_df["pos"], errors="coerce")
    a1 = raw_df["a1"].astype(str).str.strip().str.upper()
    a2 = raw_df["a2"].astype(str).str.strip().str.upper()
    checks = [
        (~chrom.isin(VALID_CHROMS), "chromosome {!r} is not 1-22, X, Y or MT", chrom),
        (pos.isna() | (pos <= 0), "position {!r} is not a positive integer", raw_df["pos"]),
        (~a1.str.match(_ALLELE), "effect allele {!r} is not made of A/C/G/T", raw_df["a1"]),
        (~a2.str.match(_ALLELE), "other allele {!r} is not made of A/C/G/T", raw_df["a2"]),
        (beta.isna(), "weight {!r} is not a number", raw_df["beta"]),
    ]
    for bad, message, values in checks:
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            return _error_frame(f"{file}, line {i + first_line}: " + message.format(values.iloc[i]))
    rsid = raw_df["rsid"].astype(object)
    rsid[rsid.isna() | (rsid == ".")] = None
    return pd.DataFrame(
        {
            "trait": trait,
            "chrom": chrom,
            "pos": pos.astype("int64"),
            "rsid": rsid,
            "a1": a1,
            "a2": a2,
            "beta": beta.astype("float64"),
            # a PRS-CS file holds one trait and chromosome, a PGS Catalog file one trait:
            # duplicates of a trait's position are always within one file
            "duplicate": pd.Series(list(zip(chrom, pos, strict=True)))
            .duplicated(keep=False)
            .to_numpy(),
            "error": None,
        }
    )
