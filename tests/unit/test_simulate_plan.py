"""Planted status model: MDD liability and proportional-hazards time to TRD, re-estimated with
statsmodels and lifelines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from lifelines import CoxPHFitter

from trd_spark.simulate.plan import plan_unit
from trd_spark.simulate.scales import GroupFractions


def test_plan_unit_recovers_planted_logit_and_hazard():
    rng = np.random.default_rng(42)
    n = 40_000
    gv = rng.standard_normal((n, 2))
    female = rng.random(n) < 0.5
    effects = pd.DataFrame({"log_or_mdd": [0.3, 0.0], "log_hr_time_to_trd": [0.0, -0.25]})
    fractions = GroupFractions(trmdd=0.3, trd=0.1, mdd_untreated=0.0, mdd_psych=0.0)
    plan = plan_unit(rng, gv, female, effects, fractions, np.full(n, 4000))
    assert (plan["group"] == "trd").sum() == round(0.1 * n)
    assert (plan["group"] != "non_mdd").sum() == round(0.4 * n)
    mdd = (plan["group"] != "non_mdd").astype(float)
    design = sm.add_constant(np.column_stack([gv, female]))
    fit = sm.Logit(mdd.to_numpy(), design).fit(disp=0)
    assert abs(fit.params[1] - 0.3) < 0.04 and abs(fit.params[2]) < 0.04
    assert abs(fit.params[3] - 0.45) < 0.05  # women more often
    treated = plan["group"].isin(["trd", "trmdd"]).to_numpy()
    event = (plan["group"] == "trd").to_numpy()[treated]
    time = np.where(
        event, plan["time_to_trd"].to_numpy()[treated], plan["follow_up"].to_numpy()[treated]
    )
    assert (time[event] <= plan["follow_up"].to_numpy()[treated][event]).all()
    frame = pd.DataFrame({"t": time, "e": event, "g0": gv[treated, 0], "g1": gv[treated, 1]})
    cox = CoxPHFitter().fit(frame, duration_col="t", event_col="e")
    assert abs(cox.params_["g1"] + 0.25) < 0.05 and abs(cox.params_["g0"]) < 0.05
