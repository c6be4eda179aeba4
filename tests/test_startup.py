"""Start-up stays light: what `nnctl --help` and `nnctl spec check` import (an import-graph test, not a timing).

CI scripts call nnctl many times, so its start-up is time users wait for. The
rule (cli/main.py's docstring): a command module imports only typer, the
standard library, `.common` and the light `choices`/`names` modules at its top;
NumPy, h5py, the pydantic schema, orchestration and rich tables are imported
inside the command when it runs. Each check runs in a fresh interpreter, since
this test process has loaded everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import CONFIGS

# Never loaded to show help: the numerical core, HDF5, YAML, pydantic and the spec schema, peers and plotting.
HEAVY = ("numpy", "h5py", "yaml", "pydantic", "torch", "matplotlib", "mlflow", "tensorboardX", "tensorboard", "nnctl.nn.network", "nnctl.spec.schema",
         "nnctl.orchestration.model", "nnctl.orchestration.start", "nnctl.train", "nnctl.data", "nnctl.runs.atomic")
# Not needed to validate a spec: everything above but the schema, pydantic and YAML.
NOT_FOR_SPEC_CHECK = tuple(m for m in HEAVY if m not in ("yaml", "pydantic", "nnctl.spec.schema"))

RUN_AND_LIST_MODULES = """
import json, sys
from nnctl.cli.main import app
for words in json.loads(sys.argv[1]):
    try:
        app(words, prog_name="nnctl")
    except SystemExit:
        pass
print("MODULES " + json.dumps(sorted(sys.modules)))
"""


def _modules_after(*invocations: list[str]) -> set[str]:
    """The modules a fresh interpreter holds after running these nnctl command lines in turn."""
    done = subprocess.run([sys.executable, "-c", RUN_AND_LIST_MODULES, json.dumps(list(invocations))],
                          capture_output=True, text=True, check=True)
    line = next(row for row in done.stdout.splitlines() if row.startswith("MODULES "))
    return set(json.loads(line[len("MODULES "):]))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def _every_command() -> list[list[str]]:
    """The words of every command and group, found by walking the app (new commands are covered)."""
    from nnctl.cli.main import app

    def walk(group, path):
        yield path
        for info in group.registered_commands:
            yield [*path, info.name or info.callback.__name__.replace("_", "-")]
        for sub in group.registered_groups:
            yield from walk(sub.typer_instance, [*path, sub.name])

    return list(walk(app, []))


def test_help_of_every_command_loads_no_heavy_module():
    commands = _every_command()
    assert ["spec", "check"] in commands and ["train"] in commands
    modules = _modules_after(*([*words, "--help"] for words in commands))
    assert "typer" in modules  # the probe really ran the app
    assert not _loaded(modules, HEAVY), f"move these imports into the command functions: {_loaded(modules, HEAVY)}"


def test_spec_check_validates_without_numpy_or_h5py():
    modules = _modules_after(["spec", "check", str(CONFIGS / "mnist-lenet5.yaml")])
    assert "nnctl.spec.schema" in modules
    assert not _loaded(modules, NOT_FOR_SPEC_CHECK), _loaded(modules, NOT_FOR_SPEC_CHECK)
