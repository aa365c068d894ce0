"""LD reference panels in the layout PRS-CS publishes, read and written with h5py.

A panel is a folder holding

- ``snpinfo_<panel>_hm3``: a whitespace table with header ``CHR SNP BP A1 A2 MAF``, one line
  per SNP (all chromosomes);
- ``ldblk_<panel>_chr<N>.hdf5`` per chromosome: groups ``blk_1 ... blk_K``, each with the
  datasets ``ldblk`` (the block's correlation matrix) and ``snplist`` (its SNP ids as byte
  strings, in matrix order).

The panels PRS-CS distributes (``ldblk_1kg_eur``, ``ldblk_ukbb_eas``, ...) are read as they
are.  The correlations are those of allele counts of the snpinfo's A1 (any consistent choice
of counted allele gives the same matrix).  See ``docs/prscs.md``.

numpy/pandas/h5py only: it runs inside Spark's Python workers.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trd_spark import storage
from trd_spark.errors import InputError
from trd_spark.uri import is_remote, join

SNPINFO_COLUMNS = ("CHR", "SNP", "BP", "A1", "A2", "MAF")
_SNPINFO_NAME = re.compile(r"^snpinfo_(?P<panel>.+)_hm3$")
_BLOCK_GROUP = re.compile(r"^blk_(?P<number>[0-9]+)$")


@dataclass(frozen=True)
class LDPanel:
    """Where a panel's files are."""

    folder: str
    name: str  # the <panel> part of the file names: 1kg, ukbb, ...
    snpinfo: str  # path of snpinfo_<panel>_hm3
    chromosomes: dict[str, str]  # chromosome ("1".."22") -> path of its HDF5 file


def snpinfo_name(panel: str) -> str:
    """File name of a panel's SNP table."""
    return f"snpinfo_{panel}_hm3"


def block_file_name(panel: str, chrom: str) -> str:
    """File name of a panel's LD blocks of one chromosome."""
    return f"ldblk_{panel}_chr{chrom}.hdf5"


def list_names(folder: str) -> list[str]:
    """Names of the files directly in a local or remote folder (sorted; [] when absent)."""
    return [name for name in storage.list_files(folder) if name and "/" not in name]


def find_panel(folder: str) -> LDPanel:
    """The panel in ``folder``; InputError naming what is missing.

    Parameters
    ----------
    folder : a folder with one ``snpinfo_<panel>_hm3`` and its ``ldblk_<panel>_chr<N>.hdf5``.

    Returns
    -------
    The panel, with the chromosomes that have an HDF5 file.
    """
    names = list_names(folder)
    panels = [m.group("panel") for m in map(_SNPINFO_NAME.match, names) if m]
    if len(panels) != 1:
        what = "no snpinfo_<panel>_hm3 file" if not panels else f"several ({', '.join(panels)})"
        raise InputError(
            f"LD reference {folder}: {what}; prscs.ld_ref must be one panel's folder, e.g. "
            "ldblk_1kg_eur with snpinfo_1kg_hm3 and ldblk_1kg_chr1.hdf5 ... ldblk_1kg_chr22.hdf5"
        )
    panel = panels[0]
    pattern = re.compile(rf"^ldblk_{re.escape(panel)}_chr(?P<chrom>[0-9]+)\.hdf5$")
    chromosomes = {
        m.group("chrom"): join(folder, m.group(0)) for m in map(pattern.match, names) if m
    }
    if not chromosomes:
        raise InputError(
            f"LD reference {folder}: no {block_file_name(panel, '<N>')} files beside "
            f"{snpinfo_name(panel)}"
        )
    chromosomes = dict(sorted(chromosomes.items(), key=lambda kv: int(kv[0])))
    return LDPanel(folder, panel, join(folder, snpinfo_name(panel)), chromosomes)


def parse_snpinfo(data: bytes, source: str) -> pd.DataFrame:
    """A panel's SNP table: ``chrom`` (str, no ``chr``), ``snp``, ``bp``, ``a1``, ``a2``, ``maf``.

    InputError naming file and line for a missing column, a bad number or a SNP id listed
    twice.
    """
    try:
        raw = pd.read_csv(
            io.BytesIO(data), sep=r"\s+", dtype=str, keep_default_na=False, na_values=[]
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"{source}: cannot read the SNP table: {err}") from None
    upper = {c.upper(): c for c in raw.columns}
    missing = [c for c in SNPINFO_COLUMNS if c not in upper]
    if missing:
        raise InputError(
            f"{source}: lacks column(s) {', '.join(missing)}; a PRS-CS snpinfo file has the "
            f"header {' '.join(SNPINFO_COLUMNS)}"
        )
    bp = pd.to_numeric(raw[upper["BP"]], errors="coerce")
    maf = pd.to_numeric(raw[upper["MAF"]], errors="coerce")
    for bad, what in (
        (bp.isna() | (bp <= 0), "BP is not a positive whole number"),
        (maf.isna() | (maf <= 0) | (maf >= 1), "MAF is not in (0, 1)"),
    ):
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{source}, line {i + 2}: {what} ({raw.iloc[i].to_dict()})")
    snp = raw[upper["SNP"]].to_numpy(object)
    repeated = pd.Series(snp).duplicated().to_numpy()
    if repeated.any():
        i = int(np.flatnonzero(repeated)[0])
        first = int(np.flatnonzero(snp == snp[i])[0])
        raise InputError(
            f"{source}, line {i + 2}: SNP {snp[i]} is listed again (first on line {first + 2})"
        )
    return pd.DataFrame(
        {
            "chrom": raw[upper["CHR"]].str.replace("^chr", "", regex=True).to_numpy(object),
            "snp": snp,
            "bp": bp.to_numpy(np.int64),
            "a1": raw[upper["A1"]].str.upper().to_numpy(object),
            "a2": raw[upper["A2"]].str.upper().to_numpy(object),
            "maf": maf.to_numpy(np.float64),
        }
    )


def read_snpinfo(path: str) -> pd.DataFrame:
    """:func:`parse_snpinfo` of the file at ``path`` (local or remote)."""
    return parse_snpinfo(storage.read_bytes(path), path)


def local_copy(path: str) -> str:
    """``path`` itself when local; a remote file is copied once per machine into the temp dir
    (HDF5 needs random access) and the copy's path returned."""
    if not is_remote(path):
        return path
    key = hashlib.sha1(path.encode()).hexdigest()[:16]
    folder = os.path.join(tempfile.gettempdir(), "trd_spark_ldref")
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, f"{key}_{os.path.basename(path)}")
    if not os.path.exists(target) or os.path.getsize(target) != storage.file_size(path):
        partial = f"{target}.{os.getpid()}.part"
        storage.download(path, partial)
        os.replace(partial, target)
    return target


@dataclass(frozen=True)
class LDBlock:
    """One block restricted to the SNPs asked for, in the block's own order."""

    snps: np.ndarray  # object: SNP ids
    ld: np.ndarray  # float64 correlation matrix


def read_blocks(path: str, wanted: set[str]) -> list[LDBlock]:
    """The blocks of one chromosome's HDF5 file, each restricted to the SNPs in ``wanted``.

    Parameters
    ----------
    path : ``ldblk_<panel>_chr<N>.hdf5`` (local or remote).
    wanted : SNP ids to keep.

    Returns
    -------
    Blocks in group order (``blk_1``, ``blk_2``, ...) holding at least one wanted SNP.
    InputError naming the file and dataset when the layout is not PRS-CS's.
    """
    import h5py

    local = local_copy(path)
    try:
        handle = h5py.File(local, "r")
    except OSError as err:
        raise InputError(f"{path}: not a readable HDF5 file ({err})") from None
    with handle:
        groups = _block_groups(handle, path)
        blocks: list[LDBlock] = []
        seen: dict[str, str] = {}
        for name in groups:
            snps = _snplist(handle, name, path)
            for snp in snps:
                if snp in seen:
                    raise InputError(
                        f"{path}: SNP {snp} is in {name}/snplist and in {seen[snp]}/snplist; "
                        "each SNP belongs to one block"
                    )
                seen[snp] = name
            keep = np.flatnonzero([snp in wanted for snp in snps])
            if len(keep) == 0:
                continue
            matrix = _ldblk(handle, name, path, len(snps))
            blocks.append(LDBlock(snps[keep], matrix[np.ix_(keep, keep)]))
    return blocks


def _block_groups(handle: Any, path: str) -> list[str]:
    names = [n for n in handle if _BLOCK_GROUP.match(n)]
    if not names:
        raise InputError(
            f"{path}: no groups blk_1, blk_2, ...; a PRS-CS LD file holds one group per block "
            "with the datasets ldblk and snplist"
        )
    return sorted(names, key=lambda n: int(n[4:]))


def _dataset(handle: Any, group: str, name: str, path: str) -> Any:
    node = handle[group]
    if name not in node:
        raise InputError(
            f"{path}: dataset {group}/{name} is missing; each block group needs the datasets "
            "ldblk (correlation matrix) and snplist (SNP ids)"
        )
    return node[name]


def _snplist(handle: Any, group: str, path: str) -> np.ndarray:
    values = _dataset(handle, group, "snplist", path)[()]
    return np.array(
        [v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(values)],
        dtype=object,
    )


def _ldblk(handle: Any, group: str, path: str, n_snps: int) -> np.ndarray:
    matrix = np.asarray(_dataset(handle, group, "ldblk", path)[()], dtype=np.float64)
    if matrix.ndim == 0 and n_snps == 1:
        matrix = matrix.reshape(1, 1)
    if matrix.shape != (n_snps, n_snps):
        raise InputError(
            f"{path}: dataset {group}/ldblk has shape {matrix.shape} but {group}/snplist names "
            f"{n_snps} SNPs; it must be a {n_snps} x {n_snps} matrix"
        )
    if not np.all(np.isfinite(matrix)):
        raise InputError(f"{path}: dataset {group}/ldblk holds values that are not finite")
    return matrix


def write_panel(
    folder: str,
    panel: str,
    snpinfo_df: pd.DataFrame,
    blocks: dict[str, list[LDBlock]],
    dtype: str = "float64",
) -> LDPanel:
    """Write a panel in the PRS-CS layout (local folder).

    Parameters
    ----------
    folder : output folder (created).
    panel : the panel's name in the file names.
    snpinfo_df : ``chrom, snp, bp, a1, a2, maf``, one row per SNP of the blocks.
    blocks : chromosome -> its blocks in order (correlations of A1 allele counts).
    dtype : storage type of the matrices (``float64`` or ``float32``).

    Returns
    -------
    The written panel.
    """
    import h5py

    os.makedirs(folder, exist_ok=True)
    names = dict(zip(("chrom", "snp", "bp", "a1", "a2", "maf"), SNPINFO_COLUMNS, strict=True))
    table = snpinfo_df.rename(columns=names)[list(SNPINFO_COLUMNS)]
    table.to_csv(
        os.path.join(folder, snpinfo_name(panel)), sep="\t", index=False, float_format="%.6g"
    )
    for chrom, chrom_blocks in blocks.items():
        with h5py.File(os.path.join(folder, block_file_name(panel, chrom)), "w") as handle:
            for number, block in enumerate(chrom_blocks, start=1):
                group = handle.create_group(f"blk_{number}")
                group.create_dataset("ldblk", data=np.asarray(block.ld, dtype=dtype))
                group.create_dataset("snplist", data=np.array([s.encode() for s in block.snps]))
    return find_panel(folder)
