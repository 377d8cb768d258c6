"""What every command module shares: the exit statuses, defaults read from the library, and the
progress bar. A leaf module: it imports no command module and not the package ``__init__``."""

from __future__ import annotations

import dataclasses
import inspect
import sys
from collections.abc import Callable
from typing import Any

EXIT_OK = 0
"""Every line gave an ``ok`` record (or the command had no lines to judge)."""
EXIT_ERROR = 1
"""The command could not run: an unreadable file, a bad schema, a model that did not load."""
EXIT_USAGE = 2
"""The command line itself is wrong (click's own status for usage errors)."""
EXIT_SOME_LINES = 3
"""The run finished and wrote one line per input line, but some are ``failed`` or ``invalid``."""
EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C (SIGINT); what was written stays whole, and ``--resume`` continues it."""


def default(owner: Any, name: str) -> Any:
    """The default of field ``name`` of the config dataclass ``owner`` (or of parameter ``name`` of the
    function ``owner``), so that an option's default is written once, in the library."""
    if dataclasses.is_dataclass(owner):
        for field in dataclasses.fields(owner):
            if field.name == name:
                if field.default is not dataclasses.MISSING:
                    return field.default
                if field.default_factory is not dataclasses.MISSING:
                    return field.default_factory()
                raise ValueError(f"{owner.__name__}.{name} has no default")
        raise ValueError(f"{owner.__name__} has no field {name!r}")
    parameter = inspect.signature(owner).parameters[name]
    if parameter.default is inspect.Parameter.empty:
        raise ValueError(f"{owner.__name__}({name}) has no default")
    return parameter.default


def scientific(value: float) -> str:
    """``1e-4`` as written by hand ("1e-4", not "0.0001" or "1e-04"), for help texts."""
    mantissa, exponent = f"{value:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def progress_bar(enabled: bool, total: int | None, done: int, unit: str = "product"):  # type: ignore[no-untyped-def]
    """A tqdm bar on stderr starting at ``done`` of ``total`` (None when not ``enabled``)."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, unit=unit, dynamic_ncols=True, file=sys.stderr)


def with_progress(enabled: bool, path: str, run: Callable[[Callable[[], None] | None], Any]) -> Any:
    """``run(on_line)`` with a progress bar over the lines of ``path`` (none when not ``enabled``)."""
    from ..io import count_lines

    bar = progress_bar(enabled, count_lines(path), 0, unit="line")
    try:
        return run(None if bar is None else lambda: bar.update(1))
    finally:
        if bar is not None:
            bar.close()
