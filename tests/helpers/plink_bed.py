"""PLINK 1 .bed rows packed by hand, for tests of the dosage-cache readers."""

from __future__ import annotations

from pathlib import Path


def pack_bed_row(alt_dosages: list[int | None]) -> bytes:
    """PLINK 1 .bed packing written out by hand: A1 = ALT, 00 hom A1, 01 missing, 10 het, 11 hom A2."""
    code = {2: 0b00, None: 0b01, 1: 0b10, 0: 0b11}
    padded = list(alt_dosages) + [0] * (-len(alt_dosages) % 4)
    out = bytearray()
    for i in range(0, len(padded), 4):
        byte = 0
        for j in range(4):
            byte |= code[padded[i + j]] << (2 * j)
        out.append(byte)
    return bytes(out)


def write_bed(path: Path, dosages: list[list[int | None]]) -> None:
    """A .bed file (SNP-major) of the given ALT dosages, one list per site."""
    path.write_bytes(b"\x6c\x1b\x01" + b"".join(pack_bed_row(row) for row in dosages))
