"""Paths that may be local or remote (``gs://``, ``s3://``, ``hdfs://``, ``file://``).

Standard library only: Spark's Python workers, the config loader and the session helper all
tell a URI from a local path through this module without importing anything heavier.
"""

from __future__ import annotations

import re
from pathlib import Path

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_remote(path: str) -> bool:
    """True for a URI with a scheme (``gs://``, ``s3://``, ``hdfs://``, ``file://``)."""
    return _SCHEME.match(path) is not None


def join(*parts: str) -> str:
    """Join path parts; a URI keeps its ``scheme://`` and gets ``/`` separators."""
    if is_remote(parts[0]):
        return "/".join([parts[0].rstrip("/"), *(p.strip("/") for p in parts[1:])])
    return str(Path(*parts))
