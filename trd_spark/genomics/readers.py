"""Readers: genotypes of any supported format into one MatrixTable shape, and the
All of Us ``ancestry_preds.tsv``.

Every genotype reader returns a MatrixTable with row key ``locus``, ``alleles``,
a row field ``rsid`` (str, missing when the source has none), column key ``s``
(str, the person id) and entry ``GT`` (call), and nothing else.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import hail as hl
import pandas as pd

from trd_spark import storage
from trd_spark.errors import InputError

ANCESTRY_GROUPS = ("afr", "amr", "eas", "eur", "mid", "sas", "oth")


def read_genotypes(
    path: str,
    fmt: str,
    reference_genome: str = "GRCh38",
    sample_file: str | None = None,
    n_partitions: int | None = None,
) -> hl.MatrixTable:
    """Read one platform's genotypes into the common MatrixTable shape.

    Parameters
    ----------
    path : MT folder, VCF/BCF file (or glob), PLINK 1 prefix, or BGEN file.
    fmt : ``mt``, ``vcf``, ``plink`` or ``bgen``.
    reference_genome : the build of the genotypes.
    sample_file : BGEN ``.sample`` file; default ``<path without .bgen>.sample``.
    n_partitions : minimum number of partitions for text formats.

    Returns
    -------
    MatrixTable keyed by ``locus``, ``alleles`` with row ``rsid``, column key ``s``, entry ``GT``.
    """
    readers = {"mt": _read_mt, "vcf": _read_vcf, "plink": _read_plink, "bgen": _read_bgen}
    if fmt not in readers:
        raise InputError(f"genotype format {fmt!r} is not one of {', '.join(readers)}")
    mt = readers[fmt](path, reference_genome, sample_file, n_partitions)
    return _to_common_shape(mt)


def _check_exists(path: str, what: str) -> None:
    if "://" in path or any(ch in path for ch in "*?["):
        return
    if not os.path.exists(path):
        raise InputError(f"{what} {path} does not exist; check genotypes.<platform>.path")


def contig_recoding(reference_genome: str) -> dict[str, str] | None:
    """VCF/PLINK files often say ``1``; GRCh38 in Hail says ``chr1`` (the readers' recoding)."""
    if reference_genome != "GRCh38":
        return None
    return {**{str(i): f"chr{i}" for i in range(1, 23)}, "X": "chrX", "Y": "chrY", "MT": "chrM"}


def _read_mt(
    path: str, reference_genome: str, sample_file: str | None, n_partitions: int | None
) -> hl.MatrixTable:
    _check_exists(path, "genotype MatrixTable")
    mt = hl.read_matrix_table(path)
    missing = [f for f in ("GT",) if f not in mt.entry]
    if missing or list(mt.row_key) != ["locus", "alleles"] or list(mt.col_key) != ["s"]:
        raise InputError(
            f"{path}: a genotype MatrixTable needs row key (locus, alleles), column key s and "
            f"entry GT; found row key {list(mt.row_key)}, column key {list(mt.col_key)}, "
            f"entries {list(mt.entry)}"
        )
    return mt


def _read_vcf(
    path: str, reference_genome: str, sample_file: str | None, n_partitions: int | None
) -> hl.MatrixTable:
    _check_exists(path, "VCF")
    return hl.import_vcf(
        path,
        force_bgz=path.endswith((".gz", ".bgz")),
        reference_genome=reference_genome,
        contig_recoding=contig_recoding(reference_genome),
        min_partitions=n_partitions,
        array_elements_required=False,
    )


def _read_plink(
    path: str, reference_genome: str, sample_file: str | None, n_partitions: int | None
) -> hl.MatrixTable:
    prefix = path[: -len(".bed")] if path.endswith(".bed") else path
    for ext in (".bed", ".bim", ".fam"):
        _check_exists(prefix + ext, "PLINK file")
    mt = hl.import_plink(
        bed=prefix + ".bed",
        bim=prefix + ".bim",
        fam=prefix + ".fam",
        reference_genome=reference_genome,
        contig_recoding=contig_recoding(reference_genome),
        min_partitions=n_partitions,
        # the phenotype column is not used: read it as case-control, where any value that is
        # not 1 or 2 (-9, 0, NA, a number) counts as missing instead of failing the import
        quant_pheno=False,
    )
    return mt.annotate_rows(rsid=hl.or_missing(mt.rsid != ".", mt.rsid))


def _read_bgen(
    path: str, reference_genome: str, sample_file: str | None, n_partitions: int | None
) -> hl.MatrixTable:
    _check_exists(path, "BGEN")
    sample = sample_file or str(Path(path).with_suffix(".sample"))
    _check_exists(sample, "BGEN sample file")
    hl.index_bgen(
        path,
        reference_genome=reference_genome,
        contig_recoding=contig_recoding(reference_genome),
    )
    mt = hl.import_bgen(path, entry_fields=["GT"], sample_file=sample, n_partitions=n_partitions)
    person_ids = bgen_person_ids(sample)
    if len(person_ids) != mt.count_cols():
        raise InputError(
            f"{sample} lists {len(person_ids)} persons but {path} holds {mt.count_cols()}; "
            "give the sample file written with this BGEN (genotypes.<platform>.sample_file)"
        )
    mt = mt.add_col_index("bgen_col")
    mt = mt.key_cols_by(s=hl.literal(person_ids)[hl.int32(mt["bgen_col"])]).drop("bgen_col")
    return mt.annotate_rows(rsid=hl.or_missing(mt.rsid != ".", mt.rsid))


def bgen_person_ids(sample_file: str) -> list[str]:
    """Person ids of an Oxford ``.sample`` file: ``ID_2`` (the individual id), else ``ID_1``.

    Hail keys BGEN columns by ``ID_1``, which tools such as plink2 fill with a family id
    of 0; trd-spark needs the individual id.
    """
    text = storage.read_text(sample_file)
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or lines[0][:2] != ["ID_1", "ID_2"]:
        raise InputError(
            f"{sample_file}: not an Oxford .sample file (expected a header 'ID_1 ID_2 ...' "
            "and a line of column types)"
        )
    rows = lines[2:]
    short = next((i for i, row in enumerate(rows) if len(row) < 2), None)
    if short is not None:
        raise InputError(f"{sample_file}, line {short + 3}: fewer than 2 columns (ID_1 ID_2)")
    return [row[1] if row[1] not in ("0", "NA") else row[0] for row in rows]


def _to_common_shape(mt: hl.MatrixTable) -> hl.MatrixTable:
    rsid = mt.rsid if "rsid" in mt.row else hl.missing(hl.tstr)
    if "rsid" in mt.row and mt.rsid.dtype != hl.tstr:
        rsid = hl.str(mt.rsid)
    mt = mt.select_rows(rsid=hl.or_missing(hl.is_defined(rsid) & (rsid != "."), rsid))
    mt = mt.select_cols().select_entries("GT").select_globals()
    return mt


# ---------------------------------------------------------------------------
# ancestry_preds.tsv
# ---------------------------------------------------------------------------


def read_ancestry(path: str, n_pcs: int = 16) -> pd.DataFrame:
    """Read the All of Us ancestry predictions.

    Parameters
    ----------
    path : ``ancestry_preds.tsv`` (tab-separated with header).
    n_pcs : number of PCs to keep from ``pca_features``.

    Returns
    -------
    DataFrame with ``person_id`` (int64), ``ancestry_pred`` (str) and ``pc1``..``pc<n_pcs>``.
    """
    _check_exists(path, "ancestry file")
    raw_df = pd.read_csv(storage.open_bytes(path), sep="\t", dtype=str, keep_default_na=False)
    needed = ["research_id", "ancestry_pred", "pca_features"]
    absent = [c for c in needed if c not in raw_df.columns]
    if absent:
        raise InputError(
            f"{path}: column(s) {', '.join(absent)} missing; the file needs "
            f"{', '.join(needed)} (found {', '.join(raw_df.columns)})"
        )
    pcs = [_parse_pcs(text, path, i + 2, n_pcs) for i, text in enumerate(raw_df["pca_features"])]
    out_df = pd.DataFrame(pcs, columns=[f"pc{i + 1}" for i in range(n_pcs)])
    out_df.insert(0, "ancestry_pred", raw_df["ancestry_pred"].str.strip().str.lower().tolist())
    out_df.insert(0, "person_id", _parse_person_ids(raw_df["research_id"], path, "research_id"))
    bad = ~out_df["ancestry_pred"].isin(ANCESTRY_GROUPS)
    if bad.any():
        line = int(bad.to_numpy().nonzero()[0][0]) + 2
        raise InputError(
            f"{path}, line {line}: ancestry_pred {out_df['ancestry_pred'][line - 2]!r} is not "
            f"one of {', '.join(ANCESTRY_GROUPS)}"
        )
    return out_df


def _parse_pcs(text: str, path: str, line: int, n_pcs: int) -> list[float]:
    try:
        values = ast.literal_eval(text.strip())
        floats = [float(v) for v in values]
    except (ValueError, SyntaxError, TypeError):
        raise InputError(
            f"{path}, line {line}: pca_features {text[:40]!r} is not a list of numbers "
            "like [0.01, -0.2, ...]"
        ) from None
    if len(floats) < n_pcs:
        raise InputError(
            f"{path}, line {line}: pca_features has {len(floats)} values; at least {n_pcs} needed"
        )
    return floats[:n_pcs]


def _parse_person_ids(ids: pd.Series, where: str, column: str) -> pd.Series:
    """Person ids as int64; non-integer or duplicate ids are errors naming the line."""
    parsed = pd.to_numeric(ids.str.strip(), errors="coerce")
    bad = parsed.isna() | (parsed != parsed.round())
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(f"{where}, line {i + 2}: {column} {ids.iloc[i]!r} is not an integer id")
    parsed = parsed.astype("int64")
    dup = parsed.duplicated()
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        raise InputError(
            f"{where}, line {i + 2}: {column} {ids.iloc[i]} appears more than once; "
            "each person must appear once"
        )
    return parsed
