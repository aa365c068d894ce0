"""Every bad command line gets a one-line message that says what to fix, and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from trd_spark.cli import main


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["simulat"], "invalid choice: 'simulat'"),
        (["simulate"], "the following arguments are required: --out"),
        (["simulate", "--out", "x", "--scale", "huge"], "argument --scale: invalid choice: 'huge'"),
        (["simulate", "--out", "x", "--seed", "-3"], "argument --seed: must be 0 or more, got -3"),
        (["simulate", "--out", "x", "--seed", "abc"], "argument --seed: must be a whole number"),
        (
            ["simulate", "--out", "x", "--export", "bgen"],
            "unknown format(s) bgen; choose from vcf,plink",
        ),
        (
            ["simulate", "--out", "x", "--parts", "omop"],
            "unknown part(s) omop; choose from genotypes,ehr",
        ),
        (["run"], "the following arguments are required: --config"),
        (["run", "--config", "no/such.yaml"], "config file no/such.yaml does not exist"),
        (["score", "--config", "no/such.yaml"], "config file no/such.yaml does not exist"),
        (["demo", "--scale", "big"], "argument --scale: invalid choice: 'big'"),
    ],
)
def test_bad_arguments_are_explained(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_cli(argv, capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_bad_stage_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("output_dir: out\n")
    code, err = run_cli(["run", "--config", str(config), "--stages", "qc,scoring"], capsys)
    assert code == 2
    assert (
        "unknown stage(s) scoring in --stages; choose from qc,score,phenotype,analyze,report" in err
    )


def test_bad_config_is_reported_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("output_dir: out\ncolour: blue\n")
    code, err = run_cli(["run", "--config", str(config)], capsys)
    assert code == 2
    assert err.startswith("trd-spark: error: ")
    assert "unknown key 'colour'" in err and str(config) in err
    assert "Traceback" not in err


def test_simulate_refuses_a_non_empty_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "something.txt").write_text("keep me")
    code, err = run_cli(["simulate", "--out", str(tmp_path), "--scale", "tiny"], capsys)
    assert code == 2
    assert f"{tmp_path} exists and is not empty" in err and "--overwrite" in err
    assert (tmp_path / "something.txt").read_text() == "keep me"


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert "trd-spark 0.1.0" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("simulate", "run", "qc", "score", "phenotype", "analyze", "report", "demo"):
        assert command in out


def test_simulate_ehr_only_runs_without_hail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    code, err = run_cli(
        ["simulate", "--out", str(tmp_path / "s"), "--scale", "tiny", "--parts", "ehr"], capsys
    )
    assert code == 0, err
    persons = pd.read_parquet(tmp_path / "s" / "data" / "omop" / "person")
    truth = pd.read_parquet(tmp_path / "s" / "truth" / "persons.parquet")
    assert set(persons.person_id) <= set(truth.person_id)
    assert not (tmp_path / "s" / "data" / "wgs.mt").exists()


def test_simulate_check_ignores_a_previous_sessions_scratch(tmp_path: Path) -> None:
    from trd_spark.errors import InputError
    from trd_spark.simulate.study import SESSION_ENTRIES, check_folder

    for name in SESSION_ENTRIES:
        (tmp_path / name).mkdir()
    check_folder(str(tmp_path), overwrite=False)  # only session leftovers: accepted
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="exists and is not empty"):
        check_folder(str(tmp_path), overwrite=False)
    check_folder(str(tmp_path), overwrite=True)
