"""Where the shipped configuration (trait catalog, code lists, example configs) lives.

In a source checkout or editable install it is the repository's ``conf/``;
in an installed wheel it is ``<prefix>/share/trd-spark/conf`` (setup.cfg
``data_files``).
"""

from __future__ import annotations

import sys
from pathlib import Path


def conf_dir() -> Path:
    """The folder holding the shipped ``conf/`` files."""
    candidates = [
        Path(__file__).resolve().parent.parent / "conf",
        Path(sys.prefix) / "share" / "trd-spark" / "conf",
    ]
    for candidate in candidates:
        if (candidate / "traits.tsv").is_file():
            return candidate
    raise FileNotFoundError(
        "cannot find the shipped conf/ folder (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); reinstall trd-spark or give weights.traits and phenotypes.code_lists explicitly"
    )


def conf_path(name: str) -> Path:
    """A file or folder inside the shipped ``conf/``."""
    return conf_dir() / name
