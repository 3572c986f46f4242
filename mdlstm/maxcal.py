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
corrected model. :meth:`MaxCalCorrection.verdict` then puts the chains of the
model before and after the correction side by side (:class:`MaxCalVerdict`):
the statistic next to its target, and every row of
:func:`mdlstm.validate.compare` (populations of the metastable sets, MFPTs,
transitions per time, implied timescales), each judged against a reference
by the comparison's tolerances, so that a correction that moves the target
but wrecks the rest is shown as such.

The same, from an analysis run (:meth:`mdlstm.LSTMDynamics.maxcal
<mdlstm.analysis.LSTMDynamics.maxcal>`), from trained models and state
sequences (:func:`mdlstm.pipeline.correct`) or from a saved model file
(``mdlstm maxcal``, :doc:`/cli`).

Choosing the statistic
----------------------
The weights act on the *mean over chains* of the statistic. For a statistic
that is a sum over steps (a fraction of steps, a count of transitions), that
mean is the statistic of all chains pooled, as the maximum-caliber
constraints of the ps-LSTM paper are. A ratio is not such a sum: the mean of
per-chain ratios ``pi_A / pi_B`` exceeds the pooled ratio (a chain with few
steps in ``B`` has a large ratio), the more so the shorter the chains. To
correct toward a known pooled ratio ``r``, the linear statistic
``lambda c: np.isin(c, A).mean() - r * np.isin(c, B).mean()`` with target 0
gives the selected chains the pooled ratio ``r`` (``benchmarks/maxcal.py``
measures both).

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
>>> after = corrected.generate(5000, n_trajectories=len(chains), seed=1)
>>> print(fix.verdict(chains, after, reference=md_dtraj).format_summary())
"""

import dataclasses
import math
import warnings

import numpy as np

from ._checks import positive_float, positive_int, seed_value
from ._format import _format_states, _jsonable
from ._params import Parameters

__all__ = ["STATISTICS", "MIN_EFFECTIVE_FRACTION", "TARGET_RTOL", "MaxCalCorrection",
           "MaxCalVerdict", "path_statistic", "solve_dlambda", "maxcal_weights",
           "effective_sample_size", "select"]

#: Statistics :func:`path_statistic` knows by name.
STATISTICS = ("population_ratio", "hop_fraction", "transition_count")
#: :func:`maxcal_weights` warns when the effective sample size is below this
#: fraction of the chains.
MIN_EFFECTIVE_FRACTION = 0.05
#: :meth:`MaxCalCorrection.verdict` passes the corrected statistic when its
#: mean over the chains is within this fraction of the target.
TARGET_RTOL = 0.1


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
        :func:`effective_sample_size` of the weights (chains).
    n_chains_ : int
        Chains given to :meth:`fit`.
    selected_ : numpy.ndarray of int
        Indices of the chains the model was retrained on.
    estimator_ : mdlstm.LSTMEstimator
        The clone of the estimator, fitted to the selected chains.

    See Also
    --------
    mdlstm.maxcal.MaxCalCorrection.verdict : the corrected chains against target and reference.
    mdlstm.analysis.LSTMDynamics.maxcal : the whole correction of an analysis run.
    """

    def __init__(self, statistic, target, sets=None, n_select=None, replace=True, seed=None):
        self.statistic = statistic
        self.target = target
        self.sets = sets
        self.n_select = n_select
        self.replace = replace
        self.seed = seed

    def fit(self, chains, estimator, metadata=None):
        """Solve, weigh, select and retrain; returns self.

        Parameters
        ----------
        chains : array_like of int, shape (n_chains, n_steps), or list of 1-D arrays
            Generated chains (e.g. ``results.generated``).
        estimator : mdlstm.LSTMEstimator
            The training settings; a clone is fitted, the object passed in is
            left unfitted.
        metadata : dict, optional
            Stored with the corrected model (:meth:`mdlstm.LSTMEstimator.fit`),
            e.g. the first model's CV, discretizer and ``dt``; a ``"maxcal"``
            entry records the correction (statistic, target, sets,
            ``dlambda``, effective sample size, chains given and selected).
        """
        from .train import LSTMEstimator

        if not isinstance(estimator, LSTMEstimator):
            raise TypeError(f"estimator must be an mdlstm.LSTMEstimator, "
                            f"got {type(estimator).__name__}")
        trajs = _chains(chains)
        n = len(trajs) if self.n_select is None else positive_int(self.n_select, "n_select")
        _check_target(self.target)
        self.values_ = path_statistic(trajs, self.statistic, self.sets)
        self.dlambda_ = solve_dlambda(self.values_, self.target)
        self.weights_ = maxcal_weights(self.values_, self.dlambda_)
        self.effective_sample_size_ = effective_sample_size(self.weights_)
        self.selected_ = select(self.weights_, n, replace=self.replace, seed=self.seed)
        self.n_chains_ = len(trajs)
        meta = {**(metadata or {}), "maxcal": self._describe()}
        self.estimator_ = estimator.clone().fit([trajs[k] for k in self.selected_],
                                                metadata=meta)
        return self

    def _describe(self):
        """The correction as JSON-serialisable data (stored with the corrected model)."""
        sets = None if self.sets is None else [np.asarray(x).tolist() for x in self.sets]
        name = self.statistic if isinstance(self.statistic, str) else \
            getattr(self.statistic, "__name__", repr(self.statistic))
        return {"statistic": name, "target": float(self.target), "sets": sets,
                "dlambda": self.dlambda_, "effective_sample_size": self.effective_sample_size_,
                "n_chains": self.n_chains_, "n_selected": int(len(self.selected_)),
                "mean_before": float(self.values_.mean()),
                "mean_weighted": float(np.dot(self.weights_, self.values_)),
                "mean_selected": float(self.values_[self.selected_].mean())}

    def fetch_model(self):
        """The retrained :class:`~mdlstm.model.LSTMModel`."""
        if not hasattr(self, "estimator_"):
            raise RuntimeError("fetch_model() needs fit() first")
        return self.estimator_.fetch_model()

    def verdict(self, before, after, reference=None, *, n_states=None, dt=1.0,
                time_unit="ps", lagtimes=None, metastable_sets=None, n_timescales=2,
                target_rtol=TARGET_RTOL, target_atol=0.0, seed=0):
        """The statistic and every statistic of the comparison, before and after.

        The statistic is judged against the target; everything else is
        judged by :func:`mdlstm.validate.compare` (its summary rows and
        :data:`~mdlstm.validate.TOLERANCES`) against `reference`: the chains
        before and the chains after the correction are each compared with it,
        with the same metastable sets and lag times. Without a reference the
        corrected chains are compared with the uncorrected ones, so a
        ``"warn"`` then says that the correction moved that statistic.

        Parameters
        ----------
        before : array_like of int, shape (n_chains, n_steps), or list of 1-D arrays
            Chains of the uncorrected model (those given to :meth:`fit`, or others).
        after : array_like of int, shape (n_chains, n_steps), or list of 1-D arrays
            Chains of the corrected model (:meth:`fetch_model`).
        reference : array_like of int, or list of them, optional
            What the statistics should be: the MD data, a longer run.
        n_states : int, optional
            Number of states; default: one more than the largest state seen.
        dt : float
            Time of one step, in `time_unit`.
        time_unit : str
        lagtimes : sequence of int, optional
            Lag times (steps) of the implied timescales
            (:func:`mdlstm.validate.compare`).
        metastable_sets : list of array_like of int, optional
            Sets of the populations and MFPTs; default: PCCA+ of the
            reference's MSM (of `before` without a reference).
        n_timescales : int
            Implied timescales per lag time in the table, slowest first.
        target_rtol, target_atol : float
            The corrected mean of the statistic passes when within
            ``max(target_atol, target_rtol * |target|)`` of the target (in the
            statistic's units; ``target_atol`` for a target of 0).
        seed : int
            Seed of the bootstrap errors.

        Returns
        -------
        MaxCalVerdict

        Raises
        ------
        RuntimeError
            Before :meth:`fit`.
        """
        if not hasattr(self, "dlambda_"):
            raise RuntimeError("verdict() needs fit() first")
        from .validate import compare

        n_timescales = positive_int(n_timescales, "n_timescales")
        target_rtol = positive_float(target_rtol, "target_rtol")
        if target_atol != 0.0:
            target_atol = positive_float(target_atol, "target_atol")
        values = {name: path_statistic(chains, self.statistic, self.sets)
                  for name, chains in (("before", before), ("after", after))}
        options = dict(n_states=n_states, dt=dt, time_unit=time_unit, lagtimes=lagtimes,
                       metastable_sets=metastable_sets, msm_simulation=False, seed=seed)
        if reference is None:
            comparisons = {"after": compare(before, after, **options)}
        else:
            comparisons = {name: compare(reference, chains, **options)
                           for name, chains in (("before", before), ("after", after))}
        rows = [_target_row(self, values, target_rtol, target_atol)]
        rows += _comparison_rows(comparisons, n_timescales)
        return MaxCalVerdict(statistic=self._describe()["statistic"], target=float(self.target),
                             reference="MD" if reference is not None else None, rows=rows,
                             comparisons=comparisons, correction=self)


@dataclasses.dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class MaxCalVerdict:
    """What :meth:`~mdlstm.maxcal.MaxCalCorrection.verdict` returns: before and after.

    Attributes
    ----------
    statistic : str
        Name of the corrected statistic.
    target : float
    reference : str or None
        ``"MD"`` when the chains were compared with a reference, None when
        the corrected chains were compared with the uncorrected ones.
    rows : list of dict
        One per quantity: ``"quantity"``, ``"unit"``, ``"reference"`` (the
        reference's value, the target for the statistic; None without a
        reference), ``"before"`` and ``"after"`` (the uncorrected and the
        corrected chains), each with its standard error under
        ``"<column>_se"``, ``"before_verdict"`` (None without a reference)
        and ``"verdict"``: ``"pass"`` when the corrected chains agree with
        the reference (or the target, or without a reference, with the
        uncorrected chains) within the tolerances, else ``"warn"``. The
        first row is the statistic (mean over chains; its ``"tolerance"`` is
        the distance from the target it may have), then the rows of
        :meth:`mdlstm.validate.Comparison.summary`, then the implied
        timescales at every lag time.
    comparisons : dict of mdlstm.validate.Comparison
        ``"before"`` and ``"after"``: each set of chains compared with the
        reference; without a reference only ``"after"``, compared with the
        uncorrected chains.
    correction : MaxCalCorrection
        The fitted correction (``fetch_model()`` gives the corrected model).
    """

    statistic: str
    target: float
    reference: object
    rows: list
    comparisons: dict
    correction: object

    @property
    def passed(self):
        """Whether every row's verdict is ``"pass"``."""
        return all(row["verdict"] == "pass" for row in self.rows)

    def failures(self):
        """Quantities whose corrected value is outside the tolerances."""
        return [row["quantity"] for row in self.rows if row["verdict"] != "pass"]

    def format_summary(self):
        """The :attr:`rows` as an aligned plain-text table, like
        :meth:`mdlstm.validate.Comparison.format_summary`.

        Returns
        -------
        str
            A header (statistic, target, dlambda, effective sample size, what
            the rows are judged against), then one line per row: ``value ±
            SE`` per column (4 and 2 significant digits) and the verdicts.
        """
        fix = self.correction
        against = "the reference (MD)" if self.reference else "the uncorrected chains"
        header = [f"maxcal: mean {self.statistic} toward {self.target:g}; "
                  f"dlambda = {fix.dlambda_:.6g}, effective sample size "
                  f"{fix.effective_sample_size_:.1f} of {fix.n_chains_} chains, "
                  f"{len(fix.selected_)} selected",
                  f"verdicts: the statistic against its target (within "
                  f"{self.rows[0]['tolerance']:.3g}), the rest against {against}"]
        after = self.comparisons["after"]
        header += [f"{label}: states {_format_states(states)}"
                   for label, states in zip(after.set_names(), after.metastable_sets)]
        columns = (["reference"] if self.reference else []) + ["before", "after"]
        verdicts = (["before_verdict"] if self.reference else []) + ["verdict"]
        table = [["quantity", "unit", *columns,
                  *("verdict " + v.split("_")[0] if v != "verdict" else "verdict after"
                    for v in verdicts)]]
        for row in self.rows:
            table.append([row["quantity"], row["unit"],
                          *(_value(row[c], row[c + "_se"]) for c in columns),
                          *(row[v] or "" for v in verdicts)])
        widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
        lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                           for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
                 for line in table]
        return "\n".join(header + [""] + lines)

    def to_dict(self):
        """The statistic, target, correction and rows as JSON-serialisable data."""
        return _jsonable({"statistic": self.statistic, "target": self.target,
                          "reference": self.reference, "rows": self.rows,
                          "correction": self.correction._describe()})

    def __str__(self):
        return self.format_summary()

    def __repr__(self):
        return (f"<MaxCalVerdict: mean {self.statistic} toward {self.target:g}, "
                f"{len(self.rows)} rows, {len(self.failures())} outside the tolerances>")


def _target_row(fix, values, rtol, atol):
    """The verdict row of the corrected statistic: mean over chains against the target."""
    from .validate._comparison import _verdict

    row = {"quantity": f"mean {fix._describe()['statistic']} (target)", "unit": "",
           "reference": float(fix.target), "reference_se": 0.0,
           "tolerance": max(atol, rtol * abs(float(fix.target)))}
    for name, s in values.items():
        row[name] = float(s.mean())
        row[name + "_se"] = float(s.std(ddof=1) / np.sqrt(s.size)) if s.size > 1 else np.inf
    tolerance = {"absolute": atol, "relative": rtol, "n_se": 0.0}
    row["before_verdict"] = _verdict(tolerance, fix.target, row["before"], 0.0, 0.0)
    row["verdict"] = _verdict(tolerance, fix.target, row["after"], 0.0, 0.0)
    return row


def _comparison_rows(comparisons, n_timescales):
    """Rows of the comparison summaries and implied timescales, before and after."""
    from .validate import TOLERANCES
    from .validate._comparison import _verdict

    after = comparisons["after"]
    before = comparisons.get("before")
    ahead_rows = before.summary() if before is not None else None
    rows = []
    for k, row in enumerate(after.summary()):
        out = {"quantity": row["quantity"], "unit": row["unit"]}
        if before is None:      # the uncorrected chains are the comparison's "MD"
            out.update(reference=None, reference_se=None, before=row["MD"],
                       before_se=row["MD_se"], before_verdict=None)
        else:
            ahead = ahead_rows[k]
            out.update(reference=row["MD"], reference_se=row["MD_se"], before=ahead["LSTM"],
                       before_se=ahead["LSTM_se"], before_verdict=ahead["verdict"])
        out.update(after=row["LSTM"], after_se=row["LSTM_se"], verdict=row["verdict"])
        rows.append(out)
    n = min(n_timescales, after.timescales["MD"].shape[1])
    for i, lag in enumerate(after.lagtimes):
        for k in range(n):
            if lag == after.msm_lag and k == 0:
                continue        # the summary's slowest implied timescale
            value = {s: after.timescales[s][i, k] for s in ("MD", "LSTM")}
            se = {s: after.errors["timescales"][s][i, k] for s in ("MD", "LSTM")}
            out = {"quantity": f"implied timescale {k + 1} (lag {lag})",
                   "unit": after.time_unit}
            if before is None:
                out.update(reference=None, reference_se=None, before=float(value["MD"]),
                           before_se=float(se["MD"]), before_verdict=None)
            else:
                ahead = (before.timescales["LSTM"][i, k],
                         before.errors["timescales"]["LSTM"][i, k])
                out.update(reference=float(value["MD"]), reference_se=float(se["MD"]),
                           before=float(ahead[0]), before_se=float(ahead[1]),
                           before_verdict=_verdict(TOLERANCES["timescale"], value["MD"],
                                                   ahead[0], se["MD"], ahead[1]))
            out.update(after=float(value["LSTM"]), after_se=float(se["LSTM"]),
                       verdict=_verdict(TOLERANCES["timescale"], value["MD"],
                                        value["LSTM"], se["MD"], se["LSTM"]))
            rows.append(out)
    return rows


def _value(value, se):
    """``value ± SE`` with 4 and 2 significant digits, as the comparison's tables."""
    return f"{value:.4g} ± {se:.2g}"


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


def _check_target(target):
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, float, np.number)):
        raise TypeError(f"target must be a number, got {type(target).__name__} {target!r}")
    if not math.isfinite(target):
        raise ValueError(f"target must be a finite number, got {target}")


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
