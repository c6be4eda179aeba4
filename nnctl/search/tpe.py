"""``method: tpe``: Optuna's TPE sampler used through ask/tell only; trials.jsonl stays the record.

No Optuna storage (no SQLite, no "database is locked"): before each ask an
in-memory study is rebuilt from the finished trials in the log, with a sampler
seeded by (search seed, trial index).  Trial i is then a function of the seed,
i and the trials finished before it was handed out — so a resumed search asks
exactly what the uninterrupted one asked.  The first ``startup_trials`` come
from nnctl's own random sampler, so they equal a random search's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import require_extra
from ..runs.status import FAILED, RANKED, TrialStatus
from .record import SearchRecord
from .space import Distribution, Space

INSTALL_HINT = "method: tpe needs Optuna; install it with: pip install 'nnctl[tune]'"


class TpeSampler:
    def __init__(self, space: Space, minimize: bool):
        optuna = require_extra("optuna", INSTALL_HINT)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna, self.space, self.minimize = optuna, space, minimize
        self.distributions = {d.path: self._optuna_distribution(d) for d in space.distributions}

    def _optuna_distribution(self, d: Distribution):
        dists = self.optuna.distributions
        if d.kind == "choice":
            return dists.CategoricalDistribution(list(range(len(d.choices))))  # indices: choices may be mappings
        if d.kind == "one_minus_log_uniform":
            return dists.FloatDistribution(1.0 - d.high, 1.0 - d.low, log=True)  # TPE models 1 - x on a log scale
        if d.integer:
            return dists.IntDistribution(int(d.low), int(d.high), log=d.log)
        return dists.FloatDistribution(d.low, d.high, log=d.log)

    def _to_optuna(self, d: Distribution, value: Any) -> Any:
        if d.kind == "choice":
            return d.choices.index(value)
        return 1.0 - value if d.kind == "one_minus_log_uniform" else value

    def _from_optuna(self, d: Distribution, value: Any) -> Any:
        if d.kind == "choice":
            return d.choices[value]
        if d.kind == "one_minus_log_uniform":
            return 1.0 - value
        return int(value) if d.integer else float(value)

    def ask(self, index: int, record: SearchRecord) -> dict[str, Any]:
        if index < self.space.search.startup_trials:
            return self.space.random_trial(index)
        optuna = self.optuna
        seed = int(np.random.SeedSequence([self.space.search.seed, index]).generate_state(1)[0])
        study = optuna.create_study(direction="minimize" if self.minimize else "maximize",
                                    sampler=optuna.samplers.TPESampler(seed=seed))
        for trial in record.trials:
            state = self._state(trial)
            if state is None:
                continue
            params = {d.path: self._to_optuna(d, trial.params[d.path]) for d in self.space.distributions}
            value = trial.value if state == optuna.trial.TrialState.COMPLETE else None
            study.add_trial(optuna.trial.create_trial(params=params, distributions=self.distributions, value=value, state=state))
        asked = study.ask(self.distributions)
        return {d.path: self._from_optuna(d, asked.params[d.path]) for d in self.space.distributions}

    def _state(self, trial):
        """Feasible finished trials teach TPE their value; pruned and failed ones only where not to look."""
        states = self.optuna.trial.TrialState
        if trial.status in RANKED and trial.value is not None and trial.feasible:
            return states.COMPLETE
        if trial.status == TrialStatus.pruned:
            return states.PRUNED
        if trial.status in FAILED or (trial.status in RANKED and not trial.feasible):
            return states.FAIL
        return None

