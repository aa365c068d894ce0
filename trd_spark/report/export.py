"""The report's shareable tables: CSV copies under ``report/tables/`` (for sharing).

Every table written here has already been through the disclosure policy; the report's
sections decide what goes in them and this module only writes them.
"""

from __future__ import annotations

import os
import posixpath

import pandas as pd

from trd_spark.study import Layout

# the shareable tables' folder, relative to the report folder (``tables``)
SHARED_FOLDER = posixpath.relpath(Layout.REPORT_TABLES, posixpath.dirname(Layout.REPORT_INDEX))


def shared_csv_name(name: str) -> str:
    """A shareable table's path relative to the report folder: ``tables/<name>.csv``."""
    return f"{SHARED_FOLDER}/{name}.csv"


def write_shared_csv(table_df: pd.DataFrame, name: str, report_dir: str) -> str:
    """Write a shareable table (already through the disclosure policy) as CSV.

    Parameters
    ----------
    table_df : the table as it may be shared.
    name : its file name without ``.csv``.
    report_dir : the local report folder.

    Returns
    -------
    Its path relative to the report folder (``tables/<name>.csv``).
    """
    relative = shared_csv_name(name)
    path = os.path.join(report_dir, *relative.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    table_df.to_csv(path, index=False)
    return relative
