"""The report's Jinja2 templates: escaping, table markup, and loading from a zip (as a wheel)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd

import trd_spark
from trd_spark.report.figures import TERM_TITLES
from trd_spark.report.render import render, render_table, table_view
from trd_spark.study import SURVIVAL_TERMS


def test_table_marks_count_cells_and_escapes_text():
    table_df = pd.DataFrame({"group": ["<b>TRD</b>", "a & b"], "n": ["1,234", None]})
    page = render_table(table_df, ["n"], caption="x < y")
    assert page == (
        "<table><caption>x &lt; y</caption><thead><tr><th>group</th><th>n</th></tr></thead>"
        '<tbody><tr><td>&lt;b&gt;TRD&lt;/b&gt;</td><td class="count">1,234</td></tr>'
        '<tr><td>a &amp; b</td><td class="count"></td></tr></tbody></table>'
    )


def test_table_view_keeps_the_frame_as_text():
    view = table_view(pd.DataFrame({"k": ["3", None]}), ["k"])
    assert view.columns == ["k"]
    assert [[(c.text, c.count) for c in row] for row in view.rows] == [[("3", True)], [("", True)]]


def test_missing_section_names_its_files():
    body = render("sections/missing.html.j2", paths=["results/km.parquet", "a<b"])
    assert body == (
        '<p class="missing">not available: results/km.parquet, a&lt;b '
        "(the stage that writes it has not run)</p>"
    )


def test_figure_two_has_a_title_for_every_survival_term():
    assert set(TERM_TITLES) == set(SURVIVAL_TERMS)


def test_templates_load_from_a_zip(tmp_path: Path):
    # a wheel installed as a zip (or zipimport) has no template files on disk
    package = Path(trd_spark.__file__).parent
    archive = tmp_path / "trd_spark.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in package.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                zipped.write(path, path.relative_to(package.parent).as_posix())
    code = (
        "import pandas as pd, trd_spark.report.render as r\n"
        "assert '.zip' in r.__file__, r.__file__\n"
        "print(r.render_table(pd.DataFrame({'n': ['25']}), ['n']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(archive), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '<td class="count">25</td>' in done.stdout
