"""The configuration shipped inside the package: trait catalog, code lists, example configs.

The files live in ``trd_spark/conf/`` (the repository's top-level ``conf`` is a link to it)
and are found with :mod:`importlib.resources`, so they are found however trd-spark was
installed: a source checkout, a wheel, ``pip install --user``, or a wheel shipped with
``spark-submit --py-files`` (which Python imports as a zip archive, where the files have
no path on disk).

Read a file's text with :func:`read_conf_text`.  Code that needs a real path (pandas,
Spark, a config pointing at the shipped code lists) calls :func:`conf_dir`: the package's
own folder when it is on disk, else a copy extracted once per content into the temporary
folder (the same path in every process, so stage fingerprints stay stable).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

PACKAGE = "trd_spark"
CONF = "conf"
EXAMPLE_CONFIGS = ("demo", "aou", "dataproc", "emr")


def conf_files() -> Traversable:
    """The shipped ``conf/`` folder as an importlib.resources Traversable."""
    return resources.files(PACKAGE) / CONF


def read_conf_text(name: str) -> str:
    """The text of a shipped file, e.g. ``traits.tsv`` or ``code_lists/drugs.tsv``."""
    node = conf_files()
    for part in name.split("/"):
        node = node / part
    if not node.is_file():
        raise FileNotFoundError(f"trd-spark ships no conf/{name}; reinstall trd-spark")
    return node.read_text(encoding="utf-8")


def example_config(name: str) -> str:
    """The text of a shipped example config (``demo``, ``aou``, ``dataproc`` or ``emr``)."""
    if name not in EXAMPLE_CONFIGS:
        raise ValueError(f"no example config {name!r}; choose from {', '.join(EXAMPLE_CONFIGS)}")
    return read_conf_text(f"{name}.yaml")


def conf_dir() -> Path:
    """A folder on disk holding the shipped ``conf/`` files.

    Returns
    -------
    The package's own ``conf/`` when installed on disk; when imported from a zip, a
    copy extracted into the temporary folder (once per content, shared by processes).
    """
    root = conf_files()
    if isinstance(root, Path) and root.is_dir():
        return root
    return _extracted()


def conf_path(name: str) -> Path:
    """A file or folder inside the shipped ``conf/``, as a real path (see :func:`conf_dir`)."""
    return conf_dir() / name


def walk_files(node: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    """Every file under ``node`` as (relative name, Traversable), sorted by name."""
    files: list[tuple[str, Traversable]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        name = f"{prefix}{child.name}"
        if child.is_dir():
            if child.name != "__pycache__":
                files += walk_files(child, f"{name}/")
        else:
            files.append((name, child))
    return files


@functools.cache
def _extracted() -> Path:
    """Copy the shipped ``conf/`` to ``<tmp>/trd-spark-conf-<uid>-<hash>`` unless there already.

    The copy is written to a private folder and renamed into place, so a reader never
    sees half of it and processes extracting at the same time agree on the result.
    """
    files = [(name, node.read_bytes()) for name, node in walk_files(conf_files())]
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    base = Path(tempfile.gettempdir())
    target = base / f"trd-spark-conf-{os.getuid()}-{digest.hexdigest()[:16]}"
    if target.is_dir() and target.stat().st_uid == os.getuid():
        return target
    staging = Path(tempfile.mkdtemp(prefix="trd-spark-conf-", dir=base))
    for name, data in files:
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data)
    try:
        staging.rename(target)
    except OSError:  # another process put the same content there first
        shutil.rmtree(staging, ignore_errors=True)
    return target
