"""Statistics measured on trajectories, summed per unit of data (chains or blocks).

Uncertainties
-------------
Every measured quantity is a ratio of sums over time (steps in a state over
all steps, transitions over time, passage time over passage events), so its
standard error follows from the same sums taken over *units* of data: blocks
of each MD trajectory (a block bootstrap), or independent generated chains
(the ratio estimator's standard error), or the models the chains come from.
"""

import numpy as np

from .._checks import as_dtraj_list, positive_float, positive_int


def statistics(dtrajs, metastable_sets, n_states=None, dt=1.0):
    """Statistics of one set of state sequences, as :func:`~mdlstm.validate.compare` measures them.

    For a source with no partner to compare with (one model of many, one MD
    replica): no MSM is estimated and no error is computed.

    Parameters
    ----------
    dtrajs : array_like of int, or list of them
        State sequences, one per independent trajectory; no transition is
        counted across two of them.
    metastable_sets : list of array_like of int
        At least two disjoint sets of states between which MFPTs are measured.
    n_states : int, optional
        Number of states; default: one more than the largest state in the data.
    dt : float
        Time of one step (any unit; times and rates are in it).

    Returns
    -------
    dict
        ``"populations"`` (n_states,) fraction of steps; ``"transition_counts"``
        (n_states, n_states) changes ``i -> j``; ``"transition_rates"`` the
        same per unit time; ``"total_time"``; ``"mfpt"`` (n_sets, n_sets)
        mean first passage times measured from the entry into a set, inf
        where no passage occurred; ``"mfpt_events"`` the passages counted;
        ``"set_populations"`` and ``"free_energy"`` (kT) as in
        :class:`Comparison`.
    """
    trajs = as_dtraj_list(dtrajs, "dtrajs")
    n_states = _check_n_states(n_states, trajs)
    trajs = as_dtraj_list(trajs, "dtrajs", n_states)
    dt = positive_float(dt, "dt")
    sets = _check_metastable_sets(metastable_sets, n_states)
    units, n_units = _units(trajs, 1, by_chain=True)
    sums = _unit_sums(trajs, units, n_units, n_states, _set_of_state(sets, n_states), len(sets),
                      lags=())
    values, _ = _measured(sums, _memberships(sets, n_states), dt, None, with_errors=False)
    return values


def _check_n_states(n_states, trajs):
    """Return `n_states`, defaulting to one more than the largest state."""
    largest = max(int(t.max()) for t in trajs)
    if n_states is None:
        return largest + 1
    return positive_int(n_states, "n_states")


def _check_metastable_sets(metastable_sets, n_states):
    """Return the sets as a list of int arrays; they must be disjoint and valid."""
    if not isinstance(metastable_sets, (list, tuple, np.ndarray)) or len(metastable_sets) < 2:
        raise ValueError("metastable_sets must be a list of at least 2 sets of states, "
                         f"got {metastable_sets!r}")
    sets = []
    for k, states in enumerate(metastable_sets):
        arr = np.atleast_1d(np.asarray(states))
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"metastable_sets[{k}] must be a non-empty 1-D set of states")
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"metastable_sets[{k}] must hold integer states, got {arr.dtype}")
        if arr.min() < 0 or arr.max() >= n_states:
            raise ValueError(f"metastable_sets[{k}] contains states outside "
                             f"[0, n_states={n_states})")
        sets.append(np.unique(arr))
    every = np.concatenate(sets)
    if len(np.unique(every)) < len(every):
        shared = np.flatnonzero(np.bincount(every) > 1)
        raise ValueError(f"metastable_sets overlap: states {shared.tolist()} are in more "
                         "than one set")
    return sets


def _free_energy(populations):
    """-ln p in kT, minimum 0, inf for unvisited states."""
    energy = np.full(populations.shape, np.inf)
    visited = populations > 0
    energy[visited] = -np.log(populations[visited])
    return energy - energy[visited].min()


def _set_of_state(metastable_sets, n_states):
    """Index of each state's metastable set, -1 for states in none."""
    labels = np.full(n_states, -1)
    for k, states in enumerate(metastable_sets):
        labels[states] = k
    return labels


def _memberships(metastable_sets, n_states):
    """Indicator matrix (n_states, n_sets): 1 where a state is in a set."""
    members = np.zeros((n_states, len(metastable_sets)))
    for k, states in enumerate(metastable_sets):
        members[states, k] = 1.0
    return members


def _units(trajs, n_blocks, by_chain, groups=None):
    """Unit of data of every step: its chain's group, its chain, or its block.

    With `groups` (one label per chain, at least two distinct) the chains of
    a group form one unit; else with `by_chain` every chain is one; else
    every trajectory is cut into `n_blocks` blocks. Along a trajectory the
    units are a contiguous, non-decreasing range (:func:`_unit_sums` bins
    into those rows only).
    """
    if groups is not None and np.unique(groups).size > 1:
        index = np.unique(groups, return_inverse=True)[1]
        return [np.full(len(t), g) for t, g in zip(trajs, index)], int(index.max()) + 1
    if by_chain:
        return [np.full(len(t), k) for k, t in enumerate(trajs)], len(trajs)
    return ([k * n_blocks + np.arange(len(t)) * n_blocks // len(t) for k, t in enumerate(trajs)],
            n_blocks * len(trajs))


def _binned(unit, code, n_units, size, weights=None):
    """Counts (or summed `weights`) of each code in each unit, shape (n_units, size)."""
    flat = np.bincount(unit * size + code, weights=weights, minlength=n_units * size)
    return flat.reshape(n_units, size)


def _unit_sums(trajs, units, n_units, n_states, labels, n_sets, lags):
    """Everything measured on one source, summed per unit of data.

    Returns a dict of float arrays with one row per unit: ``"visits"`` (steps
    in each state), ``"intervals"`` (pairs of consecutive steps, one column),
    ``"changes"`` (changes ``i -> j``, flattened), ``"passage"`` and
    ``"events"`` (summed duration in steps and number of passages ``a -> b``
    between sets, flattened) and ``"lagged"`` (dict: sliding-window counts
    at each of `lags`, flattened). A pair of steps belongs to the unit of its
    first step, a passage to the unit where it starts, so the sums over units
    are the statistics of the whole source.
    """
    n_pairs = n_states * n_states
    sums = {"visits": np.zeros((n_units, n_states)), "intervals": np.zeros((n_units, 1)),
            "changes": np.zeros((n_units, n_pairs)),
            "passage": np.zeros((n_units, n_sets * n_sets)),
            "events": np.zeros((n_units, n_sets * n_sets)),
            "lagged": {lag: np.zeros((n_units, n_pairs)) for lag in lags}}
    for traj, unit in zip(trajs, units):
        # a trajectory's units are a contiguous range: bin into those rows
        # only, so that the cost does not grow with chains x units
        lo = int(unit[0])
        rows, unit = slice(lo, int(unit[-1]) + 1), unit - lo
        span = rows.stop - lo
        before, after, first = traj[:-1], traj[1:], unit[:-1]
        change = before != after
        sums["visits"][rows] += _binned(unit, traj, span, n_states)
        sums["intervals"][rows] += _binned(first, 0, span, 1)
        sums["changes"][rows] += _binned(first[change],
                                         before[change] * n_states + after[change], span, n_pairs)
        for lag, counts in sums["lagged"].items():
            n = max(len(traj) - lag, 0)
            counts[rows] += _binned(unit[:n], traj[:n] * n_states + traj[lag:lag + n], span,
                                    n_pairs)
        set_of_step = labels[traj]
        for a in range(n_sets):
            for b in range(n_sets):
                if a != b:
                    start, duration = _passages(set_of_step, a, b)
                    pair = a * n_sets + b
                    sums["passage"][rows, pair] += np.bincount(unit[start], weights=duration,
                                                               minlength=span)
                    sums["events"][rows, pair] += np.bincount(unit[start], minlength=span)
    return sums


def _passages(set_of_step, a, b):
    """Start steps and durations (steps) of the passages from set a to set b.

    Only the steps in a or b matter. Keeping the first step of each run of
    equal set labels among them leaves an alternating sequence of entries a,
    b, a, ...; each entry into a followed by one into b is a passage, and the
    entry into a is the first step in a after the last visit to b (or of the
    trajectory).
    """
    times = np.flatnonzero((set_of_step == a) | (set_of_step == b))
    sets = set_of_step[times]
    entry = np.ones(times.size, dtype=bool)
    entry[1:] = sets[1:] != sets[:-1]
    times, sets = times[entry], sets[entry]
    starts = sets[:-1] == a
    return times[:-1][starts], np.diff(times)[starts]


def _measured(sums, members, step, resample, with_errors=True):
    """Quantities measured on one source, and their standard errors.

    Each is a ratio of two sums over units (module docstring,
    "Uncertainties"); `resample` as in :func:`_ratio_se`. Without
    `with_errors` the errors dict is empty.
    """
    visits, time = sums["visits"], sums["intervals"] * step
    steps = visits.sum(axis=1, keepdims=True)
    ratios = {"populations": (visits, steps),
              "set_populations": (visits @ members, steps),
              "transition_rates": (sums["changes"], time),
              "transitions_per_time": (sums["changes"].sum(axis=1, keepdims=True), time),
              "mfpt": (sums["passage"] * step, sums["events"])}
    values = {name: _ratio(num.sum(axis=0), den.sum(axis=0))
              for name, (num, den) in ratios.items()}
    errors = {name: _ratio_se(num, den, resample)
              for name, (num, den) in ratios.items() if with_errors}
    n_states, n_sets = members.shape
    for found in (values, errors) if with_errors else (values,):
        found["transition_rates"] = found["transition_rates"].reshape(n_states, n_states)
        found["transitions_per_time"] = float(found["transitions_per_time"][0])
        found["mfpt"] = found["mfpt"].reshape(n_sets, n_sets)
        np.fill_diagonal(found["mfpt"], 0.0)
    del values["transitions_per_time"]  # an attribute of its own would repeat the counts
    pop = values["populations"]
    values["free_energy"] = _free_energy(pop)
    if with_errors:
        errors["free_energy"] = _ratio(errors["populations"], pop)
    values["transition_counts"] = sums["changes"].sum(axis=0).astype(np.int64).reshape(
        n_states, n_states)
    values["total_time"] = float(time.sum())
    values["mfpt_events"] = sums["events"].sum(axis=0).astype(np.int64).reshape(
        n_sets, n_sets)
    return values, errors


def _ratio(num, den):
    """num / den, inf where den is 0."""
    out = np.full(np.broadcast(num, den).shape, np.inf)
    return np.divide(num, den, out=out, where=den > 0)


def _ratio_se(num, den, resample):
    """Standard error of ``sum(num) / sum(den)``, sums over units (axis 0).

    Parameters
    ----------
    num, den : ndarray, shape (n_units, m) (`den` may have one column)
    resample : ndarray, shape (n_bootstrap, n_units), or None
        How often each unit is drawn in each bootstrap replicate: the SE is
        the replicates' standard deviation, ``inf`` if any replicate has
        ``den == 0``. None: the units are independent samples and the SE is
        the ratio estimator's, ``sqrt(n / (n - 1) * sum_u (num_u - R den_u)**2)
        / sum(den)`` (``inf`` where ``sum(den) == 0``).
    """
    if resample is None:
        total = den.sum(axis=0)
        ratio = _ratio(num.sum(axis=0), total)
        residual = num - np.where(np.isfinite(ratio), ratio, 0.0) * den
        n = len(num)
        return _ratio(np.sqrt(n / (n - 1) * (residual ** 2).sum(axis=0)), total)
    replicate_num, replicate_den = resample @ num, resample @ den
    defined = replicate_den > 0
    replicates = replicate_num / np.where(defined, replicate_den, 1.0)
    return np.where(defined.all(axis=0), replicates.std(axis=0, ddof=1), np.inf)
