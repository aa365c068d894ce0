"""OMOP CDM v5.3 readers: one folder per table, Parquet or CSV, checked against the schema.

Every table is returned with OMOP column names and fixed types (ids ``long``,
dates ``date``, codes ``string``, ``days_supply`` ``long``).  A missing table or
column is an :class:`~trd_spark.errors.InputError` naming both; a date column
none of whose values parse is an error naming the format expected; single
values that do not parse become null and are counted later as unusable rows.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)
from pyspark.sql import types as T  # noqa: N812

from trd_spark.errors import InputError
from trd_spark.uri import is_remote

Kind = Literal["id", "date", "str"]


@dataclass(frozen=True)
class TableSpec:
    """The columns trd-spark reads from one OMOP table."""

    required: dict[str, Kind]
    optional: dict[str, Kind]


OMOP_TABLES: dict[str, TableSpec] = {
    "person": TableSpec(
        required={"person_id": "id", "gender_concept_id": "id", "year_of_birth": "id"},
        optional={
            "sex_at_birth_concept_id": "id",
            "race_concept_id": "id",
            "ethnicity_concept_id": "id",
        },
    ),
    "observation_period": TableSpec(
        required={
            "person_id": "id",
            "observation_period_start_date": "date",
            "observation_period_end_date": "date",
        },
        optional={},
    ),
    # read for its unusable rows (attrition) only; no definition uses visits
    "visit_occurrence": TableSpec(
        required={"person_id": "id", "visit_occurrence_id": "id", "visit_start_date": "date"},
        optional={"visit_concept_id": "id", "visit_end_date": "date"},
    ),
    "condition_occurrence": TableSpec(
        required={
            "person_id": "id",
            "condition_start_date": "date",
            "condition_source_concept_id": "id",
            "condition_source_value": "str",
        },
        optional={"condition_occurrence_id": "id", "condition_concept_id": "id"},
    ),
    "drug_exposure": TableSpec(
        required={
            "person_id": "id",
            "drug_concept_id": "id",
            "drug_exposure_start_date": "date",
            "drug_exposure_end_date": "date",
            "days_supply": "id",
        },
        optional={"drug_exposure_id": "id", "route_concept_id": "id"},
    ),
    "procedure_occurrence": TableSpec(
        required={"person_id": "id", "procedure_concept_id": "id", "procedure_date": "date"},
        optional={
            "procedure_occurrence_id": "id",
            "procedure_source_concept_id": "id",
            "procedure_source_value": "str",
        },
    ),
    "concept": TableSpec(
        required={
            "concept_id": "id",
            "concept_name": "str",
            "vocabulary_id": "str",
            "concept_class_id": "str",
            "concept_code": "str",
        },
        optional={"domain_id": "str"},
    ),
    "concept_ancestor": TableSpec(
        required={"ancestor_concept_id": "id", "descendant_concept_id": "id"}, optional={}
    ),
    # 'Maps to' (source concept -> standard concept) and 'RxNorm has dose form'
    "concept_relationship": TableSpec(
        required={"concept_id_1": "id", "concept_id_2": "id", "relationship_id": "str"},
        optional={},
    ),
}
# All of Us: <table>_ext holds each row's source (an EHR site or the participant programme)
EXT_ID_COLUMNS = {
    "condition_occurrence": "condition_occurrence_id",
    "drug_exposure": "drug_exposure_id",
    "procedure_occurrence": "procedure_occurrence_id",
}
_INTEGRAL = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)


def table_path(root: str, table: str) -> str:
    """The folder (or single file) holding one OMOP table under ``root``."""
    return f"{root.rstrip('/')}/{table}"


def table_exists(root: str, table: str, fmt: str) -> bool:
    """True when ``root/<table>`` (a folder, or ``<table>.<fmt>``) exists (remote: assumed)."""
    if is_remote(root):
        return True
    path = table_path(root, table)
    return os.path.exists(path) or os.path.exists(f"{path}.{fmt}")


def read_raw_table(spark: SparkSession, root: str, table: str, fmt: str) -> DataFrame:
    """Read one table as it is stored (CSV: header row, every column a string).

    Raises
    ------
    InputError when the table's folder is missing or unreadable.
    """
    path = table_path(root, table)
    if not is_remote(root) and not os.path.exists(path) and os.path.exists(f"{path}.{fmt}"):
        path = f"{path}.{fmt}"
    if not table_exists(root, table, fmt):
        raise InputError(
            f"OMOP table '{table}' not found: expected a folder {path}/ of {fmt} files; "
            f"export the table there or fix omop.path"
        )
    reader = spark.read
    try:
        if fmt == "csv":
            return reader.option("header", True).option("inferSchema", False).csv(path)
        return reader.parquet(path)
    except Exception as err:  # Spark raises AnalysisException for empty/unreadable folders
        raise InputError(f"OMOP table '{table}' at {path} cannot be read as {fmt}: {err}") from err


def check_columns(raw_df: DataFrame, table: str, spec: TableSpec) -> None:
    """Raise InputError naming the first required column that ``raw_df`` lacks."""
    present = {name.lower() for name in raw_df.columns}
    missing = [name for name in spec.required if name not in present]
    if missing:
        raise InputError(
            f"OMOP table '{table}' has no column '{missing[0]}' "
            f"(missing: {', '.join(missing)}); OMOP CDM v5.3 requires it"
        )


def cast_column_expr(
    raw_df: DataFrame, table: str, column: str, kind: Kind, date_format: str
) -> Column:
    """The expression giving ``column`` its OMOP type; raise InputError on a wrong stored type."""
    field = raw_df.schema[_actual_name(raw_df, column)]
    col = F.col(f"`{field.name}`")
    dtype = field.dataType
    if kind == "str":
        return col.cast("string")
    if kind == "id":
        if isinstance(dtype, (*_INTEGRAL, T.StringType, T.DecimalType, T.DoubleType, T.NullType)):
            return col.cast("long")
    elif isinstance(dtype, T.DateType):
        return col
    elif isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
        return F.to_date(col)
    elif isinstance(dtype, T.StringType):
        return F.try_to_timestamp(F.trim(col), F.lit(date_format)).cast("date")
    elif isinstance(dtype, T.NullType):
        return col.cast("date")
    raise InputError(
        f"OMOP table '{table}' column '{column}' is stored as {dtype.simpleString()}; "
        f"expected {'an integer' if kind == 'id' else 'a date'}"
    )


def _actual_name(raw_df: DataFrame, column: str) -> str:
    return next(name for name in raw_df.columns if name.lower() == column)


def typed_table(raw_df: DataFrame, table: str, spec: TableSpec, date_format: str) -> DataFrame:
    """Select the spec's columns with OMOP types; absent optional columns become null."""
    present = {name.lower() for name in raw_df.columns}
    selected = []
    for column, kind in {**spec.required, **spec.optional}.items():
        if column in present:
            expr = cast_column_expr(raw_df, table, column, kind, date_format)
        else:
            expr = F.lit(None).cast({"id": "long", "date": "date", "str": "string"}[kind])
        selected.append(expr.alias(column))
    return raw_df.select(*selected)


def check_date_parsing(raw_df: DataFrame, table: str, spec: TableSpec, date_format: str) -> None:
    """Raise InputError when a string date column has values but none of them parses.

    All string date columns of the table are checked in one pass over it; dates stored
    as dates (Parquet) need no check.
    """
    columns = [
        c
        for c, kind in {**spec.required, **spec.optional}.items()
        if kind == "date"
        and c in {name.lower() for name in raw_df.columns}
        and isinstance(raw_df.schema[_actual_name(raw_df, c)].dataType, T.StringType)
    ]
    if not columns:
        return
    counts = []
    for column in columns:
        raw = F.trim(F.col(f"`{_actual_name(raw_df, column)}`"))
        given = raw.isNotNull() & (raw != "")
        parsed = F.try_to_timestamp(raw, F.lit(date_format)).isNotNull()
        counts += [
            F.count(F.when(given, 1)).alias(f"{column}:n"),
            F.count(F.when(parsed, 1)).alias(f"{column}:n_ok"),
            F.first(F.when(given, raw), ignorenulls=True).alias(f"{column}:example"),
        ]
    row = raw_df.agg(*counts).first()
    for column in columns:
        if row is not None and row[f"{column}:n"] > 0 and not row[f"{column}:n_ok"]:
            raise InputError(
                f"OMOP table '{table}' column '{column}': no value parses as a date in the "
                f"format '{date_format}' (e.g. '{row[f'{column}:example']}'); set "
                "omop.date_format to the format of the file (Spark datetime pattern, "
                "e.g. MM/dd/yyyy)"
            )


def read_omop_table(
    spark: SparkSession, root: str, table: str, fmt: str, date_format: str = "yyyy-MM-dd"
) -> DataFrame:
    """Read, check and type one OMOP table.

    Parameters
    ----------
    spark : the session.
    root : folder holding one sub-folder per table.
    table : OMOP table name (a key of ``OMOP_TABLES``).
    fmt : ``parquet`` or ``csv``.
    date_format : Spark datetime pattern of dates stored as strings.

    Returns
    -------
    DataFrame with the spec's columns, typed.
    """
    spec = OMOP_TABLES[table]
    raw_df = read_raw_table(spark, root, table, fmt)
    check_columns(raw_df, table, spec)
    typed_df = typed_table(raw_df, table, spec, date_format)
    check_date_parsing(raw_df, table, spec, date_format)
    return typed_df


def read_ehr_source_ids(spark: SparkSession, root: str, table: str, fmt: str) -> DataFrame:
    """Row ids of ``table`` that come from an EHR site, from the All of Us ``<table>_ext``."""
    ext = f"{table}_ext"
    id_column = EXT_ID_COLUMNS[table]
    raw_df = read_raw_table(spark, root, ext, fmt)
    check_columns(raw_df, ext, TableSpec(required={id_column: "id", "src_id": "str"}, optional={}))
    src = F.lower(F.col("src_id").cast("string"))
    return raw_df.where(src.startswith("ehr")).select(
        F.col(id_column).cast("long").alias(id_column)
    )


def read_omop(
    spark: SparkSession,
    root: str,
    fmt: str = "parquet",
    date_format: str = "yyyy-MM-dd",
) -> dict[str, DataFrame]:
    """Read every OMOP table trd-spark uses (see ``OMOP_TABLES``), checked and typed.

    The tables are opened side by side: Spark reads each table's schema in a small job
    of its own, and these jobs would otherwise run one after the other.  Errors are
    raised for the first bad table in ``OMOP_TABLES`` order, as a sequential read would.
    """
    if fmt not in ("parquet", "csv"):
        raise InputError(f"omop.format is '{fmt}'; use parquet or csv")
    with ThreadPoolExecutor(max_workers=len(OMOP_TABLES)) as pool:
        futures = {
            table: pool.submit(read_omop_table, spark, root, table, fmt, date_format)
            for table in OMOP_TABLES
        }
        return {table: future.result() for table, future in futures.items()}


def keep_ehr_rows(table_df: DataFrame, ehr_ids_df: DataFrame, table: str) -> tuple[DataFrame, int]:
    """Rows of ``table`` whose id is an EHR-site row; returns them and the number dropped."""
    id_column = EXT_ID_COLUMNS[table]
    flagged_df = table_df.join(
        ehr_ids_df.distinct().select(id_column, F.lit(True).alias("_ehr")), id_column, "left"
    )
    n_dropped = flagged_df.where(F.col("_ehr").isNull()).count()
    return flagged_df.where(F.col("_ehr")).drop("_ehr"), n_dropped
