"""From a spec with a ``search:`` section to validated trial specs.

A trial is the base spec plus one ``--set PATH=VALUE`` per searched parameter,
so it goes through exactly the validation a user's own ``--set`` gets; a
problem is then reported at the line of ``search.parameters`` that produced
it, before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ..data.parts import absolute_data_paths
from ..spec import Spec, SpecError, parse_spec
from ..spec.errors import Problem
from ..spec.loader import line_of
from ..spec.schema.search import SearchSpec
from ..train.evaluate import lower_is_better
from .record import trial_dir_name
from .space import Space

DEFAULT_TRIALS = 20
TIME_METRICS = ("epoch_time", "wall_time")


def yaml_value(value: Any) -> str:
    """A value as one line of YAML that reads back as the same value (1e-05 stays a float)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30).strip()
    return text.removesuffix("...").strip()  # the document-end marker PyYAML adds after a bare scalar


def trial_overrides(params: dict[str, Any]) -> list[str]:
    return [f"{path}={yaml_value(value)}" for path, value in params.items()]


@dataclass
class Plan:
    """A tune spec resolved: the spec text (for line numbers), the search with its defaults settled, the space."""

    text: str
    filename: str
    overrides: tuple[str, ...]
    spec: Spec
    search: SearchSpec
    space: Space
    base_dir: str | None = None  # the spec file's folder: its relative data paths are read from there

    @property
    def minimize(self) -> bool:
        return self.search.goal == "minimize"

    def trial_spec(self, index: int, params: dict[str, Any]) -> Spec:
        """Trial ``index``'s spec: the base with ``params`` set, validated, without the search section."""
        overrides = [*self.overrides, *trial_overrides(params)]
        if self.search.metric not in TIME_METRICS:
            # best.h5 (what eval and predict load) is then the epoch the trial is ranked by.
            overrides.insert(len(self.overrides), f"checkpoint.monitor={self.search.metric}")
        try:
            spec = self._parsed(overrides)
        except SpecError as err:
            raise SpecError([self._blame_parameter(problem, params) for problem in err.errors]) from None
        return spec.model_copy(update={"search": None, "name": f"{spec.name}-{trial_dir_name(index)}"})

    def refit_spec(self, index: int, params: dict[str, Any], epochs: int) -> Spec:
        """Trial ``index`` once more for ``epochs`` epochs on the whole pool: no dev split, so no early stopping, and
        best.h5 follows the training cost."""
        overrides = [*self.overrides, *trial_overrides(params), f"train.epochs={epochs}", "train.early_stopping=null",
                     "checkpoint.monitor=train_cost"]
        spec = self._parsed(overrides)
        return spec.model_copy(update={"search": None, "name": f"{spec.name}-refit"})

    def _parsed(self, overrides: list[str]) -> Spec:
        """The spec with ``overrides``, its data paths absolute (a trial runs in another process, maybe machine)."""
        return with_data_paths_from(parse_spec(self.text, self.filename, overrides), self.base_dir)

    def _blame_parameter(self, problem: Problem, params: dict[str, Any]) -> Problem:
        """Point a problem caused by a sampled value at the parameter's line in the spec file."""
        for path, value in params.items():
            if problem.source == f"--set {path}={yaml_value(value)}":
                line = line_of(self.text, self.filename, ("search", "parameters", path))
                message = problem.message if problem.path in (path, "") else f"{problem.path}: {problem.message}"
                return Problem(self.filename, line, f"search.parameters.{path}", f"{message} (value {yaml_value(value)})")
        return problem

    def validate_all(self, trials: list[dict[str, Any]]) -> None:
        """Validate every given trial (and the ends of every range) before anything runs."""
        for index, params in enumerate([*self.space.edge_values(), *trials]):
            self.trial_spec(index, params)


def with_data_paths_from(spec: Spec, base_dir: str | None) -> Spec:
    """``spec`` reading relative data paths from ``base_dir`` (None: as the spec says), written absolute."""
    if base_dir is None:
        return spec
    spec.data.base_dir = base_dir
    return absolute_data_paths(spec)


def load_plan(text: str, filename: str, overrides: list[str] | tuple[str, ...] = (), trials: int | None = None,
              base_dir: str | None = None) -> Plan:
    """Parse a tune spec; settle the metric (default: checkpoint.monitor), goal and trial count. ``base_dir``: the
    folder of the spec file relative data paths are read from (a tune folder's record holds them absolute)."""
    spec = with_data_paths_from(parse_spec(text, filename, overrides), base_dir)
    if spec.search is None:
        raise SpecError.single(filename, "no 'search' section: add one naming the parameters to tune (see "
                               "docs/how-to/search.md)", path="search")
    search = spec.search
    metric = search.metric or spec.checkpoint.monitor
    goal = search.goal or ("minimize" if lower_is_better(metric) or metric in TIME_METRICS else "maximize")
    space = Space(search.model_copy(update={"metric": metric, "goal": goal}))
    count = trials or search.trials or space.grid_size or DEFAULT_TRIALS
    if space.grid_size is not None and count > space.grid_size:
        where = "--trials" if trials else f"{filename}:{line_of(text, filename, ('search', 'trials'))}: search.trials"
        raise SpecError.single(where, f"the grid has only {space.grid_size} points; ask for at most that many trials")
    search = search.model_copy(update={"metric": metric, "goal": goal, "trials": count})
    resolved = spec.model_copy(update={"search": search})
    return Plan(text, filename, tuple(overrides), resolved, search, Space(search), base_dir)
