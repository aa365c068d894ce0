"""Typed configuration, loaded once from a YAML file and validated.

Every key has the study's value as its default, so a config file names only
what differs (paths, mostly).  Unknown keys and wrong types are errors that
name the full key (``cohorts.wgs_diverse.role``) and the file.

Relative paths in a config file are resolved against the directory of that
file, so a study folder with its ``config.yaml`` can be moved as a whole.
Remote paths (``gs://``, ``s3://``, ``hdfs://`` ...) are left as they are.
``${VAR}`` in a string value is replaced by the environment variable ``VAR``
(the All of Us Workbench publishes its data paths that way); an unset
variable is an error naming the key and the variable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from trd_spark.errors import TrdSparkError
from trd_spark.resources import conf_path
from trd_spark.study import (
    DEFAULT_GAP_DAYS,
    PRIMARY_TRD,
    PRIMARY_TRMDD,
    SWITCHING_DEFAULTS,
    TRD_DEFS,
    TRMDD_DEFS,
)
from trd_spark.uri import is_remote

DEFAULT_TRAITS = "traits.tsv"
DEFAULT_CODE_LISTS = "code_lists"

GenotypeFormat = Literal["mt", "vcf", "plink", "bgen"]
Assay = Literal["sequencing", "array"]
WeightFormat = Literal["prscs", "pgscatalog"]
Role = Literal["discovery", "replication"]
GapBasis = Literal["start_to_start", "end_to_start"]
Ancestry = Literal["afr", "amr", "eas", "eur", "mid", "sas", "oth"]
PgsAdjust = Literal["none", "z_norm1", "z_norm2"]


class ConfigError(TrdSparkError, ValueError):
    """A config file that cannot be used; the message names the key and the file."""


@dataclass(frozen=True)
class SparkConfig:
    """How to start Spark.  ``master`` None means: use the cluster's context
    when submitted, else ``local[*]``."""

    master: str | None = None
    driver_memory: str = "8g"
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VariantQCConfig:
    """The study's variant QC; each rule can be changed or switched off.

    The top-level ``qc`` applies to every platform; ``genotypes.<platform>.qc`` changes it for
    one platform (see :func:`platform_qc` for the order in which they combine).
    """

    population_af: bool = True  # apply the ACAF rule below (arrays: off unless set per platform)
    min_pop_af: float = 0.01  # keep if population-specific AF > this in any group ...
    min_pop_ac: int = 100  # ... or population-specific AC > this in any group
    min_af: float = 0.005  # drop overall AF <= this
    min_call_rate: float = 0.99
    excess_het_p: float = 1e-6  # drop sites whose excess-heterozygosity p-value is below
    multiallelic: Literal["drop", "split"] = "drop"
    snv_only: bool = True
    # which sites QC examines and the dosage cache holds: only those at a position or rsID of
    # some weight file (small even for whole genomes), or every bi-allelic site
    cache_sites: Literal["weights", "all"] = "weights"


# What an assay changes in the top-level qc and in weights.min_overlap.  An array's sites are
# used as genotyped: the ACAF population-AF rule, built for sequencing call sets, is off, and
# its floor of weight overlap is lower because an array carries only part of the weight sites.
ASSAY_QC_DEFAULTS: dict[str, dict[str, Any]] = {
    "sequencing": {},
    "array": {"population_af": False},
}
ARRAY_MIN_OVERLAP = 0.30


@dataclass(frozen=True)
class GenotypeSource:
    """One genotyping platform's data and the QC and overlap policy for it."""

    path: str
    format: GenotypeFormat = "mt"
    assay: Assay = "sequencing"  # sequencing or array: sets the platform's default policy
    reference_genome: str = "GRCh38"
    sample_file: str | None = None  # BGEN .sample; default <path without .bgen>.sample
    n_partitions: int | None = None
    qc: VariantQCConfig | None = None  # keys given here override the top-level qc
    # smallest share of a trait's weights matched on this platform; a trait below is not scored
    # here (None: weights.min_overlap for sequencing, ARRAY_MIN_OVERLAP for an array)
    min_overlap: float | None = None


@dataclass(frozen=True)
class CohortRule:
    """Which genotyped persons make up one analysis cohort."""

    genotypes: str
    role: Role = "replication"
    ancestry: list[Ancestry] | None = None
    exclude_in: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WeightsConfig:
    """PGS weights and how to match them to the genotypes.

    ``path`` is a folder of ready weight files.  Leave it out when a ``prscs`` section
    computes the weights: the score stage then reads what the weights stage wrote under
    ``<output_dir>/weights``.  The other keys apply either way (the weights stage matches
    summary statistics to the genotypes with ``keep_ambiguous`` too).
    """

    path: str | None = None
    format: WeightFormat = "prscs"
    traits: str = DEFAULT_TRAITS  # the trait catalog; default is the shipped 61 traits
    min_overlap: float = 0.75  # sequencing platforms' floor (genotypes.<platform>.min_overlap)
    keep_ambiguous: bool = False
    reference_genome: str = "GRCh38"
    chain_file: str | None = None


@dataclass(frozen=True)
class PrscsConfig:
    """The weights stage: PRS-CS from GWAS summary statistics (``docs/prscs.md``)."""

    sumstats: str  # folder: one file per trait, <trait>.txt (.tsv, .sumstats, .gz)
    ld_ref: str  # one panel's folder: snpinfo_<panel>_hm3 and ldblk_<panel>_chr<N>.hdf5
    # GWAS sample size per trait; traits not named take the catalog's n_gwas column
    n_gwas: dict[str, float] = field(default_factory=dict)
    phi: str = "auto"  # "auto" (learnt) or a positive number such as 1e-2 (fixed)
    n_iter: int = 1000
    n_burnin: int = 500
    thin: int = 5
    seed: int = 1
    # arithmetic of the LD matrices in the sampler: single (float32, 1.5-2x faster; draws
    # within about 3e-6 of a conditional sd of double's) or double (float64); docs/prscs.md
    precision: Literal["single", "double"] = "single"
    # platforms whose QC'd sites a SNP must be on (any of them); default every platform
    target_platforms: list[str] | None = None

    @property
    def phi_value(self) -> float | None:
        """The fixed phi, or None when learnt."""
        return None if self.phi == "auto" else float(self.phi)


@dataclass(frozen=True)
class OmopConfig:
    """Where the OMOP CDM tables are."""

    path: str
    format: Literal["parquet", "csv"] = "parquet"
    date_format: str = "yyyy-MM-dd"  # for CSV tables
    ehr_only: bool = False  # All of Us: keep rows whose *_ext src_id is an EHR site


@dataclass(frozen=True)
class SwitchingDefinition:
    """TRD by drug switching under one gap and one window (``docs/phenotypes.md``)."""

    gap_days: int
    window_days: int


@dataclass(frozen=True)
class ControlsConfig:
    """Who may be a non-MDD control (``docs/phenotypes.md``, "Groups")."""

    # a control needs at least one EHR record (condition, drug, procedure, visit or
    # observation period); persons without are counted as "no EHR" and are in no group
    require_ehr: bool = True


@dataclass(frozen=True)
class PhenotypeConfig:
    """Phenotype definitions; defaults reproduce the study (``docs/phenotypes.md``)."""

    code_lists: str = DEFAULT_CODE_LISTS
    gap_basis: GapBasis = "start_to_start"
    default_gap_days: int = DEFAULT_GAP_DAYS
    min_switch_drugs: int = 3  # "more than 2 distinct antidepressants"
    trd_1: SwitchingDefinition = SwitchingDefinition(*SWITCHING_DEFAULTS["trd_1"])
    trd_2: SwitchingDefinition = SwitchingDefinition(*SWITCHING_DEFAULTS["trd_2"])
    trd_3: SwitchingDefinition = SwitchingDefinition(*SWITCHING_DEFAULTS["trd_3"])
    default_exposure_days: int = 30  # end = start + 29 when neither end nor supply given
    cutoff_date: dt.date | None = None  # default: latest observation_period end
    min_mdd_dates_survival: int = 3
    controls: ControlsConfig = ControlsConfig()
    # antidepressant rows of a listed non-systemic route or dose form (drug_forms.tsv) are
    # not exposures; counted in the attrition table by reason
    exclude_non_systemic: bool = True


@dataclass(frozen=True)
class AnalysisConfig:
    """Statistical analysis settings (``docs/statistics.md``)."""

    significance: float = 1e-5
    n_pcs: int = 16
    primary_trd: str = PRIMARY_TRD
    primary_trmdd: str = PRIMARY_TRMDD
    strata_percentiles: list[float] = field(default_factory=lambda: [20.0, 80.0])
    sex_stratified: bool = True
    max_iter: int = 25
    tol: float = 1e-8
    # ancestry calibration of the PGS before every analysis (docs/statistics.md): none, or
    # pgsc_calc's Z_norm1 (mean on the PCs) / Z_norm2 (mean and variance on the PCs)
    pgs_adjust: PgsAdjust = "none"
    pgs_adjust_pcs: int = 4  # PCs the calibration regresses on (pgsc_calc's default, 4)


@dataclass(frozen=True)
class ReportConfig:
    """Report settings, including All of Us small-count suppression."""

    # disclosure control of every shareable output (docs/disclosure.md): counts of persons
    # from 1 to min_count are never shown nor derivable; off shows exact counts (private use)
    suppress_small_counts: bool = True
    min_count: int = 20
    rounding_base: int = 0  # > 1: published counts rounded to a multiple of this (off: 0)
    # PGS whose Kaplan-Meier curves are drawn (the paper's Figure 2); absent ones are skipped
    km_traits: list[str] = field(default_factory=lambda: ["educational_attainment", "insomnia"])


def _study_cohorts() -> dict[str, CohortRule]:
    return {
        "wgs_european": CohortRule(genotypes="wgs", ancestry=["eur"], role="discovery"),
        "wgs_diverse": CohortRule(
            genotypes="wgs", ancestry=["afr", "amr", "eas", "mid", "sas", "oth"], role="replication"
        ),
        "microarray": CohortRule(genotypes="array", exclude_in=["wgs"], role="replication"),
    }


@dataclass(frozen=True)
class Config:
    """The whole run: inputs, outputs and every setting."""

    output_dir: str
    genotypes: dict[str, GenotypeSource]
    omop: OmopConfig
    weights: WeightsConfig = WeightsConfig()
    prscs: PrscsConfig | None = None
    ancestry: str | None = None
    cohorts: dict[str, CohortRule] = field(default_factory=_study_cohorts)
    spark: SparkConfig = SparkConfig()
    qc: VariantQCConfig = VariantQCConfig()
    phenotypes: PhenotypeConfig = PhenotypeConfig()
    analysis: AnalysisConfig = AnalysisConfig()
    report: ReportConfig = ReportConfig()
    source: str = ""  # the file this config was read from (set by load_config)

    @property
    def discovery_cohort(self) -> str:
        return next(name for name, rule in self.cohorts.items() if rule.role == "discovery")

    def platform_qc(self, platform: str) -> VariantQCConfig:
        """The QC settings of one platform.

        A config file's ``genotypes.<platform>.qc`` is already resolved by the loader (the
        top-level ``qc``, then the assay's defaults, then the platform's own keys); a config
        built in code without it gets the top-level ``qc`` with the assay's defaults.
        """
        source = self.genotypes[platform]
        if source.qc is not None:
            return source.qc
        return dataclasses.replace(self.qc, **ASSAY_QC_DEFAULTS[source.assay])

    def platform_min_overlap(self, platform: str) -> float:
        """The smallest matched share of a trait's weights for the trait to be scored there."""
        source = self.genotypes[platform]
        if source.min_overlap is not None:
            return source.min_overlap
        return ARRAY_MIN_OVERLAP if source.assay == "array" else self.weights.min_overlap


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

_PATH_KEYS = {
    "output_dir",
    "ancestry",
    "genotypes.*.path",
    "genotypes.*.sample_file",
    "weights.path",
    "weights.traits",
    "weights.chain_file",
    "prscs.sumstats",
    "prscs.ld_ref",
    "omop.path",
    "phenotypes.code_lists",
}
_SHIPPED_DEFAULTS = {"weights.traits": DEFAULT_TRAITS, "phenotypes.code_lists": DEFAULT_CODE_LISTS}
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, validate and resolve a YAML config file.

    Parameters
    ----------
    path : the YAML file.

    Returns
    -------
    Config with every default filled in and every path resolved.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {file} does not exist; pass --config with a YAML file")
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{file}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of keys to values")
    raw = _merge_platform_qc(_expand_env(raw, file, ""), file)
    config = _build(Config, raw, file, "")
    config = _resolve_paths(config, file.parent.resolve())
    _check_consistency(config, file)
    return dataclasses.replace(config, source=str(file.resolve()))


def config_from_dict(raw: dict[str, Any], base_dir: str | os.PathLike[str] = ".") -> Config:
    """Build a Config from a mapping, as if it were a YAML file in ``base_dir``."""
    where = Path(base_dir) / "<dict>"
    config = _build(Config, _merge_platform_qc(_expand_env(raw, where, ""), where), where, "")
    config = _resolve_paths(config, Path(base_dir).resolve())
    _check_consistency(config, where)
    return config


def _expand_env(value: Any, file: Path, key: str) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, file, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, file, key) for v in value]
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(
                    f"{file}: key '{key}' uses ${{{name}}} but the environment variable {name} "
                    "is not set; set it or write the path out"
                )
            return os.environ[name]

        return _ENV_VAR.sub(lookup, value)
    return value


def _merge_platform_qc(raw: dict[str, Any], file: Path) -> dict[str, Any]:
    """Give every platform its own ``qc`` mapping: the top-level ``qc``, then what the
    platform's assay changes, then the platform's own ``qc`` keys (the last one given wins).

    The top-level ``qc`` is checked first so that its errors name ``qc.<key>``.
    """
    shared = raw.get("qc", {})
    genotypes = raw.get("genotypes")
    if not isinstance(shared, dict) or not isinstance(genotypes, dict):
        return raw  # _build reports the wrong type
    _build(VariantQCConfig, shared, file, "qc")
    merged: dict[str, Any] = {}
    for name, source in genotypes.items():
        own = source.get("qc", {}) if isinstance(source, dict) else None
        if isinstance(own, dict):
            assay_defaults = ASSAY_QC_DEFAULTS.get(str(source.get("assay", "sequencing")), {})
            source = {**source, "qc": {**shared, **assay_defaults, **own}}
        merged[name] = source
    return {**raw, "genotypes": merged}


def _build(cls: type, raw: Any, file: Path, key: str) -> Any:
    """Turn a mapping into dataclass ``cls``, checking every key and type."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: key '{key}' must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        where = f"'{key}.{unknown[0]}'" if key else f"'{unknown[0]}'"
        raise ConfigError(f"{file}: unknown key {where}; allowed here: {', '.join(sorted(fields))}")
    values = {}
    for name, f in fields.items():
        sub = f"{key}.{name}" if key else name
        if name in raw:
            values[name] = _coerce(hints[name], raw[name], file, sub)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{file}: required key '{sub}' is missing")
    return cls(**values)


def _coerce(hint: Any, value: Any, file: Path, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _coerce(non_none[0], value, file, key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(
                f"{file}: key '{key}' is {value!r}; allowed values: {', '.join(map(str, args))}"
            )
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{file}: key '{key}' must be a list, got {value!r}")
        return [_coerce(args[0], v, file, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{file}: key '{key}' must be a mapping, got {value!r}")
        return {str(k): _coerce(args[1], v, file, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type, hint), value, file, key)
    return _coerce_scalar(hint, value, file, key)


def _coerce_scalar(hint: Any, value: Any, file: Path, key: str) -> Any:
    def wrong() -> ConfigError:
        return ConfigError(
            f"{file}: key '{key}' must be {getattr(hint, '__name__', hint)}, got {value!r}"
        )

    if hint is bool:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong()
        return float(value)
    if hint is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise wrong()
        return str(value)
    if hint is dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise wrong() from None
    raise wrong()


def _resolve(path: str, base: Path) -> str:
    if is_remote(path) or os.path.isabs(path):
        return path
    return str((base / os.path.expanduser(path)).resolve())


def _resolve_paths(config: Config, base: Path) -> Config:
    def resolve_field(obj: Any, prefix: str) -> Any:
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            key = f"{prefix}{f.name}"
            if isinstance(value, str) and (key in _PATH_KEYS or _wild(key) in _PATH_KEYS):
                if _SHIPPED_DEFAULTS.get(key) == value:
                    changes[f.name] = str(conf_path(value))
                else:
                    changes[f.name] = _resolve(value, base)
            elif dataclasses.is_dataclass(value):
                changes[f.name] = resolve_field(value, f"{key}.")
            elif isinstance(value, dict):
                changes[f.name] = {
                    k: resolve_field(v, f"{key}.{k}.") if dataclasses.is_dataclass(v) else v
                    for k, v in value.items()
                }
        return dataclasses.replace(obj, **changes)

    return typing.cast(Config, resolve_field(config, ""))


def _wild(key: str) -> str:
    parts = key.split(".")
    return ".".join([parts[0], "*", *parts[2:]]) if len(parts) > 2 else key


def _check_consistency(config: Config, file: Path) -> None:
    if not config.genotypes:
        raise ConfigError(f"{file}: key 'genotypes' must name at least one platform")
    for name, rule in config.cohorts.items():
        if rule.genotypes not in config.genotypes:
            raise ConfigError(
                f"{file}: key 'cohorts.{name}.genotypes' names platform '{rule.genotypes}', "
                f"which is not under 'genotypes' ({', '.join(config.genotypes)})"
            )
        for other in rule.exclude_in:
            if other not in config.genotypes:
                raise ConfigError(
                    f"{file}: key 'cohorts.{name}.exclude_in' names platform '{other}', "
                    f"which is not under 'genotypes' ({', '.join(config.genotypes)})"
                )
        if rule.ancestry is not None and config.ancestry is None:
            raise ConfigError(
                f"{file}: cohort '{name}' filters on ancestry but no 'ancestry' file is given"
            )
    roles = [rule.role for rule in config.cohorts.values()]
    if roles.count("discovery") != 1:
        raise ConfigError(
            f"{file}: exactly one cohort must have role 'discovery' "
            f"(found {roles.count('discovery')})"
        )
    analysis = config.analysis
    if analysis.primary_trd not in TRD_DEFS or analysis.primary_trmdd not in TRMDD_DEFS:
        raise ConfigError(
            f"{file}: keys 'analysis.primary_trd' / 'analysis.primary_trmdd' are "
            f"{analysis.primary_trd!r} / {analysis.primary_trmdd!r}; choose from "
            f"{', '.join(TRD_DEFS)} and {', '.join(TRMDD_DEFS)}"
        )
    if not 1 <= analysis.pgs_adjust_pcs <= analysis.n_pcs:
        raise ConfigError(
            f"{file}: key 'analysis.pgs_adjust_pcs' is {analysis.pgs_adjust_pcs}; it must be "
            f"between 1 and analysis.n_pcs ({analysis.n_pcs})"
        )
    if not 0 < config.weights.min_overlap <= 1:
        raise ConfigError(f"{file}: key 'weights.min_overlap' must be in (0, 1]")
    for name, source in config.genotypes.items():
        if source.min_overlap is not None and not 0 < source.min_overlap <= 1:
            raise ConfigError(f"{file}: key 'genotypes.{name}.min_overlap' must be in (0, 1]")
    _check_weight_source(config, file)


def _check_weight_source(config: Config, file: Path) -> None:
    """Ready weight files (``weights.path``) or a ``prscs`` section, not both, not neither."""
    prscs = config.prscs
    if prscs is None:
        if config.weights.path is None:
            raise ConfigError(
                f"{file}: required key 'weights.path' is missing; give the folder of ready "
                "weight files, or a 'prscs' section to compute them from summary statistics"
            )
        return
    if config.weights.path is not None:
        raise ConfigError(
            f"{file}: key 'weights.path' and a 'prscs' section are both given; the score stage "
            "reads either ready weight files (weights.path) or the ones the weights stage "
            "computes (prscs): remove one"
        )
    if config.weights.format != "prscs":
        raise ConfigError(f"{file}: key 'weights.format' must be prscs with a 'prscs' section")
    if prscs.phi != "auto":
        try:
            phi = float(prscs.phi)
        except ValueError:
            phi = 0.0
        if not 0 < phi < float("inf"):
            raise ConfigError(
                f"{file}: key 'prscs.phi' is {prscs.phi!r}; use auto or a positive number "
                "such as 1e-2"
            )
    if prscs.n_iter < 1 or prscs.n_burnin < 0 or prscs.thin < 1 or prscs.n_burnin >= prscs.n_iter:
        raise ConfigError(
            f"{file}: keys 'prscs.n_iter', 'prscs.n_burnin', 'prscs.thin' must satisfy "
            "0 <= n_burnin < n_iter and thin >= 1"
        )
    bad_n = {t: n for t, n in prscs.n_gwas.items() if not n > 0}
    if bad_n:
        trait = next(iter(bad_n))
        raise ConfigError(f"{file}: key 'prscs.n_gwas.{trait}' must be a positive number")
    for platform in prscs.target_platforms or []:
        if platform not in config.genotypes:
            raise ConfigError(
                f"{file}: key 'prscs.target_platforms' names platform '{platform}', which is "
                f"not under 'genotypes' ({', '.join(config.genotypes)})"
            )
