"""PLINK 1 binary writer (SNP-major .bed, .bim, .fam), written block by block."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

BED_MAGIC = bytes([0x6C, 0x1B, 0x01])
# .bed 2-bit codes with A1 = ALT first in the .bim: 0 -> hom A2 (REF) = 0b11, 1 -> het 0b10,
# 2 -> hom A1 (ALT) = 0b00, missing = 0b01.
_CODE_FOR_DOSAGE = np.array([0b01, 0b11, 0b10, 0b00], dtype=np.uint8)  # indexed by dosage + 1


def pack_bed_rows(dosages: np.ndarray) -> bytes:
    """Pack dosages (n_persons, n_sites; -1 missing) into SNP-major .bed rows.

    Parameters
    ----------
    dosages : ALT counts per person (rows) and site (columns).

    Returns
    -------
    The bytes of the sites' rows, each ceil(n_persons / 4) bytes, first person in the low bits.
    """
    n_persons, n_sites = dosages.shape
    codes = _CODE_FOR_DOSAGE[dosages.T.astype(np.int16) + 1]
    pad = (-n_persons) % 4
    if pad:
        codes = np.concatenate([codes, np.zeros((n_sites, pad), dtype=np.uint8)], axis=1)
    quads = codes.reshape(n_sites, -1, 4)
    packed = quads[:, :, 0] | (quads[:, :, 1] << 2) | (quads[:, :, 2] << 4) | (quads[:, :, 3] << 6)
    return packed.astype(np.uint8).tobytes()


def open_bed(path: Path) -> BinaryIO:
    """Open a new .bed file and write its magic header."""
    handle = path.open("wb")
    handle.write(BED_MAGIC)
    return handle


def bim_lines(sites_df: pd.DataFrame) -> str:
    """.bim text: contig, rsid, cM 0, position, A1 = ALT (the first one), A2 = REF."""
    rows = zip(
        sites_df["contig"],
        sites_df["rsid"],
        sites_df["position"],
        sites_df["alt"].str.split(",").str[0],
        sites_df["ref"],
        strict=False,
    )
    return "".join(f"{c}\t{r}\t0\t{p}\t{a}\t{b}\n" for c, r, p, a, b in rows)


def write_fam(path: Path, person_ids: np.ndarray, sex: np.ndarray) -> None:
    """.fam with FID = IID = person id, no parents, sex code (1 male, 2 female, 0 unknown).

    Parameters
    ----------
    path : output file.
    person_ids : ids in column order.
    sex : 1 / 2 / 0 per person.
    """
    lines = [f"{pid}\t{pid}\t0\t0\t{s}\t-9\n" for pid, s in zip(person_ids, sex, strict=False)]
    path.write_text("".join(lines))
