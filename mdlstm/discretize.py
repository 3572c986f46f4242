r"""Discretize a collective variable into states --- :mod:`mdlstm.discretize`
=========================================================================

The language model of :mod:`mdlstm` reads a trajectory as a string of
characters: one integer state per frame.  :class:`Discretizer` turns the values
of a collective variable (CV) into that string and turns states back into
representative CV values.  It is plain numpy and knows nothing about
MDAnalysis, so it serves any 1-D time series (a CV from PLUMED, an
optical-tweezers trace).

Choosing the states
-------------------
``method="uniform"`` cuts the range of the data (or ``range=(lo, hi)``) into
``n_states`` bins of equal width; ``"quantile"`` makes bins of equal population;
``"kmeans"`` clusters the values (1-D k-means, states ordered by increasing
centre); ``"centers"`` assigns each frame to the nearest of given centres, in
the order given.  The paper's four-state model uses the last one::

   import numpy as np
   from mdlstm import Discretizer

   x = np.loadtxt("colvar.dat", usecols=1)          # CV, one value per frame
   disc = Discretizer(method="centers", centers=[2.0, 0.5, -0.5, -2.0],
                      smooth=50, min_dwell=100)
   dtraj = disc.fit_transform(x)                    # int array, len(x) states
   disc.inverse_transform([0, 3])                   # array([ 2., -2.])

A periodic CV (a dihedral in radians) takes ``periodic=2 * np.pi``: values are
wrapped onto the circle, so -pi and pi land in the same state, and uniform bins
always cover the whole period :math:`[-P/2, P/2)` (edges at
:math:`-P/2 + kP/n`) whatever the range the data explore::

   phi_disc = Discretizer(n_states=20, periodic=2 * np.pi).fit(phi)

A value outside the fitted range (an excursion that the fitting data never
reached, or a generated value) goes to the nearest edge state; it is never an
error.

Preprocessing
-------------
``transform`` can clean the state sequence, always one state per input frame so
that ``dtraj[i]`` stays frame ``i``.  The steps run in this order:

1. ``smooth=W``: centred running mean of the CV over ``W`` frames (circular mean
   for a periodic CV).  The paper uses ``numpy.convolve(..., mode="valid")``,
   which drops ``W - 1`` frames; here the frames near the ends average the part
   of the window that exists instead.  ``fit`` sees the smoothed CV too.
2. Assignment of each frame to its state (the cells described above).
3. ``core=f``: core-set (milestoning) assignment.  The core of a state is the
   central fraction ``f`` of its cell; a frame outside every core keeps the
   last core visited, and frames before the first core visit keep their own
   cell's state.
4. ``min_dwell=T``: the paper's removal of short visits (see
   :func:`remove_short_visits`).  It erases recrossings and brief visits but
   can create jumps between states that are not neighbours along the CV.

Several trajectories
--------------------
Every method accepts a list of 1-D arrays (independent trajectories) as well as
one array and answers in the same shape.  ``fit`` pools their values; smoothing,
core assignment and short-visit removal never reach across the boundary
between two trajectories.

Saving
------
:meth:`Discretizer.to_dict` gives a JSON-serialisable description of a fitted
discretizer and :meth:`Discretizer.from_dict` rebuilds it exactly (floats
survive a JSON round trip bit for bit), so saved models can carry their state
definition without pickle.

Classes and functions
---------------------
.. autoclass:: Discretizer
   :members:
.. autofunction:: running_mean
.. autofunction:: remove_short_visits

"""
import numbers

import numpy as np

from ._checks import check_states, integer_at_least, positive_float, positive_int
from ._params import Parameters

__all__ = ["Discretizer", "running_mean", "remove_short_visits"]

METHODS = ("uniform", "quantile", "kmeans", "centers")

# Fixed so that a given seed always means the same clustering.
_KMEANS_N_INIT = 10
_DICT_TYPE = "mdlstm.Discretizer"
_DICT_VERSION = 1


# --------------------------------------------------------------------------
# input parsing
# --------------------------------------------------------------------------
def _is_trajectory_list(values):
    """True when ``values`` is a list/tuple holding arrays (several trajectories)."""
    return isinstance(values, (list, tuple)) and any(np.ndim(v) >= 1 for v in values)


def _as_cv_array(values, name):
    """Return one trajectory of CV values as a finite 1-D float array."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 1-D array of numbers (one CV value per "
                        f"frame), got {type(values).__name__}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape "
                         f"{arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: at least one frame is needed")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} contains a non-finite value ({arr[bad[0]]}) at "
                         f"index {bad[0]}")
    return arr


def _as_trajectories(values, name="values"):
    """Split CV input into a list of 1-D float arrays.

    Returns
    -------
    trajs : list of numpy.ndarray
    is_list : bool
        Whether the input was a list of trajectories (answer with a list).
    """
    if _is_trajectory_list(values):
        return [_as_cv_array(v, f"{name}[{i}]") for i, v in enumerate(values)], True
    return [_as_cv_array(values, name)], False


def _is_integer(value):
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
    x = _as_cv_array(x, "x")
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


def _keep_last_core(labels, in_core):
    """Core-set assignment: outside every core, keep the last core visited."""
    last = np.where(in_core, np.arange(labels.size), -1)
    np.maximum.accumulate(last, out=last)
    # Before the first core visit there is no core to remember: keep the cell.
    return np.where(last >= 0, labels[last], labels)


def _wrap(x, lo, period):
    """Map ``x`` into the period window ``[lo, lo + period)``."""
    return lo + np.mod(x - lo, period)


def _wrap_upper(x, period):
    """Map ``x`` into ``(-period / 2, period / 2]`` (the convention of dihedrals)."""
    half = 0.5 * period
    return half - np.mod(half - x, period)


# --------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------
class Discretizer(Parameters):
    r"""Map CV values to integer states, 0 to ``n_states - 1``, and back.

    Parameters are stored as given (scikit-learn style); they are checked when
    the object is built and again by :meth:`fit`.

    Parameters
    ----------
    n_states : int, optional
        Number of states, at least 2.  Required except for
        ``method="centers"``, where it defaults to ``len(centers)`` and must
        equal it if given.
    method : {"uniform", "quantile", "kmeans", "centers"}
        ``"uniform"``: equal-width bins over the data range or `range`.
        ``"quantile"``: bins with equal populations (not for periodic CVs).
        ``"kmeans"``: 1-D k-means (scikit-learn, `seed`, ``n_init=10``; about
        10 s for 1e6 frames and 20 states on one core),
        states ordered by increasing centre, each frame to the nearest centre.
        ``"centers"``: nearest of `centers`; state ``i`` is ``centers[i]``.
    range : (float, float), optional
        ``(lo, hi)`` with ``lo < hi`` in CV units, for ``"uniform"`` only.  For a
        periodic CV it must span exactly one period and sets the phase of the
        bins (default ``(-periodic / 2, periodic / 2)``).
    centers : sequence of float, optional
        Centres for ``method="centers"``, CV units, unique and sorted
        (ascending or descending); for a periodic CV within one period.
    periodic : float, optional
        Period of a periodic CV in CV units (``2 * numpy.pi`` for an angle in
        radians); ``None`` for a non-periodic CV.
    smooth : int, optional
        Running-mean window in frames (see the module documentation).
    min_dwell : int, optional
        Visits of at most this many frames are erased
        (:func:`remove_short_visits`).
    core : float, optional
        Core fraction ``0 < core <= 1`` for core-set assignment.  The core of a
        state is its cell shrunk around the state's centre: bins around their
        middle, nearest-centre cells to ``core`` times the half distance to
        each neighbouring centre.  The outer side of the two edge states of a
        non-periodic CV is unbounded, like their cells.
    seed : int, optional
        Random seed of the k-means initialisation.

    Attributes
    ----------
    n_states_ : int
        Number of states.
    centers_ : numpy.ndarray
        ``(n_states_,)`` representative CV value of each state: the middle of
        each bin, or the cluster/given centre.  For a periodic CV it lies in the
        period window, ``(-periodic / 2, periodic / 2]`` by default.
    edges_ : numpy.ndarray or None
        ``(n_states_ + 1,)`` bin edges for ``"uniform"`` and ``"quantile"``
        (state ``k`` is ``edges_[k] <= x < edges_[k + 1]``), ``None`` for the
        nearest-centre methods.

    Notes
    -----
    Values below the first or above the last cell go to the edge state;
    :meth:`transform` never fails on an out-of-range value.  Calling
    :meth:`transform` before :meth:`fit` raises
    :class:`sklearn.exceptions.NotFittedError` (a :class:`ValueError`).

    Examples
    --------
    >>> import numpy as np
    >>> disc = Discretizer(n_states=4, range=(0.0, 4.0)).fit([0.0, 4.0])
    >>> disc.transform(np.array([-1.0, 0.5, 1.5, 3.99, 7.0]))
    array([0, 0, 1, 3, 3])
    >>> disc.inverse_transform([0, 3])
    array([0.5, 3.5])
    """

    def __init__(self, n_states=None, method="uniform", range=None, centers=None,
                 periodic=None, smooth=None, min_dwell=None, core=None, seed=None):
        self.n_states = n_states
        self.method = method
        self.range = range
        self.centers = centers
        self.periodic = periodic
        self.smooth = smooth
        self.min_dwell = min_dwell
        self.core = core
        self.seed = seed
        self._check_params()

    # ------------------------------------------------------------------ checks
    def _period(self):
        return None if self.periodic is None else float(self.periodic)

    def _check_params(self):
        """Validate every parameter; cheap, runs before any data is touched."""
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, "
                             f"got {self.method!r}")
        if self.periodic is not None:
            positive_float(self.periodic, "periodic")
        n_centers = self._check_centers()
        if self.n_states is None:
            if self.method != "centers":
                raise ValueError(f"n_states is required for method {self.method!r}")
        else:
            integer_at_least(self.n_states, "n_states", 2)
            if n_centers is not None and self.n_states != n_centers:
                raise ValueError(f"n_states ({self.n_states}) must equal len(centers) "
                                 f"({n_centers}) for method 'centers'")
        self._check_range()
        if self.method == "quantile" and self.periodic is not None:
            raise ValueError("method 'quantile' does not support a periodic CV "
                             "(periodic must be None); use 'uniform' or 'kmeans'")
        if self.smooth is not None:
            positive_int(self.smooth, "smooth")
        if self.min_dwell is not None:
            positive_int(self.min_dwell, "min_dwell")
        if self.core is not None and positive_float(self.core, "core") > 1:
            raise ValueError(f"core must be in (0, 1], got {self.core}")
        if self.seed is not None and (not _is_integer(self.seed) or self.seed < 0):
            raise TypeError(f"seed must be a non-negative integer or None, got {self.seed!r}")

    def _check_centers(self):
        """Validate `centers`; return their number (None when not used)."""
        if self.method != "centers":
            if self.centers is not None:
                raise ValueError(f"centers is only used by method 'centers', got "
                                 f"method {self.method!r}")
            return None
        if self.centers is None:
            raise ValueError("centers is required for method 'centers' (the CV value "
                             "of each state, e.g. [2.0, 0.5, -0.5, -2.0])")
        centers = _as_cv_array(self.centers, "centers")
        if centers.size < 2:
            raise ValueError(f"centers must hold at least 2 values, got {centers.size}")
        steps = np.diff(centers)
        if np.unique(centers).size < centers.size:
            raise ValueError(f"centers must be unique, got {centers.tolist()}")
        if not (np.all(steps > 0) or np.all(steps < 0)):
            raise ValueError("centers must be sorted (ascending or descending), got "
                             f"{centers.tolist()}")
        period = self._period()
        if period is not None and np.ptp(centers) >= period:
            raise ValueError(f"centers must lie within one period (periodic={period}), "
                             f"they span {np.ptp(centers)}")
        return centers.size

    def _check_range(self):
        if self.range is None:
            return
        if self.method != "uniform":
            raise ValueError(f"range is only used by method 'uniform', got method "
                             f"{self.method!r}")
        bounds = _as_cv_array(self.range, "range")
        if bounds.size != 2 or not bounds[0] < bounds[1]:
            raise ValueError(f"range must be (lo, hi) with lo < hi, got {self.range!r}")
        period = self._period()
        if period is not None and not np.isclose(bounds[1] - bounds[0], period,
                                                 rtol=1e-9, atol=0.0):
            raise ValueError(f"range must span exactly one period (periodic={period}) "
                             f"for a periodic CV, got {self.range!r}; leave it None "
                             "for (-periodic/2, periodic/2)")

    def _check_fitted(self):
        if not hasattr(self, "n_states_"):
            from sklearn.exceptions import NotFittedError
            raise NotFittedError("this Discretizer is not fitted yet: call fit(values) "
                                 "first")

    # ----------------------------------------------------------------- fitting
    def _smoothed(self, trajs, period):
        if self.smooth is None:
            return trajs
        return [running_mean(x, int(self.smooth), period) for x in trajs]

    def fit(self, values):
        """Fit the states to CV values.

        Parameters
        ----------
        values : array_like or list of array_like
            1-D CV values (CV units), or a list of them for several
            trajectories.  With `smooth`, the states are fitted to the smoothed
            values.

        Returns
        -------
        Discretizer
            self, fitted.
        """
        self._check_params()
        trajs, _ = _as_trajectories(values)
        self._fit_smoothed(self._smoothed(trajs, self._period()))
        return self

    def _fit_smoothed(self, trajs):
        data = np.concatenate(trajs)
        fitters = {"uniform": self._fit_uniform, "quantile": self._fit_quantile,
                   "kmeans": self._fit_kmeans, "centers": self._fit_centers}
        centers, edges = fitters[self.method](data)
        self.n_states_ = int(centers.size)
        self.centers_ = centers
        self.edges_ = edges
        self._build_cells()

    def _fit_uniform(self, data):
        n = int(self.n_states)
        period = self._period()
        if period is not None:
            lo = -0.5 * period if self.range is None else float(self.range[0])
            edges = lo + period * np.arange(n + 1) / n
        elif self.range is not None:
            edges = np.linspace(float(self.range[0]), float(self.range[1]), n + 1)
        else:
            lo, hi = data.min(), data.max()
            if lo == hi:
                raise ValueError(f"CV is constant (every value is {lo}): uniform bins "
                                 "need a spread of values or range=(lo, hi)")
            edges = np.linspace(lo, hi, n + 1)
        return 0.5 * (edges[:-1] + edges[1:]), edges

    def _fit_quantile(self, data):
        n = int(self.n_states)
        edges = np.quantile(data, np.linspace(0.0, 1.0, n + 1))
        if np.any(np.diff(edges) <= 0):
            raise ValueError(f"values have too few distinct values for n_states={n} "
                             "quantile bins (repeated edges); lower n_states or use "
                             "method 'uniform'")
        return 0.5 * (edges[:-1] + edges[1:]), edges

    def _fit_kmeans(self, data):
        from sklearn.cluster import KMeans

        n = int(self.n_states)
        period = self._period()
        distinct = np.unique(data if period is None else _wrap_upper(data, period)).size
        if n > distinct:
            raise ValueError(f"n_states ({n}) exceeds the number of distinct values "
                             f"({distinct}) for method 'kmeans'")
        if period is None:
            features = data[:, None]
        else:
            # Cluster on the unit circle so that -P/2 and P/2 are neighbours.
            angle = data * (2.0 * np.pi / period)
            features = np.column_stack([np.cos(angle), np.sin(angle)])
        kmeans = KMeans(n_clusters=n, n_init=_KMEANS_N_INIT, random_state=self.seed)
        found = kmeans.fit(features).cluster_centers_
        if period is None:
            return np.sort(found[:, 0]), None
        centers = np.arctan2(found[:, 1], found[:, 0]) * (period / (2.0 * np.pi))
        return np.sort(_wrap_upper(centers, period)), None

    def _fit_centers(self, data):
        centers = np.asarray(self.centers, dtype=float)
        period = self._period()
        return (centers if period is None else _wrap_upper(centers, period)), None

    def _build_cells(self):
        """Cells sorted along the CV: boundaries, middles, state of each.

        In the (wrapped) CV coordinate every state owns one interval
        ``[bounds[j], bounds[j + 1])``; the outer bounds are infinite for a
        non-periodic CV (out-of-range values join the edge states) and one
        period apart for a periodic one.
        """
        period = self._period()
        if self.edges_ is not None:
            bounds = np.array(self.edges_, dtype=float)
            anchors = 0.5 * (bounds[:-1] + bounds[1:])
            order = np.arange(self.n_states_)
        else:
            order = np.argsort(self.centers_)
            anchors = self.centers_[order]
            inner = 0.5 * (anchors[:-1] + anchors[1:])
            # For a periodic CV the cell of the last centre wraps round to the
            # first: its far boundary is halfway between them across the period.
            top = np.inf if period is None else 0.5 * (anchors[-1] + anchors[0] + period)
            bottom = -np.inf if period is None else top - period
            bounds = np.concatenate(([bottom], inner, [top]))
        if period is None:
            bounds[[0, -1]] = -np.inf, np.inf
        self._period_fitted = period
        self._bounds = bounds
        self._anchors = anchors
        self._cell_state = order

    # -------------------------------------------------------------- transform
    def _assign(self, x):
        """States of one (already smoothed) trajectory, after core and min_dwell."""
        if self._period_fitted is not None:
            x = _wrap(x, self._bounds[0], self._period_fitted)
        cell = np.searchsorted(self._bounds[1:-1], x, side="right")
        labels = self._cell_state[cell]
        if self.core is not None:
            fraction = float(self.core)
            anchors, bounds = self._anchors, self._bounds
            core_lo = anchors - fraction * (anchors - bounds[:-1])
            core_hi = anchors + fraction * (bounds[1:] - anchors)
            labels = _keep_last_core(labels, (core_lo[cell] <= x) & (x <= core_hi[cell]))
        if self.min_dwell is not None:
            labels = remove_short_visits(labels, int(self.min_dwell))
        return labels.astype(np.int64, copy=False)

    def transform(self, values):
        """Assign states to CV values.

        Parameters
        ----------
        values : array_like or list of array_like
            1-D CV values (CV units), or a list of them.

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            int64 states, one per input frame; a list if the input was a list.
        """
        self._check_fitted()
        self._check_params()
        trajs, is_list = _as_trajectories(values)
        dtrajs = [self._assign(x) for x in self._smoothed(trajs, self._period_fitted)]
        return dtrajs if is_list else dtrajs[0]

    def fit_transform(self, values):
        """Fit to `values` and return their states (smooths only once).

        Parameters
        ----------
        values : array_like or list of array_like
            1-D CV values (CV units), or a list of them.

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            As :meth:`transform`.
        """
        self._check_params()
        trajs, is_list = _as_trajectories(values)
        smoothed = self._smoothed(trajs, self._period())
        self._fit_smoothed(smoothed)
        dtrajs = [self._assign(x) for x in smoothed]
        return dtrajs if is_list else dtrajs[0]

    def inverse_transform(self, states):
        """Representative CV value of each state.

        Parameters
        ----------
        states : array_like of int or list of them
            States in ``[0, n_states_)``, any shape (e.g. generated
            ``(n_trajectories, n_steps)``).

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            ``centers_[states]`` (CV units), float, same shape; a list if the
            input was a list of arrays.
        """
        self._check_fitted()
        if _is_trajectory_list(states):
            return [self._values_of(s, f"states[{i}]") for i, s in enumerate(states)]
        return self._values_of(states, "states")

    def states_between(self, low, high):
        """The states whose centre lies strictly between `low` and `high` (CV units).

        For metastable sets drawn as cores of basins, e.g.
        ``disc.states_between(-np.pi, -np.pi / 6)``. The bounds are compared
        with :attr:`centers_` as they are (no wrapping over a period).

        Returns
        -------
        numpy.ndarray of int
            The states, increasing.
        """
        self._check_fitted()
        low, high = float(low), float(high)
        if not low < high:
            raise ValueError(f"low must be below high, got low={low:g}, high={high:g}")
        return np.flatnonzero((self.centers_ > low) & (self.centers_ < high))

    def _values_of(self, states, name):
        arr = np.asarray(states)
        check_states(arr, self.n_states_, name)
        return self.centers_[arr]

    # ---------------------------------------------------------- serialisation
    def to_dict(self):
        """JSON-serialisable description of the fitted discretizer.

        Returns
        -------
        dict
            ``type``, ``version``, ``params`` (the constructor arguments) and
            the fitted ``n_states_``, ``centers_``, ``edges_``.
        """
        self._check_fitted()

        def plain(value):
            if value is None or isinstance(value, str):
                return value
            if np.ndim(value):
                return np.asarray(value, dtype=float).tolist()
            return int(value) if _is_integer(value) else float(value)

        params = {name: plain(value) for name, value in self.get_params().items()}
        return {"type": _DICT_TYPE, "version": _DICT_VERSION, "params": params,
                "n_states_": self.n_states_, "centers_": self.centers_.tolist(),
                "edges_": None if self.edges_ is None else self.edges_.tolist()}

    @classmethod
    def from_dict(cls, d):
        """Rebuild a fitted discretizer from :meth:`to_dict` output.

        Parameters
        ----------
        d : dict
            As returned by :meth:`to_dict` (possibly after a JSON round trip).

        Returns
        -------
        Discretizer
            Fitted; its :meth:`transform` equals the original's.
        """
        if not isinstance(d, dict) or d.get("type") != _DICT_TYPE:
            raise ValueError(f"d must be a dict made by Discretizer.to_dict (type "
                             f"{_DICT_TYPE!r})")
        if d.get("version") != _DICT_VERSION:
            raise ValueError(f"d has version {d.get('version')!r}; this mdlstm reads "
                             f"version {_DICT_VERSION}")
        try:
            params, n_states = d["params"], int(d["n_states_"])
            centers, edges = d["centers_"], d["edges_"]
        except KeyError as err:
            raise ValueError(f"d lacks the key {err.args[0]!r}") from None
        disc = cls(**params)
        disc.n_states_ = n_states
        disc.centers_ = _as_cv_array(centers, "d['centers_']")
        disc.edges_ = None if edges is None else _as_cv_array(edges, "d['edges_']")
        if disc.centers_.size != n_states or (
                disc.edges_ is not None and disc.edges_.size != n_states + 1):
            raise ValueError(f"d is inconsistent: {n_states} states but "
                             f"{disc.centers_.size} centres")
        disc._build_cells()
        return disc
