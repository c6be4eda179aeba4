"""What every command shares: consoles, exit codes, and turning user mistakes into one line.

Exit codes: 0 success; 1 a check that ran and failed (or a search whose every
trial failed); 2 bad usage or invalid
spec/input; 3 training diverged; 130 interrupted (Ctrl-C / SIGTERM).
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from typer.core import TyperGroup

from ..errors import BuildError, NnctlError
from ..literal import json_text, terminal_text, visible

# Click's base of usage errors; newer Typers vendor Click, so it is reached through a public subclass.
ClickException = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException")

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def plain() -> bool:
    """No colour or live display when stderr is not a terminal or NO_COLOR is set."""
    return bool(os.environ.get("NO_COLOR")) or not sys.stderr.isatty()


# Data shown as data: no Rich markup ("[/]" in a label would crash, "[link=…]" would hide itself) and no emoji
# codes (":cat:") in anything printed, table cells and titles included; styles are given as Text objects.
class _Terminal(Console):
    """A console whose printed text never acts on the terminal: every string passes ``terminal_text`` (escape
    sequences, carriage returns and bidi overrides shown escaped), whatever path brought data into it; tables and
    other renderables escape their own cells (``tables``), and Rich's own styling is untouched."""

    def print(self, *objects, **options) -> None:
        super().print(*(terminal_text(item) if isinstance(item, str) else item for item in objects), **options)


stdout = _Terminal(highlight=False, soft_wrap=True, markup=False, emoji=False)
stderr = _Terminal(stderr=True, highlight=False, markup=False, emoji=False, no_color=bool(os.environ.get("NO_COLOR")))


class _MessageLine(logging.Handler):
    """The library's notes (a skipped first line) and warnings (a class training never saw) as one plain stderr line each."""

    def emit(self, record: logging.LogRecord) -> None:
        kind = "note" if record.levelno < logging.WARNING else "warning"
        sys.stderr.write(f"nnctl: {kind}: {visible(record.getMessage())}\n")


_library_log = logging.getLogger("nnctl")
if not any(isinstance(handler, _MessageLine) for handler in _library_log.handlers):
    _library_log.addHandler(_MessageLine())
    _library_log.setLevel(logging.INFO)


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``nnctl: error: message`` on stderr, whole and on one line (the line breaks and escape sequences of
    the data it quotes shown escaped, never acted on), and return the Exit to raise."""
    stderr.print(f"nnctl: error: {visible(message)}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def _usage_errors_on_one_line():
    """Click's usage errors (bad option value, unknown option, missing argument) as one line, exit 2."""
    try:
        yield
    except ClickException as err:
        if type(err).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as Typer shows it
            raise
        message = " ".join(err.format_message().split()).replace("Value error, ", "")  # Typer's validator prefix
        context = getattr(err, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        raise fail(message + hint, err.exit_code) from None


class OneLineUsageErrors(TyperGroup):
    """The `nnctl` group: usage errors print ``nnctl: error: <one line>`` instead of a usage
    block or a rich panel, like every other user mistake. Wrapping the group's own parsing and
    its invocation of a subcommand covers every subcommand and nested group."""

    def make_context(self, *args, **kwargs):
        with _usage_errors_on_one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with _usage_errors_on_one_line():
            try:
                return super().invoke(ctx)
            except Exception as err:  # a MemoryError past every estimate, outside a command's user_errors
                memory_error = _memory_error_in(err)
                if memory_error is None:
                    raise
                raise fail(out_of_memory_line(memory_error)) from None


@contextmanager
def user_errors(spec_file: str | None = None, overrides: list[str] = ()):
    """Report a user mistake as one line and exit 2, never as a traceback.

    A spec that validates but cannot work (``BuildError``) is located in
    ``spec_file`` (or the ``--set`` override) by the key it names.
    """
    try:
        yield
    except BuildError as err:
        from ..spec import locate  # here: the schema is built only when a spec is involved

        raise fail(f"{locate(spec_file, err.key, overrides)}: {err}" if spec_file else err.unlocated or str(err)) from None
    except NnctlError as err:
        raise fail(str(err) or type(err).__name__) from None
    except Exception as err:
        memory_error = _memory_error_in(err)
        if memory_error is None:
            raise
        raise fail(out_of_memory_line(memory_error, spec_file, overrides)) from None


def _memory_error_in(err: BaseException) -> MemoryError | None:
    """The MemoryError behind ``err``, when running out of memory is what set it off: a library's clean-up
    can fail in turn (h5py closing a file it could not write) and hide it behind its own error."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, MemoryError):
            return err
        seen.add(id(err))
        err = err.__cause__ or (None if err.__suppress_context__ else err.__context__)
    return None


def out_of_memory_line(err: MemoryError, spec_file: str | None = None, overrides: list[str] = ()) -> str:
    """A MemoryError as one line: what failed, the limit, and the last estimate with the spec line that sized it."""
    from ..memory import out_of_memory

    key, message = out_of_memory(err)
    if key is None:
        return message
    if spec_file:
        from ..spec import locate

        return f"{locate(spec_file, key, overrides)}: {key}: {message}"
    return f"{key}: {message}"


def real_run(path):
    """Typer callback of RUN arguments: ``runs/latest`` becomes the run it points at, so that nothing shown or
    written (sheets, reports, titles, JSON) names the link, which moves with the next `train`."""
    from ..runs.rundir import resolve_run

    if path is None or str(path) == "tally":
        return path
    if isinstance(path, (list, tuple)):
        return [resolve_run(p) for p in path]
    resolved = resolve_run(path)
    return resolved if isinstance(path, Path) else str(resolved)


def print_json(obj) -> None:
    """``obj`` as one line of strict JSON: a value that is not a finite number is null (`literal.json_text`)."""
    sys.stdout.write(json_text(obj, default=_json_default) + "\n")


def print_facts(facts: dict, as_json: bool) -> None:
    """``facts`` as one JSON object, or as ``key: value`` lines."""
    if as_json:
        print_json(facts)
        return
    for key, value in facts.items():
        stdout.print(visible(f"{key}: {_fact(value)}"), markup=False)


def _fact(value) -> str:
    """A fact as a person reads it: a list as its items, a mapping as 'key: value' pairs, never a Python repr
    (``--json`` gives the structure to programs)."""
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_fact(item)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(map(_fact, value))
    return str(value)


def _json_default(value):
    try:
        return value.item()
    except AttributeError:
        return str(value)
