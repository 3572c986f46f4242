"""Argument checks shared by every stage (numpy only).

Each raises ``TypeError``/``ValueError`` whose message names the argument and
what was expected, so bad input fails before expensive work starts.
"""

import math

import numpy as np


def as_dtraj_list(dtrajs, name, n_states=None, min_length=1):
    """Validate state sequence(s) and return them as a list of int64 arrays.

    Parameters
    ----------
    dtrajs : array_like of int, or list of them
    name : str
        Argument name used in error messages.
    n_states : int, optional
        States must lie in ``[0, n_states)``.
    min_length : int
        Shortest acceptable trajectory.
    """
    if isinstance(dtrajs, np.ndarray) and dtrajs.ndim == 1:
        items = [dtrajs]
    elif isinstance(dtrajs, (list, tuple)) and dtrajs and np.ndim(dtrajs[0]) == 1:
        items = list(dtrajs)
    elif isinstance(dtrajs, np.ndarray) and dtrajs.ndim == 2:
        items = list(dtrajs)
    elif isinstance(dtrajs, (list, tuple)) and dtrajs and np.ndim(dtrajs[0]) == 0:
        items = [np.asarray(dtrajs)]
    else:
        raise TypeError(f"{name} must be a 1-D integer array or a list of them, "
                        f"got {type(dtrajs).__name__}")
    out = []
    for i, traj in enumerate(items):
        arr = np.asarray(traj)
        label = name if len(items) == 1 else f"{name}[{i}]"
        if arr.ndim != 1:
            raise ValueError(f"{label} must be 1-D, got shape {arr.shape}")
        if arr.size < min_length:
            raise ValueError(f"{label} has {arr.size} states; at least {min_length} needed")
        check_states(arr, n_states, label)
        out.append(arr.astype(np.int64, copy=False))
    return out


def check_states(arr, n_states, name):
    """Raise unless ``arr`` holds integers in ``[0, n_states)``."""
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer states, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or (n_states is not None and arr.max() >= n_states)):
        bad = arr[(arr < 0) | (arr >= (n_states or np.iinfo(np.int64).max))][0]
        raise ValueError(f"{name} contains state {bad}, outside the alphabet "
                         f"0..{n_states - 1 if n_states else 'max'}")


def integer_at_least(value, name, minimum):
    """``value`` as an int if it is an integer of at least ``minimum``."""
    kind = "a non-negative integer" if minimum == 0 else "a positive integer"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {kind}, got {value!r}")
    if value < min(minimum, 1):
        raise ValueError(f"{name} must be {kind}, got {value}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def positive_int(value, name):
    return integer_at_least(value, name, 1)


def positive_float(value, name):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def seed_value(seed):
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)
