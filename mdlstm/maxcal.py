r"""Maximum-caliber weights of generated chains toward a known statistic --- :mod:`mdlstm.maxcal`
=============================================================================================

A model trained on a short run inherits that run's biases, for example a
population ratio off by a factor of two. Tsai, Fields, Xu, Kuo & Tiwary
(ps-LSTM, *Nat. Commun.* 13, 7231, 2022) correct it by maximum caliber:

1. generate many chains and compute a path statistic :math:`s_k` of each
   (:func:`path_statistic`);
2. weight chain :math:`k` by :math:`w_k \propto \exp(-\Delta\lambda\, s_k)`,
   with :math:`\Delta\lambda` chosen so that the weighted mean of
   :math:`s` equals a target known from elsewhere (a longer run, an
   experiment): :func:`solve_dlambda`, a bracketing root search
   (:func:`scipy.optimize.brentq`) on a function that is monotone in
   :math:`\Delta\lambda` (its derivative is minus the weighted variance of
   :math:`s`), where the ps-LSTM notebooks read :math:`\Delta\lambda` off a
   plot;
3. draw a subset of the chains by these weights (:func:`select`) and retrain
   on it.

:class:`MaxCalCorrection` is the whole loop in the estimator style: ``fit``
takes the chains and an :class:`~mdlstm.train.LSTMEstimator`, whose clone it
trains on the selected chains, and returns itself; ``fetch_model`` gives the
corrected model.

The weights are only as good as the chains that carry them: their effective
sample size (:func:`effective_sample_size`, :math:`1 / \sum_k w_k^2`) says
how many chains the weighted mean really rests on. :func:`maxcal_weights`
warns when it is small.

Example
-------
>>> s = path_statistic(chains, "population_ratio", sets=[[0, 1], [3, 4]])
>>> dlambda = solve_dlambda(s, target=0.5)
>>> w = maxcal_weights(s, dlambda)
>>> chosen = select(w, n=len(w), seed=0)          # indices of chains to retrain on
>>> fix = MaxCalCorrection("population_ratio", 0.5, sets=[[0, 1], [3, 4]], seed=0)
>>> corrected = fix.fit(chains, LSTMEstimator()).fetch_model()
"""

import math
import warnings

import numpy as np

from ._checks import positive_int, seed_value
from ._params import Parameters

__all__ = ["STATISTICS", "MIN_EFFECTIVE_FRACTION", "MaxCalCorrection", "path_statistic",
           "solve_dlambda", "maxcal_weights", "effective_sample_size", "select"]

#: Statistics :func:`path_statistic` knows by name.
STATISTICS = ("population_ratio", "hop_fraction", "transition_count")
#: :func:`maxcal_weights` warns when the effective sample size is below this
#: fraction of the chains.
MIN_EFFECTIVE_FRACTION = 0.05


class MaxCalCorrection(Parameters):
    """Weight generated chains toward a target statistic and retrain on a selection of them.

    Parameters
    ----------
    statistic : str or callable
        See :func:`path_statistic`.
    target : float
        The mean of the statistic the selected chains must have.
    sets : list of two lists of int, optional
        The sets of ``"population_ratio"`` and ``"transition_count"``.
    n_select : int, optional
        Chains drawn for retraining; default: as many as are given.
    replace : bool
        Draw with replacement (:func:`select`).
    seed : int, optional
        Seed of the selection (the estimator keeps its own).

    Attributes
    ----------
    values_ : numpy.ndarray
        The statistic of every given chain.
    dlambda_ : float
        :func:`solve_dlambda`.
    weights_ : numpy.ndarray
        :func:`maxcal_weights`.
    effective_sample_size_ : float
    selected_ : numpy.ndarray of int
        Indices of the chains the model was retrained on.
    estimator_ : mdlstm.LSTMEstimator
        The clone of the estimator, fitted to the selected chains.
    """

    def __init__(self, statistic, target, sets=None, n_select=None, replace=True, seed=None):
        self.statistic = statistic
        self.target = target
        self.sets = sets
        self.n_select = n_select
        self.replace = replace
        self.seed = seed

    def fit(self, chains, estimator):
        """Solve, weigh, select and retrain; returns self.

        Parameters
        ----------
        chains : array_like of int, shape (n_chains, n_steps), or list of 1-D arrays
            Generated chains (e.g. ``results.generated``).
        estimator : mdlstm.LSTMEstimator
            The training settings; a clone is fitted, the object passed in is
            left unfitted.
        """
        from .train import LSTMEstimator

        if not isinstance(estimator, LSTMEstimator):
            raise TypeError(f"estimator must be an mdlstm.LSTMEstimator, "
                            f"got {type(estimator).__name__}")
        trajs = _chains(chains)
        n = len(trajs) if self.n_select is None else positive_int(self.n_select, "n_select")
        self.values_ = path_statistic(trajs, self.statistic, self.sets)
        self.dlambda_ = solve_dlambda(self.values_, self.target)
        self.weights_ = maxcal_weights(self.values_, self.dlambda_)
        self.effective_sample_size_ = effective_sample_size(self.weights_)
        self.selected_ = select(self.weights_, n, replace=self.replace, seed=self.seed)
        self.estimator_ = estimator.clone().fit([trajs[k] for k in self.selected_])
        return self

    def fetch_model(self):
        """The retrained :class:`~mdlstm.model.LSTMModel`."""
        if not hasattr(self, "estimator_"):
            raise RuntimeError("fetch_model() needs fit() first")
        return self.estimator_.fetch_model()


def path_statistic(chains, statistic, sets=None):
    """One value of a path statistic per generated chain.

    Parameters
    ----------
    chains : array_like of int, shape (n_chains, n_steps), or list of 1-D arrays
        Generated state sequences.
    statistic : str or callable
        ``"population_ratio"``: steps in ``sets[0]`` over steps in ``sets[1]``;
        ``"hop_fraction"``: fraction of steps that change the state by exactly
        one (``|s[t+1] - s[t]| == 1``); ``"transition_count"``: one-step
        transitions from a state of ``sets[0]`` into one of ``sets[1]``; or
        a function of one chain (1-D int array) returning a float.
    sets : list of two lists of int, optional
        The two sets of states of ``"population_ratio"`` and
        ``"transition_count"``.

    Returns
    -------
    numpy.ndarray of float, shape (n_chains,)

    Raises
    ------
    ValueError
        An unknown statistic, missing or overlapping sets, a chain that
        never visits ``sets[1]`` (its population ratio is undefined), or a
        callable that returns something other than a finite number.
    """
    trajs = _chains(chains)
    if callable(statistic):
        return np.array([_finite(statistic(t), k) for k, t in enumerate(trajs)])
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS} or a callable, "
                         f"got {statistic!r}")
    if statistic == "hop_fraction":
        return np.array([np.mean(np.abs(np.diff(t)) == 1) if len(t) > 1 else 0.0
                         for t in trajs])
    first, second = _two_sets(sets, statistic)
    if statistic == "population_ratio":
        inside = [(np.isin(t, first).sum(), np.isin(t, second).sum()) for t in trajs]
        empty = [k for k, (_, n) in enumerate(inside) if n == 0]
        if empty:
            raise ValueError(f"population_ratio: chains {empty[:10]} never visit sets[1], "
                             "so their ratio is undefined; use longer chains or other sets")
        return np.array([a / b for a, b in inside], dtype=float)
    return np.array([np.sum(np.isin(t[:-1], first) & np.isin(t[1:], second))
                     for t in trajs], dtype=float)


def solve_dlambda(values, target, rtol=1e-12):
    r"""The :math:`\Delta\lambda` whose weights give `values` the mean `target`.

    Solves :math:`\sum_k w_k s_k = \mathrm{target}` with
    :math:`w_k \propto \exp(-\Delta\lambda\, s_k)`. The weighted mean falls
    monotonically as :math:`\Delta\lambda` grows, so a bracket is widened
    until it holds the root, which :func:`scipy.optimize.brentq` then finds.

    Parameters
    ----------
    values : array_like of float, shape (n_chains,)
        The statistic of every chain (:func:`path_statistic`).
    target : float
        The mean the weighted chains must have, in the units of `values`.
    rtol : float
        Relative tolerance of :math:`\Delta\lambda`.

    Returns
    -------
    float
        :math:`\Delta\lambda`, in inverse units of `values`; 0 when the
        plain mean already equals `target`.

    Raises
    ------
    ValueError
        `target` outside the open range of `values` (no weights reach it),
        or `values` not finite.
    """
    from scipy.optimize import brentq

    s = _values(values)
    target = float(target)
    lo, hi = float(s.min()), float(s.max())
    if not lo < target < hi:
        raise ValueError(f"target {target:g} is unreachable: weights exp(-dlambda * s) move the "
                         f"mean of s only within the range of the chains' values ({lo:g}, "
                         f"{hi:g}); generate more or longer chains, or check the target")

    def gap(dlambda):
        return _weighted_mean(s, dlambda) - target

    if gap(0.0) == 0.0:
        return 0.0
    # the scale of dlambda is the inverse spread of s; widen until the root is inside
    step = 1.0 / max(float(s.std()), np.finfo(float).tiny)
    direction = 1.0 if gap(0.0) > 0 else -1.0
    bound = direction * step
    while np.sign(gap(bound)) == np.sign(gap(0.0)):
        bound *= 2.0
    a, b = sorted((0.0, bound))
    return float(brentq(gap, a, b, xtol=np.finfo(float).tiny, rtol=rtol, maxiter=500))


def maxcal_weights(values, dlambda):
    r"""Normalised weights :math:`w_k \propto \exp(-\Delta\lambda\, s_k)`.

    Warns when the effective sample size (:func:`effective_sample_size`) is
    below :data:`MIN_EFFECTIVE_FRACTION` of the chains: the weighted mean
    then rests on a few chains.

    Returns
    -------
    numpy.ndarray of float, shape (n_chains,)
        Non-negative, summing to 1.
    """
    s = _values(values)
    w = _log_weights(s, float(dlambda))
    w = np.exp(w - w.max())
    w /= w.sum()
    ess = effective_sample_size(w)
    if ess < MIN_EFFECTIVE_FRACTION * s.size:
        warnings.warn(f"the maxcal weights rest on {ess:.1f} effective chains of {s.size} "
                      f"(below {MIN_EFFECTIVE_FRACTION:.0%}): the target is far in the tail "
                      "of the generated statistic; generate more chains before trusting it",
                      UserWarning, stacklevel=2)
    return w


def effective_sample_size(weights):
    r"""Kish's effective sample size :math:`(\sum w)^2 / \sum w^2` of the weights."""
    w = _values(weights)
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    return float(w.sum() ** 2 / np.sum(w ** 2))


def select(weights, n, replace=True, seed=None):
    """Indices of `n` chains drawn with probabilities `weights` (seeded).

    Parameters
    ----------
    weights : array_like of float
        :func:`maxcal_weights`.
    n : int
        Chains to draw.
    replace : bool
        Draw with replacement (a chain may be chosen several times); without
        it, `n` may not exceed the number of chains with non-zero weight.
    seed : int, optional

    Returns
    -------
    numpy.ndarray of int, shape (n,)
    """
    w = _values(weights)
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    n = positive_int(n, "n")
    if not replace and n > np.count_nonzero(w):
        raise ValueError(f"n ({n}) exceeds the {np.count_nonzero(w)} chains of non-zero "
                         "weight; draw with replace=True or fewer")
    rng = np.random.default_rng(seed_value(seed))
    return rng.choice(w.size, size=n, replace=replace, p=w / w.sum())


def _log_weights(s, dlambda):
    return -dlambda * (s - s.mean())


def _weighted_mean(s, dlambda):
    logw = _log_weights(s, dlambda)
    w = np.exp(logw - logw.max())
    return float(np.dot(w, s) / w.sum())


def _chains(chains):
    arr = chains if isinstance(chains, (list, tuple)) else np.asarray(chains)
    trajs = [np.asarray(t) for t in arr]
    if not trajs:
        raise ValueError("chains is empty")
    for k, t in enumerate(trajs):
        if t.ndim != 1 or t.size == 0 or not np.issubdtype(t.dtype, np.integer):
            raise ValueError(f"chains[{k}] must be a non-empty 1-D sequence of integer states")
    return [t.astype(np.int64) for t in trajs]


def _two_sets(sets, statistic):
    if sets is None or len(sets) != 2:
        raise ValueError(f"{statistic} needs sets: two lists of states, got {sets!r}")
    first, second = (np.unique(np.asarray(x, dtype=np.int64)) for x in sets)
    if first.size == 0 or second.size == 0:
        raise ValueError(f"{statistic}: both sets must hold states, got {sets!r}")
    if np.intersect1d(first, second).size:
        raise ValueError(f"{statistic}: sets overlap in states "
                         f"{np.intersect1d(first, second).tolist()}")
    return first, second


def _values(values):
    s = np.asarray(values, dtype=float)
    if s.ndim != 1 or s.size == 0 or not np.all(np.isfinite(s)):
        raise ValueError("values must be a non-empty 1-D array of finite numbers")
    return s


def _finite(value, k):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"the statistic returned {value!r} for chains[{k}], not a number") \
            from None
    if not math.isfinite(value):
        raise ValueError(f"the statistic returned {value} for chains[{k}]")
    return value
