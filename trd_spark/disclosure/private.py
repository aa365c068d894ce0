"""Exact counts go only to files marked not shareable, under ``output_dir/private/``.

The console and the log at INFO level or above are shareable outputs: a user may paste
them anywhere.  A log record that carries exact counts of persons is marked
``extra=PRIVATE``; :class:`ShareableFilter` keeps it off the console and the run's log file
(``logs/trd-spark.log``), and :func:`attach_private_log` writes it, and only such records,
to ``private/trd-spark.log``.  :func:`write_private` writes a whole file there (the phenotype
stage's group sizes, the report's audit with its intervals).  ``private/`` holds a
README saying it must not leave the secure environment.
"""

from __future__ import annotations

import logging

from trd_spark.study import Layout, output_path
from trd_spark.uri import is_remote

PRIVATE: dict[str, bool] = {"private": True}  # ``extra=`` of a log record with exact counts
LOG_FILE = "trd-spark.log"
README = (
    "NOT SHAREABLE. The files in this folder hold exact counts of persons, including counts\n"
    "from 1 to 20. Under the All of Us Data and Statistics Dissemination Policy they must\n"
    "never leave the secure environment (Researcher Workbench). Share only report/ (see\n"
    "the README of trd-spark, 'The report and sharing results').\n"
)


class ShareableFilter(logging.Filter):
    """Drops log records marked :data:`PRIVATE` (on the console and the run's log file)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "private", False)


class PrivateFilter(logging.Filter):
    """Keeps only the log records marked :data:`PRIVATE` (for ``private/trd-spark.log``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return bool(getattr(record, "private", False))


def private_path(output_dir: str, name: str) -> str:
    """Path of a file ``name`` under ``output_dir/private/``."""
    return output_path(output_dir, f"{Layout.PRIVATE}/{name}")


def mark_private_folder(output_dir: str) -> None:
    """Create ``private/`` with its not-shareable README (idempotent)."""
    from trd_spark import storage

    readme = private_path(output_dir, "README.txt")
    if not storage.exists(readme):
        storage.write_text(readme, README)


def write_private(output_dir: str, name: str, text: str) -> str:
    """Write ``text`` to ``output_dir/private/<name>``; returns the path."""
    from trd_spark import storage

    mark_private_folder(output_dir)
    path = private_path(output_dir, name)
    storage.write_text(path, text)
    return path


def attach_private_log(
    output_dir: str, logger: logging.Logger | None = None
) -> logging.Handler | None:
    """Log the records of ``logger`` (default: ``trd_spark``) marked :data:`PRIVATE` to
    ``private/trd-spark.log``.

    Parameters
    ----------
    output_dir : the run's output folder; a remote one gets no private log file (its
        private records are then dropped from the console only).
    logger : the logger to attach to.

    Returns
    -------
    The handler (remove it with ``logger.removeHandler``), or None for a remote folder.
    """
    if is_remote(output_dir):
        return None
    mark_private_folder(output_dir)
    handler = logging.FileHandler(private_path(output_dir, LOG_FILE), encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.addFilter(PrivateFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    (logger or logging.getLogger("trd_spark")).addHandler(handler)
    return handler


def filter_shareable_handlers(logger: logging.Logger | None = None) -> None:
    """Add :class:`ShareableFilter` to every handler of ``logger`` (default: the root): the
    console and the run's log file show no record marked :data:`PRIVATE`."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, ShareableFilter) for f in handler.filters):
            handler.addFilter(ShareableFilter())
