"""Every bad command line gets a one-line message that says what to fix, and no traceback."""

from __future__ import annotations

import json
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
        "unknown stage(s) scoring in --stages; choose from "
        "qc,weights,score,phenotype,analyze,report" in err
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


@pytest.fixture
def fake_pipeline(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """commands.simulate and commands.run replaced by recorders (no Spark)."""
    from trd_spark import commands

    calls: list[tuple[str, ...]] = []

    def simulate(out: str, scale: str, seed: int, export, overwrite: bool) -> Path:
        calls.append(("simulate", scale, str(seed), ",".join(export), str(overwrite)))
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "data").mkdir(exist_ok=True)
        (Path(out) / "config.yaml").write_text("output_dir: .\n")
        return Path(out) / "config.yaml"

    def run(config_file: str, stages, force: bool) -> None:
        calls.append(("run", Path(config_file).name, str(force)))

    monkeypatch.setattr(commands, "simulate", simulate)
    monkeypatch.setattr(commands, "run", run)
    return calls


def test_demo_reuses_the_study_of_the_same_scale_and_seed(
    tmp_path: Path, fake_pipeline: list[tuple[str, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "demo")
    assert run_cli(["demo", "--out", out, "--scale", "tiny", "--seed", "3"], capsys)[0] == 0
    assert fake_pipeline == [("simulate", "tiny", "3", "", "True"), ("run", "config.yaml", "False")]
    fake_pipeline.clear()
    code, _ = run_cli(["demo", "--out", out, "--scale", "tiny", "--seed", "3"], capsys)
    assert code == 0
    assert fake_pipeline == [("run", "config.yaml", "False")]  # finished stages skip themselves
    fake_pipeline.clear()
    code, _ = run_cli(
        ["demo", "--out", out, "--scale", "tiny", "--seed", "3", "--overwrite"], capsys
    )
    assert code == 0
    assert fake_pipeline[0] == ("simulate", "tiny", "3", "", "True")


def test_demo_refuses_another_scale_or_an_unknown_folder(
    tmp_path: Path, fake_pipeline: list[tuple[str, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    run_cli(["demo", "--out", str(out), "--scale", "tiny", "--seed", "3"], capsys)
    fake_pipeline.clear()
    code, err = run_cli(["demo", "--out", str(out), "--scale", "tiny", "--seed", "4"], capsys)
    assert code == 2 and fake_pipeline == []
    assert (
        "holds a demo study of scale tiny, seed 3; pass --overwrite to simulate the tiny study (seed 4)"
        in err
    )
    (out / "demo.json").unlink()  # e.g. a simulation killed before it finished
    code, err = run_cli(["demo", "--out", str(out), "--scale", "tiny", "--seed", "3"], capsys)
    assert code == 2 and "files that are not a finished demo study" in err
    code, _ = run_cli(
        ["demo", "--out", str(out), "--scale", "tiny", "--seed", "3", "--overwrite"], capsys
    )
    assert code == 0 and json.loads((out / "demo.json").read_text())["seed"] == 3


def test_demo_and_help_say_how_reuse_works(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "reuses the study simulated there and skips the stages that finished" in text
    assert "--overwrite simulate the study again" in text


def test_example_config_prints_a_shipped_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["example-config", "dataproc"]) == 0
    assert "output_dir: gs://YOUR-BUCKET/trd-spark/run1" in capsys.readouterr().out
