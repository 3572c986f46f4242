"""CV values as the discretizer reads them: input checks and per-trajectory preprocessing.

Plain numpy. :mod:`mdlstm.discretize` re-exports the public functions
(:func:`running_mean`, :func:`remove_short_visits`).
"""
import numbers

import numpy as np

from ._checks import positive_int


# --------------------------------------------------------------------------
# input parsing
# --------------------------------------------------------------------------
def is_trajectory_list(values):
    """True when ``values`` is a list/tuple holding arrays (several trajectories)."""
    return isinstance(values, (list, tuple)) and any(np.ndim(v) >= 1 for v in values)


def as_cv_array(values, name, columns=False):
    """One trajectory of CV values as a finite float array.

    1-D (one CV value per frame), or with `columns` also 2-D
    ``(n_frames, n_cv)`` (one column per CV).
    """
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers (one CV value per frame, "
                        f"or one row of CV values per frame), got "
                        f"{type(values).__name__}") from None
    if arr.ndim != 1 and not (columns and arr.ndim == 2):
        expected = "1-D or 2-D (n_frames, n_cv)" if columns else "1-D"
        raise ValueError(f"{name} must be {expected}, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: at least one frame is needed")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        where = f"index {bad[0][0]}" if arr.ndim == 1 else f"frame {bad[0][0]}, column {bad[0][1]}"
        raise ValueError(f"{name} contains a non-finite value ({arr[tuple(bad[0])]}) at "
                         f"{where}")
    return arr


def as_trajectories(values, name="values"):
    """Split CV input into a list of float arrays, all 1-D or all ``(n, n_cv)``.

    Returns
    -------
    trajs : list of numpy.ndarray
    is_list : bool
        Whether the input was a list of trajectories (answer with a list).
    """
    if is_trajectory_list(values):
        trajs = [as_cv_array(v, f"{name}[{i}]", columns=True) for i, v in enumerate(values)]
        is_list = True
    else:
        trajs, is_list = [as_cv_array(values, name, columns=True)], False
    columns = {x.shape[1:] for x in trajs}
    if len(columns) > 1:
        shapes = ", ".join(str(x.shape) for x in trajs[:4])
        raise ValueError(f"{name}: every trajectory needs the same number of CV columns "
                         f"(1-D or (n_frames, n_cv) alike), got shapes {shapes}")
    return trajs, is_list


def is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# --------------------------------------------------------------------------
# preprocessing (one trajectory at a time)
# --------------------------------------------------------------------------
def running_mean(x, window, period=None):
    """Centred running mean that keeps one value per frame.

    Interior frames get the mean of the full window: for frame ``i`` the
    frames ``i - window // 2`` to ``i - window // 2 + window - 1``, so
    ``running_mean(x, W)[W // 2 : W // 2 + len(x) - W + 1]`` equals
    ``numpy.convolve(x, numpy.ones(W) / W, mode="valid")``.  Near the ends the
    window is cut at the trajectory boundary and the part that exists is
    averaged.  For a periodic CV the mean is taken on the circle (the angle of
    the mean of the unit vectors), so values on both sides of the period
    boundary average to the boundary, not to the middle of the period.

    Parameters
    ----------
    x : array_like
        1-D finite values (CV units).
    window : int
        Window length in frames, at least 1.
    period : float, optional
        Period of a periodic CV (CV units).

    Returns
    -------
    numpy.ndarray
        Same shape and units as `x`; for a periodic CV in
        ``[-period / 2, period / 2]``.
    """
    x = as_cv_array(x, "x")
    window = positive_int(window, "window")
    if period is not None:
        angle = x * (2.0 * np.pi / period)
        mean_sin = running_mean(np.sin(angle), window)
        mean_cos = running_mean(np.cos(angle), window)
        return np.arctan2(mean_sin, mean_cos) * (period / (2.0 * np.pi))
    n = x.size
    # Shifting by the mean keeps the cumulative sum small, hence its
    # differences accurate, on long trajectories.
    shift = x.mean()
    csum = np.concatenate(([0.0], np.cumsum(x - shift)))
    first = np.arange(n) - window // 2
    start = np.clip(first, 0, n)
    stop = np.clip(first + window, 0, n)
    return (csum[stop] - csum[start]) / (stop - start) + shift


def remove_short_visits(dtraj, min_dwell):
    """Erase short visits and recrossings (the paper's preprocessing).

    A change point is a frame whose state differs from the previous frame's.
    Change points are taken in order; whenever two successive ones, ``a`` and
    ``b``, are at most `min_dwell` frames apart, the frames ``a .. b - 1``
    between them are split at the midpoint: the first ``ceil((b - a) / 2)``
    frames get the state before ``a`` (as left by the previous step) and the
    rest get the state at ``b``.  Examples with ``min_dwell=2``::

       0000 1 0000   ->  0000 0 0000     (a one-frame visit disappears)
       000 11 2222   ->  000 02 2222     (0 -> 2 jump: non-adjacent states)
       00 1 2 333    ->  00 0 0 333      (with min_dwell=1: a chain collapses)

    The second example shows that, as in the paper, the result can jump
    between states that are not neighbours along the CV.

    Parameters
    ----------
    dtraj : array_like
        1-D integer state sequence of one trajectory.
    min_dwell : int
        Longest visit (frames) that is erased, at least 1.

    Returns
    -------
    numpy.ndarray
        New state sequence, same length and dtype.
    """
    dtraj = np.asarray(dtraj)
    if dtraj.ndim != 1:
        raise ValueError(f"dtraj must be 1-D, got shape {dtraj.shape}")
    min_dwell = positive_int(min_dwell, "min_dwell")
    out = dtraj.copy()
    changes = np.flatnonzero(dtraj[1:] != dtraj[:-1]) + 1
    # Only close pairs are touched; a Python loop over them is cheap and keeps
    # the sequential rule (each pair sees the result of the previous one).
    for j in np.flatnonzero(np.diff(changes) <= min_dwell):
        start, stop = changes[j], changes[j + 1]
        mid = start + (stop - start + 1) // 2
        out[start:mid] = out[start - 1]
        out[mid:stop] = out[stop]
    return out


def keep_last_core(labels, in_core):
    """Core-set assignment: outside every core, keep the last core visited."""
    last = np.where(in_core, np.arange(labels.size), -1)
    np.maximum.accumulate(last, out=last)
    # Before the first core visit there is no core to remember: keep the cell.
    return np.where(last >= 0, labels[last], labels)
