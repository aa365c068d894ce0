# ruff: noqa: E501  (the DuckDB SQL is easier to read on long lines)
"""Phenotype stage on simulated OMOP tables: Spark (trd-spark) vs the same work in DuckDB.

Usage:
    .venv/bin/python benchmarks/phenotype_bench.py [--study out/bench] [--scale bench]
        [--volumes 1,2,4] [--repeat 3] [--seed 1] [--threads 2] [--memory 6g] [--keep]

For each volume v, simulates the EHR part of the ``--scale`` study with every person count
times v into ``<study>-<v>x`` when it is not there yet (``simulate_study(..., parts=("ehr",),
size_factor=v)``; the ``bench`` scale writes All of Us record density, about 25 million OMOP
rows at 1x).  Then each engine runs in a fresh Python process (Spark: a fresh JVM), the
phenotype stage ``--repeat`` times: the first run is what one pipeline run gets, later runs
are printed for information.  DuckDB does the same work as the Spark stage: the definitions
(persons and periods written), the count of unusable rows by table and reason and the
time-to-event table.  Outputs are checked person by person (every status, onset and
covariate), time-to-event row by row, and dropped rows table by table.

Printed per volume: both engines' times and their ratio (target: Spark's first run <= 3x
DuckDB's at >= 20 million rows), the JIT compiler's time per run, peak memory (the Spark
JVM, driver and executor in one in local mode; the DuckDB process), and where Spark's time
went by stage (its event log).  Then a growth table over the volumes (cost per row).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# the study's numbers (docs/phenotypes.md), as the Spark stage's defaults
GAP_DEFAULT, N_SWITCH, DEFAULT_DAYS, MIN_MDD_DATES = 182, 3, 30, 3
SWITCHING = {"trd_1": (182, 365), "trd_2": (91, 365), "trd_3": (182, 730)}


def ingredient_sql(code_lists: str, omop: str) -> str:
    """The listed ingredients (ids from drugs.tsv, or looked up by name in concept)."""
    return f"""
    create or replace temp table listed as
    with lst as (
      select "group" as grp, try_cast(concept_id as bigint) as cid, lower(trim(ingredient)) as name
      from read_csv('{code_lists}/drugs.tsv', delim='\t', header=true, all_varchar=true)
    ), named as (
      select lower(concept_name) as name, min(concept_id) as cid from read_parquet('{omop}/concept/*.parquet')
      where vocabulary_id = 'RxNorm' and concept_class_id = 'Ingredient' group by 1
    )
    select distinct grp, coalesce(lst.cid, named.cid) as ingredient_id, lst.name
    from lst left join named on lst.cid is null and lst.name = named.name
    where coalesce(lst.cid, named.cid) is not null;
    """


def setup_sql(omop: str, code_lists: str) -> str:
    """Views over the Parquet tables plus the code lists."""
    views = "".join(
        f"create or replace view {t} as select * from read_parquet('{omop}/{t}/*.parquet');\n"
        for t in ("person", "observation_period", "visit_occurrence", "condition_occurrence", "drug_exposure",
                  "procedure_occurrence", "concept", "concept_ancestor", "concept_relationship")
    )  # fmt: skip
    lists = f"""
    create or replace temp table dx as
      select "group" as grp, vocabulary as vocab, upper(replace(trim(code), '.', '')) as prefix
      from read_csv('{code_lists}/diagnoses.tsv', delim='\t', header=true, all_varchar=true);
    create or replace temp table ect_codes as
      select vocabulary as vocab, upper(replace(trim(code), '.', '')) as code
      from read_csv('{code_lists}/procedures.tsv', delim='\t', header=true, all_varchar=true)
      where "group" = 'ect';
    create or replace temp table forms as
      select "group" as grp, lower(trim(ingredient)) as ingredient, try_cast(concept_id as bigint) as cid,
        lower(trim(name)) as name, label
      from read_csv('{code_lists}/drug_forms.tsv', delim='	', header=true, all_varchar=true);
    create or replace temp table race_ethnicity as
      select "group" as grp, cast(concept_id as bigint) as cid, label
      from read_csv('{code_lists}/race_ethnicity.tsv', delim='	', header=true, all_varchar=true);
    """
    return views + lists + ingredient_sql(code_lists, omop)


PHENOTYPE_SQL = """
create or replace temp table known as select distinct person_id from person where person_id is not null;
create or replace temp table cutoff as
  select max(observation_period_end_date) as d from observation_period o join known using (person_id)
  where observation_period_end_date is not null
    and (observation_period_start_date is null or observation_period_end_date >= observation_period_start_date);
create or replace temp table icd_groups as
  select k.concept_id, bool_or(coalesce(dx.grp = 'mdd', false)) as is_mdd,
    bool_or(coalesce(dx.grp <> 'mdd', false)) as is_other
  from concept k left join dx on dx.vocab = k.vocabulary_id
    and starts_with(upper(replace(trim(k.concept_code), '.', '')), dx.prefix)
  where k.vocabulary_id in ('ICD9CM', 'ICD10CM') group by k.concept_id;
create or replace temp table maps_to as
  select concept_id_1, concept_id_2 from concept_relationship where relationship_id = 'Maps to';
create or replace temp table snomed_kind as
  with standard as (
    select m.concept_id_2 as sid, bool_and(g.is_mdd) as mdd, bool_and(g.is_other) as other
    from maps_to m join icd_groups g on g.concept_id = m.concept_id_1 group by m.concept_id_2)
  select m.concept_id_1 as concept_id, bool_or(s.mdd) as mdd, bool_or(s.other) as other
  from maps_to m join standard s on s.sid = m.concept_id_2
  join concept k on k.concept_id = m.concept_id_1 and k.vocabulary_id = 'SNOMED'
  group by m.concept_id_1 having bool_or(s.mdd) or bool_or(s.other);
create or replace temp table dx_rows as
  with coded as (
    select c.person_id, c.condition_start_date as d, c.condition_source_concept_id as scid,
      case when k.concept_id is not null and c.condition_source_concept_id <> 0
           then upper(replace(trim(k.concept_code), '.', '')) else upper(replace(trim(c.condition_source_value), '.', '')) end as code,
      case when k.concept_id is not null and c.condition_source_concept_id <> 0 then k.vocabulary_id
           when regexp_matches(upper(replace(trim(c.condition_source_value), '.', '')), '^[A-DF-UW-Z]') then 'ICD10CM'
           else 'ICD9CM' end as vocab
    from condition_occurrence c join known using (person_id)
    left join concept k on k.concept_id = c.condition_source_concept_id
    where c.condition_start_date is not null)
  select coded.person_id, coded.d,
    bool_or(dx.grp = 'mdd') as is_mdd, bool_or(dx.grp <> 'mdd') as is_other
  from coded join dx on dx.vocab = coded.vocab and starts_with(coded.code, dx.prefix)
  group by coded.person_id, coded.d, coded.code, coded.vocab
  union all
  select coded.person_id, coded.d, s.mdd, s.other
  from coded join snomed_kind s on s.concept_id = coded.scid where coded.vocab = 'SNOMED';
create or replace temp table dx_person as
  select person_id, min(d) filter (where is_mdd) as first_mdd_date,
    count(distinct d) filter (where is_mdd) as n_mdd_dates,
    min(d) filter (where is_other) as first_other
  from dx_rows group by person_id;
create or replace temp table drug_map as
  select ingredient_id as drug_concept_id, ingredient_id, grp from listed
  union select a.descendant_concept_id, l.ingredient_id, l.grp
  from concept_ancestor a join listed l on a.ancestor_concept_id = l.ingredient_id;
create or replace temp table route_rules as
  select f.label, case when f.ingredient = '*' then null else l.ingredient_id end as ing,
    coalesce(f.cid, r.concept_id) as route_id
  from forms f
  left join (select concept_id, lower(concept_name) as name from concept where domain_id = 'Route') r
    on f.cid is null and r.name = f.name
  left join listed l on l.grp = 'antidepressant' and l.name = f.ingredient
  where f.grp = 'route' and coalesce(f.cid, r.concept_id) is not null
    and (f.ingredient = '*' or l.ingredient_id is not null);
create or replace temp table form_rules as
  select f.label, case when f.ingredient = '*' then null else l.ingredient_id end as ing, r.concept_id_1 as drug
  from forms f
  join concept k on k.concept_class_id = 'Dose Form' and (lower(k.concept_name) = f.name or k.concept_id = f.cid)
  join concept_relationship r on r.relationship_id = 'RxNorm has dose form' and r.concept_id_2 = k.concept_id
  left join listed l on l.grp = 'antidepressant' and l.name = f.ingredient
  where f.grp = 'dose_form' and (f.ingredient = '*' or l.ingredient_id is not null);
create or replace temp table exposures as
  select e.person_id, m.ingredient_id, m.grp, e.drug_exposure_start_date as s,
    case when m.grp = 'antidepressant' then coalesce(
      (select min(fr.label) from form_rules fr where fr.drug = e.drug_concept_id and (fr.ing is null or fr.ing = m.ingredient_id)),
      (select min(rr.label) from route_rules rr where rr.route_id = e.route_concept_id and (rr.ing is null or rr.ing = m.ingredient_id)))
    end as excluded,
    case when e.drug_exposure_end_date is not null and e.drug_exposure_end_date >= e.drug_exposure_start_date
         then e.drug_exposure_end_date
         when e.days_supply > 0 then e.drug_exposure_start_date + cast(e.days_supply - 1 as integer)
         else e.drug_exposure_start_date + {default_last} end as e
  from drug_exposure e join known using (person_id) join drug_map m using (drug_concept_id)
  where e.drug_exposure_start_date is not null and coalesce(e.drug_concept_id, 0) <> 0;
create or replace temp table ad as select * from exposures where grp = 'antidepressant' and excluded is null;
create or replace temp table labelled as
  with g as (
    select *, s - lag(s) over w as gap_ss, s - max(e) over (w rows between unbounded preceding and 1 preceding) as gap_es
    from ad window w as (partition by person_id order by s, e, ingredient_id))
  {labelled_union};
create or replace temp table periods as
  select person_id, gap_basis, gap_days, period_id, min(s) as start, max(e) as "end",
    count(*) as n_exposures, count(distinct ingredient_id) as n_distinct_ingredients
  from labelled group by all;
create or replace temp table switches as
  with f as (select person_id, gap_basis, gap_days, period_id, ingredient_id, min(s) as fs
             from labelled where gap_basis = '{basis}' group by all)
  select person_id, gap_days, period_id, min(fs) as start,
    list_sort(list(fs))[{n_switch}] as switch_date
  from f group by all;
create or replace temp table switch_person as
  select person_id, {switch_aggs} from switches group by person_id;
create or replace temp table treated as
  select person_id, {treated_aggs} from periods
  where gap_basis = '{basis}' group by person_id;
create or replace temp table ehr as
  select distinct person_id from (
    select person_id from condition_occurrence where condition_start_date is not null
    union all select person_id from drug_exposure where drug_exposure_start_date is not null and coalesce(drug_concept_id, 0) <> 0
    union all select person_id from procedure_occurrence where procedure_date is not null
    union all select person_id from visit_occurrence where visit_start_date is not null and coalesce(visit_end_date >= visit_start_date, true)
    union all select person_id from observation_period where observation_period_end_date is not null
      and coalesce(observation_period_end_date >= observation_period_start_date, true));
create or replace temp table last_line as
  with ev as (
    select person_id, s as d, 'ect_esk' as kind from exposures where grp = 'esketamine'
    union all select person_id, s, 'ap' from exposures where grp = 'antipsychotic'
    union all select p.person_id, p.procedure_date, 'ect_esk' from procedure_occurrence p join known using (person_id)
      where p.procedure_date is not null and (
        p.procedure_concept_id in (select k.concept_id from concept k join ect_codes c on k.vocabulary_id = c.vocab and upper(replace(k.concept_code, '.', '')) = c.code)
        or p.procedure_source_concept_id in (select k.concept_id from concept k join ect_codes c on k.vocabulary_id = c.vocab and upper(replace(k.concept_code, '.', '')) = c.code)
        or (coalesce(p.procedure_source_concept_id, 0) = 0 and upper(replace(trim(p.procedure_source_value), '.', '')) in (select code from ect_codes))))
  select ev.person_id, min(d) filter (where kind = 'ect_esk') as ect_esk, min(d) filter (where kind = 'ap') as ap
  from ev join dx_person x using (person_id) where x.first_mdd_date is not null and d >= x.first_mdd_date
  group by ev.person_id;
create or replace temp table eoo as
  select o.person_id, least(max(observation_period_end_date), (select d from cutoff)) as end_of_observation
  from observation_period o join known using (person_id)
  where observation_period_end_date is not null
    and (observation_period_start_date is null or observation_period_end_date >= observation_period_start_date)
  group by o.person_id;
create or replace temp table persons as
  with base as (
    select p.person_id, p.year_of_birth, p.gender_concept_id, p.sex_at_birth_concept_id,
      x.first_mdd_date, coalesce(x.n_mdd_dates, 0) as n, x.first_other,
      s.trd_1_s, s.trd_2_s, s.trd_3_s, coalesce(t.treated, false) as treated,
      {treated_columns}, h.person_id is not null as has_ehr, l.ect_esk, l.ap, o.end_of_observation,
      p.race_concept_id, p.ethnicity_concept_id
    from (select distinct on (person_id) * from person where person_id is not null) p
    left join dx_person x using (person_id) left join switch_person s using (person_id)
    left join treated t using (person_id) left join last_line l using (person_id)
    left join eoo o using (person_id) left join ehr h using (person_id)),
  onsets as (
    select *, case when n >= 1 then trd_1_s end as trd_1_onset, case when n >= 1 then trd_2_s end as trd_2_onset,
      case when n >= 1 then trd_3_s end as trd_3_onset,
      case when n >= 1 then least(trd_1_s, ect_esk) end as trd_4_onset,
      case when n >= 1 then least(trd_1_s, ect_esk, ap) end as trd_5_onset
    from base)
  select person_id,
    case when sex_at_birth_concept_id = 45878463 then 'female' when sex_at_birth_concept_id = 45880669 then 'male'
         when gender_concept_id = 8532 then 'female' when gender_concept_id = 8507 then 'male' end as sex,
    year_of_birth, year((select d from cutoff)) - year_of_birth as age,
    year(first_mdd_date) - year_of_birth as age_at_diagnosis, first_mdd_date, n as n_mdd_dates,
    end_of_observation,
    n >= 1 and first_other is null as mdd_1, n >= 2 and first_other is null as mdd_2,
    n >= 1 and (first_other is null or first_other > first_mdd_date) as mdd_3,
    treated, treated_trd_1, treated_trd_2, treated_trd_3, has_ehr, n = 0 and has_ehr as non_mdd,
    (select label from race_ethnicity where grp = 'race' and cid = race_concept_id) as race,
    (select label from race_ethnicity where grp = 'ethnicity' and cid = ethnicity_concept_id) as ethnicity,
    trd_1_onset is not null as trd_1, trd_2_onset is not null as trd_2, trd_3_onset is not null as trd_3,
    trd_4_onset is not null as trd_4, trd_5_onset is not null as trd_5,
    trd_1_onset, trd_2_onset, trd_3_onset, trd_4_onset, trd_5_onset
  from onsets;
"""


def attrition_sql(earliest: str = "1900-01-01") -> str:
    """Unusable rows by table and reason, as the Spark stage counts them (same rules, same
    order: unknown person first); ``visit_occurrence`` is read only for this count."""
    late = "current_date"

    def flagged(table: str, cases: str) -> str:
        return (
            f"select '{table}' as step, t.person_id, case when k.person_id is null then 'unknown person' "
            f"{cases} end as reason from {table} t left join known k using (person_id)"
        )

    def date_cases(column: str) -> str:
        return (
            f"when t.{column} is null then '{column} missing' "
            f"when t.{column} < date '{earliest}' or t.{column} > {late} then '{column} implausible' "
        )

    parts = [
        f"select 'person' as step, person_id, case when year_of_birth < year(date '{earliest}') or year_of_birth > year({late}) "
        "then 'kept: year_of_birth implausible' end as reason from person where person_id is not null",
        flagged("observation_period", date_cases("observation_period_end_date")
                + f"when t.observation_period_start_date < date '{earliest}' or t.observation_period_start_date > {late} then 'start implausible' "
                "when t.observation_period_end_date < t.observation_period_start_date then 'ends before start'"),
        flagged("visit_occurrence", date_cases("visit_start_date") + "when t.visit_end_date < t.visit_start_date then 'ends before start'"),
        flagged("condition_occurrence", date_cases("condition_start_date")),
        flagged("drug_exposure", date_cases("drug_exposure_start_date")
                + "when coalesce(t.drug_concept_id, 0) = 0 then 'concept 0' "
                "when t.drug_exposure_end_date < t.drug_exposure_start_date then 'kept: end before start' "
                "when t.days_supply < 0 then 'kept: negative days_supply'"),
        flagged("procedure_occurrence", date_cases("procedure_date")),
        "select 'antidepressants' as step, person_id, 'not an antidepressant exposure: ' || excluded as reason "
        "from exposures where grp = 'antidepressant' and excluded is not null",
        "select 'persons' as step, person_id, 'no EHR record' as reason from known "
        "where person_id not in (select person_id from ehr)",
    ]  # fmt: skip
    return ("create or replace temp table attrition as with flags as ("
            + " union all ".join(parts)
            + ") select step, reason, count(*) as n_rows, count(distinct person_id) as n_persons "
            "from flags where reason is not null group by all")  # fmt: skip


TIME_TO_EVENT_SQL = """
create or replace temp table time_to_event as
  with s as (
    select person_id, first_mdd_date as origin_date, trd_1_onset as onset_date, end_of_observation, age_at_diagnosis,
      trd_1_onset is not null and trd_1_onset > first_mdd_date and end_of_observation is not null
        and trd_1_onset <= end_of_observation as event
    from persons where mdd_1 and n_mdd_dates >= {min_mdd_dates}),
  t as (select *, (case when event then onset_date else end_of_observation end) - origin_date as time_days from s)
  select *, case when onset_date is not null and onset_date <= origin_date then 'prevalent'
                 when end_of_observation is null then 'no_observation_period'
                 when time_days <= 0 then 'no_follow_up' end as exclusion
  from t;
"""


def phenotype_sql(basis: str = "start_to_start") -> str:
    """The definitions of docs/phenotypes.md as one DuckDB script (default numbers)."""
    gaps = sorted({GAP_DEFAULT, *(g for g, _ in SWITCHING.values())})
    union = " union all ".join(
        f"select person_id, ingredient_id, s, e, '{b}' as gap_basis, {g} as gap_days, "
        f"sum(case when {col} is null or {col} > {g} then 1 else 0 end) over "
        f"(partition by person_id order by s, e, ingredient_id rows between unbounded preceding and current row) as period_id from g"
        for b, col in (("start_to_start", "gap_ss"), ("end_to_start", "gap_es"))
        for g in gaps
    )
    aggs = ", ".join(
        f"min(switch_date) filter (where gap_days = {g} and switch_date <= start + {w}) as {name}_s"
        for name, (g, w) in SWITCHING.items()
    )
    treated = [f"bool_or(n_exposures >= 2) filter (where gap_days = {GAP_DEFAULT}) as treated"]
    treated += [
        f"bool_or(n_exposures >= 2) filter (where gap_days = {g}) as treated_{name}"
        for name, (g, _) in SWITCHING.items()
    ]
    columns = ", ".join(
        f"coalesce(t.treated_{name}, false) as treated_{name}" for name in SWITCHING
    )
    return PHENOTYPE_SQL.format(
        default_last=DEFAULT_DAYS - 1, labelled_union=union, basis=basis,
        n_switch=N_SWITCH, switch_aggs=aggs, treated_aggs=", ".join(treated),
        treated_columns=columns,
    )  # fmt: skip


@dataclass
class DuckTimes:
    """Wall seconds of one DuckDB run: the definitions (with persons and periods written),
    and the rest of what the Spark stage also does (attrition, time to event)."""

    definitions: float
    rest: float

    @property
    def total(self) -> float:
        return self.definitions + self.rest


def run_duckdb(omop: str, code_lists: str, out: str, threads: int) -> DuckTimes:
    """Run the SQL and write persons, periods and time to event as Parquet."""
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"set threads = {threads}")
    con.execute(setup_sql(omop, code_lists))
    con.execute(phenotype_sql())
    con.execute(f"copy persons to '{out}/persons_duckdb.parquet' (format parquet)")
    con.execute(f"copy periods to '{out}/periods_duckdb.parquet' (format parquet)")
    definitions = time.perf_counter() - started
    con.execute(attrition_sql())
    con.execute(f"copy attrition to '{out}/attrition_duckdb.parquet' (format parquet)")
    con.execute(TIME_TO_EVENT_SQL.format(min_mdd_dates=MIN_MDD_DATES))
    con.execute(f"copy time_to_event to '{out}/time_to_event_duckdb.parquet' (format parquet)")
    con.close()
    return DuckTimes(definitions, time.perf_counter() - started - definitions)


def run_spark(study: Path, out: str) -> tuple[float, dict]:
    """The phenotype stage as the pipeline runs it; returns wall seconds and its summary."""
    from trd_spark.config import load_config
    from trd_spark.ehr.stage import run_phenotype

    config = load_config(study / "config.yaml")
    started = time.perf_counter()
    summary = run_phenotype(config, out)
    return time.perf_counter() - started, summary


def peak_rss_gb(pid: int | str = "self") -> float:
    """Peak resident memory of a process (``VmHWM``), in GB."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2
    return float("nan")


def spark_worker(
    study: Path, out_root: Path, repeat: int, threads: int, memory: str, conf: dict[str, str]
) -> dict:
    """One fresh process: start the session, run the stage ``repeat`` times; the first run is
    what a pipeline run gets.  Returns times, the JVM's peak memory and JIT time, and the
    event log folder (every job's stages, for where the time goes)."""
    from trd_spark.session import start_session, stop_session

    events = out_root / "eventlog"
    events.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    spark = start_session(
        str(out_root), master=f"local[{threads}]", driver_memory=memory,
        extra_conf={"spark.eventLog.enabled": "true", "spark.eventLog.dir": f"file://{events}", **conf},
    )  # fmt: skip
    session_s = time.perf_counter() - started
    jvm = spark.sparkContext._jvm
    management = jvm.java.lang.management.ManagementFactory
    pid = int(jvm.java.lang.ProcessHandle.current().pid())
    times, jit, windows = [], [], []
    try:
        for k in range(repeat):
            out = out_root / f"spark-{k}"
            before = management.getCompilationMXBean().getTotalCompilationTime()
            window_start = time.time() * 1e3
            seconds, summary = run_spark(study, str(out))
            windows.append((window_start, time.time() * 1e3))
            jit.append((management.getCompilationMXBean().getTotalCompilationTime() - before) / 1e3)
            times.append(seconds)
            if k < repeat - 1:
                shutil.rmtree(out, ignore_errors=True)
        heap_peak = sum(
            pool.getPeakUsage().getUsed() for pool in management.getMemoryPoolMXBeans()
            if "Heap" in str(pool.getType()) and "Non" not in str(pool.getType())
        ) / 1024**3  # fmt: skip
        rss = peak_rss_gb(pid)
    finally:
        stop_session()
    return {"engine": "spark", "session_s": session_s, "times": times, "jit_s": jit,
            "jvm_peak_rss_gb": rss, "jvm_heap_peak_gb": heap_peak,
            "n_persons": summary["n_persons"], "out": str(out), "eventlog": str(events),
            "first_window": windows[0]}  # fmt: skip


def duckdb_worker(study: Path, out_root: Path, repeat: int, threads: int) -> dict:
    """One fresh process: the DuckDB side ``repeat`` times; returns times and peak memory."""
    import resource

    omop, lists = str(study / "data" / "omop"), str(study_code_lists())
    times = []
    for k in range(repeat):
        out = out_root / f"duckdb-{k}"
        out.mkdir(parents=True, exist_ok=True)
        times.append(run_duckdb(omop, lists, str(out), threads))
        if k < repeat - 1:
            shutil.rmtree(out, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return {"engine": "duckdb", "times": [t.total for t in times],
            "definitions": [t.definitions for t in times], "peak_rss_gb": peak,
            "out": str(out)}  # fmt: skip


def stage_metrics(eventlog: str, window: tuple[float, float], top: int = 8) -> list[str]:
    """Where the first Spark run's time went: the stages submitted in ``window`` (epoch ms)
    by task time, from the event log (stage wall time, task executor time, input and
    shuffle bytes)."""
    files = sorted(Path(eventlog).glob("*"))
    if not files:
        return ["(no event log)"]
    rows = []
    for line in files[0].read_text().splitlines():
        event = json.loads(line)
        if event.get("Event") != "SparkListenerStageCompleted":
            continue
        info = event["Stage Info"]
        if not window[0] <= info.get("Submission Time", 0) <= window[1]:
            continue
        acc = {a.get("Name"): a.get("Value") for a in info.get("Accumulables", [])}
        wall = (info.get("Completion Time", 0) - info.get("Submission Time", 0)) / 1e3
        rows.append((
            float(acc.get("internal.metrics.executorRunTime", 0)) / 1e3, wall,
            info["Stage ID"], info["Stage Name"][:60], info.get("Number of Tasks", 0),
            float(acc.get("internal.metrics.input.bytesRead", 0)) / 1e6,
            float(acc.get("internal.metrics.shuffle.write.bytesWritten", 0)) / 1e6,
        ))  # fmt: skip
    total = sum(r[0] for r in rows)
    lines = [
        f"first run: {len(rows)} stages, task time {total:.1f} s on {window[1] / 1e3 - window[0] / 1e3:.1f} s wall"
    ]
    for task_s, wall, sid, name, n, read_mb, shuffle_mb in sorted(rows, reverse=True)[:top]:
        lines.append(
            f"  stage {sid:4d} task {task_s:6.1f} s wall {wall:6.1f} s tasks {n:4d} "
            f"input {read_mb:8.1f} MB shuffle {shuffle_mb:7.1f} MB  {name}"
        )
    return lines


def omop_volume(study: Path) -> tuple[int, float]:
    """(OMOP rows, Parquet GB) of the event and person tables."""
    import pyarrow.parquet as pq

    rows, size = 0, 0
    for table in ("person", "observation_period", "visit_occurrence", "condition_occurrence",
                  "drug_exposure", "procedure_occurrence"):  # fmt: skip
        for part in (study / "data" / "omop" / table).glob("*.parquet"):
            rows += pq.ParquetFile(part).metadata.num_rows
            size += part.stat().st_size
    return rows, size / 1e9


def compare(out: str) -> int:
    """Number of persons whose status columns differ between Spark and DuckDB."""
    spark = pd.read_parquet(f"{out}/phenotypes/persons.parquet").set_index("person_id").sort_index()
    duck = pd.read_parquet(f"{out}/persons_duckdb.parquet").set_index("person_id").sort_index()
    columns = ["mdd_1", "mdd_2", "mdd_3", "treated", "treated_trd_1", "treated_trd_2", "treated_trd_3",
               "has_ehr", "non_mdd", "trd_1", "trd_2", "trd_3", "trd_4", "trd_5", "n_mdd_dates",
               "first_mdd_date", "trd_1_onset", "trd_2_onset", "trd_3_onset", "trd_4_onset",
               "trd_5_onset", "end_of_observation", "sex", "race", "ethnicity", "age"]  # fmt: skip
    duck = duck.reindex(spark.index)
    differ = pd.Series(False, index=spark.index)
    for column in columns:
        a, b = spark[column].astype(object), duck[column].astype(object)
        differ |= ~((a == b) | (a.isna() & b.isna()))
    return int(differ.sum())


def run_worker(engine: str, study: Path, out_root: Path, args: argparse.Namespace) -> dict:
    """Run one engine in a fresh Python process (a fresh JVM for Spark); returns its report."""
    command = [
        sys.executable, __file__, "--worker", engine, "--study", str(study),
        "--worker-out", str(out_root), "--repeat", str(args.repeat),
        "--threads", str(args.threads), "--memory", args.memory,
        *[f"--conf={setting}" for setting in args.conf],
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{engine} worker failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ensure_study(study: Path, scale: str, seed: int, factor: float) -> None:
    """Simulate the EHR part of a study into ``study`` unless it is there."""
    if (study / "config.yaml").is_file():
        return
    from trd_spark.simulate.study import simulate_study

    started = time.perf_counter()
    simulate_study(str(study), scale=scale, seed=seed, parts=("ehr",), size_factor=factor)
    print(
        f"simulated {scale} x{factor:g} EHR into {study} in {time.perf_counter() - started:.0f} s"
    )


def check_outputs(spark_out: str, duck_out: str) -> tuple[int, int, bool]:
    """(persons that differ, time-to-event rows that differ, same dropped rows per table)."""
    for name in (
        "persons_duckdb.parquet",
        "time_to_event_duckdb.parquet",
        "attrition_duckdb.parquet",
    ):
        shutil.copy(Path(duck_out) / name, Path(spark_out) / name)  # fmt: skip
    return compare(spark_out), compare_time_to_event(spark_out), same_dropped_rows(spark_out)


def measure(study: Path, args: argparse.Namespace) -> dict:
    """Both engines on one study, each in its own fresh process, outputs checked."""
    out_root = Path(tempfile.mkdtemp(prefix="phenotype-bench-", dir=str(study)))
    try:
        duck = run_worker("duckdb", study, out_root / "duckdb", args)
        spark = run_worker("spark", study, out_root / "spark", args)
        differ, tte_differ, attrition_same = check_outputs(spark["out"], duck["out"])
        metrics = stage_metrics(spark["eventlog"], spark["first_window"])
    finally:
        if not args.keep:
            shutil.rmtree(out_root, ignore_errors=True)
    rows, gigabytes = omop_volume(study)
    return {"spark": spark, "duckdb": duck, "differ": differ, "tte_differ": tte_differ,
            "attrition_same": attrition_same, "rows": rows, "gb": gigabytes,
            "metrics": metrics, "load_after": os.getloadavg()[0]}  # fmt: skip


def report(volume: str, result: dict) -> None:
    """Print one volume's times, ratios, memory, checks and where Spark's time went."""
    spark, duck = result["spark"], result["duckdb"]
    print(f"\n== volume {volume}: {result['rows']:,} OMOP rows, {result['gb']:.2f} GB Parquet, "
          f"{spark['n_persons']:,} persons ==")  # fmt: skip
    print(f"spark session start (JVM, Hail): {spark['session_s']:.1f} s; load average after "
          f"the volume: {result['load_after']:.2f}")  # fmt: skip
    print_times("spark phenotype stage", spark["times"])
    print_times("duckdb, the same work", duck["times"])
    line = f"ratio spark/duckdb: first run {spark['times'][0] / duck['times'][0]:.2f}"
    if len(spark["times"]) > 1:
        line += (
            f", warm (best of later runs) {min(spark['times'][1:]) / min(duck['times'][1:]):.2f}"
        )
    print(line + " (target: first run <= 3)")
    print(f"JIT compilation per run (s): {', '.join(f'{j:.1f}' for j in spark['jit_s'])}")
    print(f"peak memory: Spark JVM (driver = executor in local mode) RSS {spark['jvm_peak_rss_gb']:.2f} GB, "
          f"heap {spark['jvm_heap_peak_gb']:.2f} GB; DuckDB process {duck['peak_rss_gb']:.2f} GB (limit 8)")  # fmt: skip
    print(f"persons whose statuses differ: {result['differ']}; time-to-event rows that differ: "
          f"{result['tte_differ']}; dropped rows per table equal: {result['attrition_same']}")  # fmt: skip
    print("where Spark's time went (event log, largest stages by task time):")
    print("\n".join(result["metrics"]))


def growth_table(results: dict[str, dict]) -> None:
    """Cost per million rows at each volume, first run and best warm run."""
    print("\n== growth ==")
    print("volume | OMOP rows | spark first | duckdb first | ratio | spark us/row | duckdb us/row")
    for volume, r in results.items():
        s_first, d_first = r["spark"]["times"][0], r["duckdb"]["times"][0]
        print(f"{volume} | {r['rows']:,} | {s_first:.1f} s | {d_first:.1f} s | "
              f"{s_first / d_first:.2f} | {1e6 * s_first / r['rows']:.2f} | {1e6 * d_first / r['rows']:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--study", default="out/bench", help="study folder prefix (simulated when absent)"
    )
    parser.add_argument("--scale", default="bench", choices=["tiny", "demo", "aou", "bench"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory", default="6g", help="Spark driver memory (local mode)")
    parser.add_argument("--volumes", default="1", help="size factors of the scale, e.g. 1,2,4")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per engine and process (first: the one that counts)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the outputs (folder printed)")
    parser.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a further Spark setting for the Spark side (repeatable), e.g. to try JVM flags",
    )
    parser.add_argument("--worker", choices=["spark", "duckdb"], help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = parser.parse_args()  # fmt: skip
    if args.worker:
        study, out_root = Path(args.study), Path(args.worker_out)
        if args.worker == "spark":
            conf = dict(setting.split("=", 1) for setting in args.conf)
            result = spark_worker(study, out_root, args.repeat, args.threads, args.memory, conf)
        else:
            result = duckdb_worker(study, out_root, args.repeat, args.threads)
        print(json.dumps(result))
        return
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    if args.conf:
        print(f"Spark settings given: {', '.join(args.conf)}")
    results = {}
    for factor in [float(v) for v in args.volumes.split(",")]:
        volume = f"{factor:g}x"
        study = Path(f"{args.study}-{volume}").resolve()
        ensure_study(study, args.scale, args.seed, factor)
        results[volume] = measure(study, args)
        report(volume, results[volume])
    growth_table(results)


def compare_time_to_event(out: str) -> int:
    """Rows of the time-to-event table that differ (or exist in one engine only)."""
    spark = pd.read_parquet(f"{out}/phenotypes/time_to_event.parquet").set_index("person_id")
    duck = pd.read_parquet(f"{out}/time_to_event_duckdb.parquet").set_index("person_id")
    columns = ["origin_date", "onset_date", "end_of_observation", "event", "time_days", "exclusion"]
    both = spark.index.intersection(duck.index)
    differ = len(spark.index.symmetric_difference(duck.index))
    for column in columns:
        a, b = spark.loc[both, column].astype(object), duck.loc[both, column].astype(object)
        differ += int((~((a == b) | (a.isna() & b.isna()))).sum())
    return differ


def same_dropped_rows(out: str) -> bool:
    """True when both engines drop the same number of rows from each OMOP table."""
    spark = pd.read_parquet(f"{out}/phenotypes/attrition.parquet")
    duck = pd.read_parquet(f"{out}/attrition_duckdb.parquet")
    duck = duck[~duck["reason"].str.startswith("kept:")]
    spark_rows = spark.groupby("step")["n_rows_dropped"].sum()
    duck_rows = duck.groupby("step")["n_rows"].sum()
    return all(int(spark_rows.get(step, 0)) == int(n) for step, n in duck_rows.items())


def last_half_median(seconds: list[float]) -> float:
    """The median of the later half of the runs (the first excluded): the spread of warm
    runs, which the best one hides."""
    later = seconds[1:]
    return statistics.median(later[len(later) // 2 :])


def print_times(label: str, seconds: list[float]) -> None:
    """The first run's time and, when repeated, the best warm time and the median of the
    later half of the runs."""
    line = f"{label}: {seconds[0]:.1f} s first run"
    if len(seconds) > 1:
        line += f", {min(seconds[1:]):.1f} s warm (best of {len(seconds) - 1})"
        line += f", median of the last half {last_half_median(seconds):.1f} s"
    print(line)


def study_code_lists() -> Path:
    from trd_spark.resources import conf_path

    return conf_path("code_lists")


if __name__ == "__main__":
    main()
