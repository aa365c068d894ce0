"""Write the fixed test inputs that tests/r/golden.R reads (run once; seeded).

.venv/bin/python tests/r/make_inputs.py && Rscript tests/r/golden.R
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def logistic_input(rng: np.random.Generator) -> pd.DataFrame:
    """400 persons, 3 PGS, sex, age, 3 PCs, a binary outcome driven by pgs1."""
    n = 400
    frame = pd.DataFrame(
        {f"pgs{k}": rng.normal(size=n) for k in (1, 2, 3)}
        | {"sex": rng.integers(0, 2, n), "age": rng.integers(20, 80, n).astype(float)}
        | {f"pc{k}": rng.normal(scale=0.1, size=n) for k in (1, 2, 3)}
    )
    eta = -0.5 + 0.4 * frame.pgs1 - 0.2 * frame.pgs2 + 0.3 * frame.sex + 0.01 * (frame.age - 50)
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return frame


def meta_input(rng: np.random.Generator) -> pd.DataFrame:
    """Three sets of 61 estimates: moderated, heterogeneous without moderator, homogeneous."""
    sets = []
    for name, slope, tau in (("moderated", 0.8, 0.03), ("noise", 0.0, 0.05), ("flat", 0.5, 0.0)):
        x = rng.normal(scale=0.08, size=61)
        vi = rng.uniform(0.0004, 0.003, size=61)
        yi = slope * x + rng.normal(scale=tau, size=61) + rng.normal(scale=np.sqrt(vi))
        sets.append(pd.DataFrame({"set": name, "yi": yi, "vi": vi, "x": x}))
    return pd.concat(sets, ignore_index=True)


def cox_input(rng: np.random.Generator) -> pd.DataFrame:
    """600 persons in 2 cohorts, continuous (untied) times, PGS effect on the hazard."""
    n = 600
    frame = pd.DataFrame(
        {
            "pgs": rng.normal(size=n),
            "age_at_diagnosis": rng.integers(18, 80, n).astype(float),
            "sex": rng.integers(0, 2, n),
            "pc1": rng.normal(scale=0.1, size=n),
            "pc2": rng.normal(scale=0.1, size=n),
            "cohort": np.where(rng.random(n) < 0.4, "wgs_diverse", "wgs_european"),
        }
    )
    hazard = 0.001 * np.exp(0.3 * frame.pgs + 0.2 * frame.sex)
    event_time = rng.exponential(1 / hazard)
    censor = rng.uniform(200, 2500, n)
    frame["time"] = np.round(np.minimum(event_time, censor), 6) + rng.uniform(0, 1e-3, n)
    frame["event"] = (event_time <= censor).astype(int)
    q20, q80 = np.percentile(frame.pgs, [20, 80])
    frame["pgs_group"] = (frame.pgs > q20).astype(int) + (frame.pgs > q80).astype(int)
    frame["pgs_sd"] = frame.pgs / frame.pgs.std(ddof=1)
    return frame


def km_input(rng: np.random.Generator) -> pd.DataFrame:
    """200 persons with integer (tied) times in 3 groups."""
    n = 200
    return pd.DataFrame(
        {
            "time": rng.integers(1, 60, n),
            "event": (rng.random(n) < 0.6).astype(int),
            "group": rng.integers(0, 3, n),
        }
    )


def cox_replication_input(rng: np.random.Generator) -> pd.DataFrame:
    """A discovery (1,500) and a replication (700) cohort, 20 PGS with planted log HRs per SD
    shared by both (attenuated to 0.7x in the replication cohort), continuous times."""
    effects = rng.normal(scale=0.2, size=20)
    frames = []
    for cohort, n, scale in (("discovery", 1500, 1.0), ("replication", 700, 0.7)):
        pgs = rng.normal(loc=0.3, scale=1.5, size=(n, 20))
        frame = pd.DataFrame(
            {f"pgs{k + 1}": pgs[:, k] for k in range(20)}
            | {
                "age_at_diagnosis": rng.integers(18, 80, n).astype(float),
                "sex": rng.integers(0, 2, n),
                "pc1": rng.normal(scale=0.1, size=n),
                "pc2": rng.normal(scale=0.1, size=n),
                "cohort": cohort,
            }
        )
        z = (pgs - pgs.mean(axis=0)) / pgs.std(axis=0, ddof=1)
        hazard = 0.001 * np.exp(scale * z @ effects / np.sqrt(5.0) + 0.2 * frame.sex)
        event_time = rng.exponential(1 / hazard)
        censor = rng.uniform(200, 2500, n)
        frame["time"] = np.round(np.minimum(event_time, censor), 6) + rng.uniform(0, 1e-3, n)
        frame["event"] = (event_time <= censor).astype(int)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    rng = np.random.default_rng(20250521)
    logistic_input(rng).to_csv(HERE / "logistic_input.csv", index=False)
    meta_input(rng).to_csv(HERE / "meta_input.csv", index=False)
    cox_input(rng).to_csv(HERE / "cox_input.csv", index=False, float_format="%.10g")
    km_input(rng).to_csv(HERE / "km_input.csv", index=False)
    cox_replication_input(rng).to_csv(
        HERE / "cox_replication_input.csv", index=False, float_format="%.10g"
    )


if __name__ == "__main__":
    main()
