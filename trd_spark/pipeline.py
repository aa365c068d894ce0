"""The pipeline's stages and how they run, resume and skip.

A stage is a function ``run(config, out_dir) -> dict``.  It reads what earlier
stages wrote under ``config.output_dir`` and writes its own outputs under
``out_dir`` with the final layout (``out_dir/qc/summary.json`` ...).  The
runner gives it a fresh staging folder as ``out_dir`` and moves the outputs
into ``config.output_dir`` only when the stage returns, then writes the
stage's manifest last.  So a run killed mid-stage leaves the previous outputs
intact and no manifest for the unfinished stage: the next run redoes it.

A finished stage is skipped when its manifest's fingerprint (config section,
input files, the fingerprints of the stages it reads) is unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import platform
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from trd_spark import storage
from trd_spark.config import Config
from trd_spark.ehr.stage import run_phenotype
from trd_spark.genomics.stage import run_qc, run_score
from trd_spark.progress import stage_progress
from trd_spark.prscs.stage import run_weights
from trd_spark.report.stage import run_report
from trd_spark.stats.stage import run_analyze
from trd_spark.study import STAGE_FOLDERS, STAGES, Layout, output_path
from trd_spark.uri import is_remote

log = logging.getLogger(__name__)

StageFunction = Callable[[Config, str], dict[str, Any]]

# stage -> the function that runs it (docs/architecture.md, "Stages")
STAGE_FUNCTIONS: dict[str, StageFunction] = {
    "qc": run_qc,
    "weights": run_weights,
    "score": run_score,
    "phenotype": run_phenotype,
    "analyze": run_analyze,
    "report": run_report,
}
# stage -> earlier stages whose outputs it reads
STAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "qc": (),
    "weights": ("qc",),
    "score": ("qc", "weights"),
    "phenotype": ("qc",),
    "analyze": ("qc", "score", "phenotype"),
    "report": ("qc", "score", "phenotype", "analyze"),
}
# stage -> config sections that change its outputs
STAGE_CONFIG: dict[str, tuple[str, ...]] = {
    # weights: the cache's sites (with prscs, the LD panel's: among the qc inputs)
    "qc": ("genotypes", "ancestry", "cohorts", "qc", "weights"),
    "weights": ("weights", "prscs"),
    "score": ("genotypes", "ancestry", "cohorts", "weights"),  # prscs: via the weights stage
    "phenotype": ("omop", "phenotypes"),
    "analyze": ("analysis", "cohorts"),
    "report": ("report", "analysis"),
}
_PACKAGES = ("trd-spark", "hail", "pyspark", "numpy", "scipy", "pandas", "pyarrow", "h5py")


def manifest_path(output_dir: str, stage: str) -> str:
    """Where a finished stage's manifest is written."""
    return output_path(output_dir, Layout.manifest(stage))


def read_manifest(output_dir: str, stage: str) -> dict[str, Any] | None:
    """The manifest of a finished stage, or None."""
    path = manifest_path(output_dir, stage)
    if not storage.exists(path):
        return None
    return dict(json.loads(storage.read_text(path)))


def stage_fingerprint(stage: str, config: Config) -> str:
    """A hash of everything a stage's outputs depend on."""
    parts: dict[str, Any] = {
        "config": {key: _plain(getattr(config, key)) for key in STAGE_CONFIG[stage]},
        "inputs": _input_files(stage, config),
        "upstream": {
            up: (read_manifest(config.output_dir, up) or {}).get("fingerprint")
            for up in STAGE_INPUTS[stage]
        },
        "version": _version("trd-spark"),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def run_stage(stage: str, config: Config) -> dict[str, Any]:
    """Run one stage into a staging folder, move its outputs into place, write its manifest."""
    function = STAGE_FUNCTIONS[stage]
    fingerprint = stage_fingerprint(stage, config)
    staging = storage.join(config.output_dir, "_staging", stage)
    storage.remove(staging)
    storage.makedirs(staging)
    log.info("stage %s: start", stage)
    started = time.perf_counter()
    with stage_progress(stage):
        summary = function(config, staging)
    seconds = time.perf_counter() - started
    for folder in STAGE_FOLDERS[stage]:
        storage.replace(storage.join(staging, folder), storage.join(config.output_dir, folder))
    storage.remove(storage.join(config.output_dir, "_staging"))
    manifest = {
        "stage": stage,
        "fingerprint": fingerprint,
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "config_file": config.source,
        "config": {key: _plain(getattr(config, key)) for key in STAGE_CONFIG[stage]},
        "inputs": _input_files(stage, config),
        "versions": {name: _version(name) for name in _PACKAGES}
        | {"python": platform.python_version()},
        "summary": summary,
    }
    storage.write_text(
        manifest_path(config.output_dir, stage), json.dumps(manifest, indent=2, default=str)
    )
    log.info("stage %s: done in %.1f s", stage, seconds)
    return manifest


def run_stages(
    stages: Sequence[str], config: Config, force: bool = False
) -> dict[str, dict[str, Any]]:
    """Run ``stages`` in pipeline order, skipping finished ones whose fingerprint is unchanged.

    Parameters
    ----------
    stages : stage names (any order; run in pipeline order).
    config : the run's config.
    force : redo stages even when finished and unchanged.

    Returns
    -------
    The manifest of each stage, with ``"skipped"`` set on those not run now.
    """
    manifests: dict[str, dict[str, Any]] = {}
    for stage in [s for s in STAGES if s in stages]:
        previous = read_manifest(config.output_dir, stage)
        if (
            not force
            and previous
            and previous.get("fingerprint") == stage_fingerprint(stage, config)
        ):
            log.info("stage %s: finished earlier with the same inputs and config; skipped", stage)
            manifests[stage] = {**previous, "skipped": "up to date"}
            continue
        manifests[stage] = run_stage(stage, config)
    return manifests


# --- fingerprints -------------------------------------------------------------


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _input_paths(stage: str, config: Config) -> list[str]:
    paths: list[str] = []
    if stage in ("qc", "score"):
        paths += [source.path for source in config.genotypes.values()]
        paths += [config.ancestry] if config.ancestry else []
    if stage == "score" or (stage == "qc" and config.qc.cache_sites == "weights"):
        # computed weights are the weights stage's output (its fingerprint is upstream)
        paths += [config.weights.path] if config.weights.path else []
        paths += [config.prscs.ld_ref] if stage == "qc" and config.prscs else []
        paths += [config.weights.traits]
    if stage == "weights" and config.prscs:
        paths += [config.prscs.sumstats, config.prscs.ld_ref, config.weights.traits]
    if stage == "phenotype":
        paths += [config.omop.path, config.phenotypes.code_lists]
    return paths


def _input_files(stage: str, config: Config) -> dict[str, dict[str, Any]]:
    """Size and modification time of each input (a folder: its files' totals)."""
    return {path: _describe(path) for path in _input_paths(stage, config)}


def _describe(path: str) -> dict[str, Any]:
    if is_remote(path):
        return {"remote": True}
    p = Path(path)
    if not p.exists():
        return {"missing": True}
    files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
    stats = [f.stat() for f in files]
    return {
        "files": len(files),
        "bytes": sum(s.st_size for s in stats),
        "mtime": max((s.st_mtime for s in stats), default=0.0),
    }


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"
