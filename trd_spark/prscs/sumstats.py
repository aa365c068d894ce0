"""GWAS summary statistics in the PRS-CS input layout, checked line by line.

One whitespace-separated file per trait with a header line naming (in any case and order)
``SNP A1 A2``, an effect column ``BETA`` or ``OR``, and ``SE`` and/or ``P``; other columns
are ignored.  A1 is the effect allele.  Standardised marginal effects (``docs/prscs.md``):

- with ``SE``: ``b / SE / sqrt(N)``;
- else with ``P``: ``sign(b) * |Phi^-1(P / 2)| / sqrt(N)``,

where ``b`` is BETA or log(OR).  A value that cannot be used (not a number, P outside
(0, 1], SE or OR not positive, a SNP listed twice, a missing field) stops the run with an
error naming the file, line and column.  Rows whose alleles are not single A/C/G/T letters
are counted and left out (PRS-CS uses SNVs only).

numpy/pandas/scipy only: it runs inside Spark's Python workers.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from trd_spark.errors import InputError

REQUIRED = ("SNP", "A1", "A2")
# half of the smallest positive double: P / 2 is floored there, so |z| stays finite (<= 38.5)
_HALF_P_FLOOR = float(np.nextafter(0.0, 1.0))
_SNV = frozenset("ACGT")
SUMSTATS_SUFFIXES = (".txt.gz", ".tsv.gz", ".sumstats.gz", ".txt", ".tsv", ".sumstats")


@dataclass(frozen=True)
class SumStats:
    """The usable rows of one summary-statistics file."""

    snp: np.ndarray  # object: SNP ids
    a1: np.ndarray  # object: effect allele, upper case
    a2: np.ndarray  # object: other allele, upper case
    beta_std: np.ndarray  # float64: standardised marginal effect of A1
    n_rows: int  # data lines in the file
    n_not_snv: int  # rows left out because an allele is not one of A, C, G, T

    def __len__(self) -> int:
        return len(self.snp)


def trait_of_file(name: str) -> str | None:
    """The trait a summary-statistics file name belongs to (``BMI.txt.gz`` -> ``BMI``)."""
    for suffix in SUMSTATS_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def parse_sumstats(data: bytes, source: str, n_gwas: float) -> SumStats:
    """Parse and check one file's content.

    Parameters
    ----------
    data : the file's bytes (already decompressed).
    source : the file's path, named in errors.
    n_gwas : the GWAS sample size of the trait.

    Returns
    -------
    The SNV rows with standardised effects; InputError naming file, line and column for
    anything that cannot be used.
    """
    if not n_gwas > 0:
        raise InputError(f"{source}: the GWAS sample size is {n_gwas}; it must be positive")
    frame = _read_table(data, source)
    columns = _pick_columns(list(frame.columns), source)
    frame = frame[[c for c in frame.columns if c in columns.values()]]
    blank = (frame == "").all(axis=1).to_numpy()
    lines = np.flatnonzero(~blank) + 2  # the header is line 1
    frame = frame[~blank]
    _check_present(frame, lines, columns, source)
    effect = _numbers(frame[columns["effect"]], lines, source, columns["effect"])
    if columns["effect"].upper() == "OR":
        _check_range(effect > 0, effect, lines, source, columns["effect"], "must be positive")
        effect = np.log(effect)
    if "se" in columns:
        se = _numbers(frame[columns["se"]], lines, source, columns["se"])
        _check_range(se > 0, se, lines, source, columns["se"], "must be positive")
        beta_std = effect / se / np.sqrt(n_gwas)
    else:
        p = _numbers(frame[columns["p"]], lines, source, columns["p"])
        _check_range((p > 0) & (p <= 1), p, lines, source, columns["p"], "must be in (0, 1]")
        z = stats.norm.isf(np.maximum(p / 2.0, _HALF_P_FLOOR))
        beta_std = np.sign(effect) * np.abs(z) / np.sqrt(n_gwas)
    snp = frame[columns["snp"]].str.strip().to_numpy(object)
    _check_unique(snp, lines, source)
    a1 = frame[columns["a1"]].str.upper().to_numpy(object)
    a2 = frame[columns["a2"]].str.upper().to_numpy(object)
    snv = np.array([x in _SNV and y in _SNV for x, y in zip(a1, a2, strict=True)], dtype=bool)
    return SumStats(snp[snv], a1[snv], a2[snv], beta_std[snv], len(frame), int((~snv).sum()))


def _read_table(data: bytes, source: str) -> pd.DataFrame:
    if not data.strip():
        raise InputError(f"{source}: the summary-statistics file is empty")
    _check_first_line(data, source)
    try:
        return pd.read_csv(
            io.BytesIO(data), sep=r"\s+", dtype=str, keep_default_na=False, na_values=[],
            skip_blank_lines=False, engine="c",
        )  # fmt: skip
    except pd.errors.ParserError as err:
        raise InputError(
            f"{source}: {err}; every line needs as many whitespace-separated fields as the "
            "header names"
        ) from None


def _check_first_line(data: bytes, source: str) -> None:
    """pandas reads a first data line with one field too many as an index: refuse it here
    (later lines get pandas' own error, which names them)."""
    lines = data[:65_536].splitlines()
    n_header = len(lines[0].split())
    for number, line in enumerate(lines[1:3], start=2):
        if line.strip() and len(line.split()) != n_header:
            raise InputError(
                f"{source}, line {number}: {len(line.split())} fields but the header names "
                f"{n_header}; every line needs as many whitespace-separated fields as the header"
            )


def _pick_columns(header: list[str], source: str) -> dict[str, str]:
    """Role -> the header's spelling of its column (case-insensitive)."""
    by_upper: dict[str, str] = {}
    for name in header:
        by_upper.setdefault(name.strip().upper(), name)
    found = {role.lower(): by_upper[role] for role in REQUIRED if role in by_upper}
    effect = by_upper.get("BETA") or by_upper.get("OR")
    missing = [role for role in REQUIRED if role not in by_upper]
    if effect is None:
        missing.append("BETA or OR")
    if "SE" not in by_upper and "P" not in by_upper:
        missing.append("P or SE")
    if missing:
        raise InputError(
            f"{source}: the header lacks column(s) {', '.join(missing)} (found "
            f"{' '.join(header)}); PRS-CS summary statistics need SNP A1 A2, BETA or OR, "
            "and P or SE"
        )
    found["effect"] = str(effect)
    if "SE" in by_upper:
        found["se"] = by_upper["SE"]
    else:
        found["p"] = by_upper["P"]
    return found


def _check_present(
    frame: pd.DataFrame, lines: np.ndarray, columns: dict[str, str], source: str
) -> None:
    for column in columns.values():
        empty = (frame[column] == "").to_numpy()
        if empty.any():
            i = int(np.flatnonzero(empty)[0])
            raise InputError(
                f"{source}, line {lines[i]}: no value in column {column}; every line needs "
                "a value in each column"
            )


def _numbers(values: pd.Series, lines: np.ndarray, source: str, column: str) -> np.ndarray:
    parsed = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(parsed)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{source}, line {lines[i]}: column {column} is {values.iloc[i]!r}, not a finite "
            "number; fix or remove the line"
        )
    return parsed


def _check_range(
    good: np.ndarray, values: np.ndarray, lines: np.ndarray, source: str, column: str, rule: str
) -> None:
    if not good.all():
        i = int(np.flatnonzero(~good)[0])
        raise InputError(f"{source}, line {lines[i]}: column {column} is {values[i]:g}; it {rule}")


def _check_unique(snp: np.ndarray, lines: np.ndarray, source: str) -> None:
    repeated = pd.Series(snp).duplicated(keep=False).to_numpy()
    if repeated.any():
        rows = np.flatnonzero(repeated)
        first = rows[0]
        again = rows[1:][snp[rows[1:]] == snp[first]][0]
        raise InputError(
            f"{source}, line {lines[again]}: SNP {snp[first]} is listed again (first on line "
            f"{lines[first]}); keep one line per SNP"
        )
