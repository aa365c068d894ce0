"""The shipped configuration is found however trd-spark is installed, zip included."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import trd_spark
from trd_spark.resources import (
    EXAMPLE_CONFIGS,
    conf_dir,
    conf_path,
    example_config,
    read_conf_text,
)

PACKAGE = Path(trd_spark.__file__).parent


def test_on_disk_the_package_folder_is_used() -> None:
    assert conf_dir() == PACKAGE / "conf"
    assert conf_path("code_lists").is_dir()
    assert read_conf_text("traits.tsv") == (PACKAGE / "conf" / "traits.tsv").read_text()
    assert read_conf_text("code_lists/drugs.tsv").startswith("group\tconcept_id\tingredient")
    for name in EXAMPLE_CONFIGS:
        assert "genotypes:" in example_config(name)
    with pytest.raises(ValueError, match="choose from demo, aou, dataproc, emr"):
        example_config("laptop")
    with pytest.raises(FileNotFoundError, match=r"ships no conf/nothing\.tsv"):
        read_conf_text("nothing.tsv")


PROBE = """
import json, sys, trd_spark
from trd_spark.resources import conf_dir, conf_path, read_conf_text
folder = conf_dir()
print(json.dumps({
    "module": trd_spark.__file__,
    "folder": str(folder),
    "again": str(conf_dir()),
    "files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()),
    "drugs_equal": (conf_path("code_lists") / "drugs.tsv").read_text() == read_conf_text("code_lists/drugs.tsv"),
}))
"""


def test_imported_from_a_zip_the_files_are_extracted_once(tmp_path: Path) -> None:
    """As a wheel on spark-submit --py-files is imported: a zip on sys.path."""
    archive = tmp_path / "trd_spark.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(PACKAGE.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                out.write(path, str(path.relative_to(PACKAGE.parent)))
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(archive)!r})\n{PROBE}"],
                capture_output=True, text=True, check=True, cwd=tmp_path,
            ).stdout
        )
        for _ in range(2)
    ]  # fmt: skip
    first, second = runs
    assert first["module"].startswith(str(archive))
    assert first["folder"] == first["again"] == second["folder"]  # one copy, the same path
    assert not first["folder"].startswith(str(PACKAGE))
    expected = sorted(
        str(p.relative_to(PACKAGE / "conf")) for p in (PACKAGE / "conf").rglob("*") if p.is_file()
    )
    assert first["files"] == expected
    assert first["drugs_equal"]
