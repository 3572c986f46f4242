"""Formatting shared by the validation and the report (numpy only)."""

import numbers

import numpy as np


def _format_states(states):
    """Compact list of states: ``[0, 1, 2, 5]`` -> ``"0-2, 5"``."""
    runs = np.split(states, np.flatnonzero(np.diff(states) != 1) + 1)
    return ", ".join(f"{r[0]}" if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def _jsonable(value):
    """Convert numpy data to JSON types, inf and NaN -> None."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if np.isfinite(value) else None
    return value


def markdown_table(header, rows):
    """A Markdown table: a header row, the separator and one line per row of cells."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)
