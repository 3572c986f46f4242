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

Several CVs
-----------
Values of shape ``(n_frames, n_cv)`` hold one column per CV (phi and psi,
distances), as in the MSM workflow of PyEMMA and deeptime: features ->
optional TICA -> clustering -> states.  They take ``method="kmeans"``
(deeptime's k-means), ``"regspace"`` or ``"grid"``, and ``periodic`` gives one
period per column (``None`` for a non-periodic one)::

   disc = Discretizer(n_states=50, method="kmeans", periodic=[2 * np.pi, None], seed=0)
   dtraj = disc.fit_transform(np.column_stack([phi, distance]))
   disc.centers_.shape                              # (50, 2), CV units

Before clustering, a periodic column becomes (cos, sin) of its angle, so that
values near ``+period/2`` and ``-period/2`` are close; every feature is
standardised to unit variance (``standardize=True``, the default), so that a
CV in Angstrom does not outweigh one in radians; ``tica_lag`` (frames) and
``tica_dim`` project onto deeptime's TICA components.  A state's centre is
the mean of its frames in CV units (circular for a periodic column), or the
middle of its grid cell.

Several trajectories
--------------------
Every method accepts a list of arrays (independent trajectories) as well as
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
import numpy as np

from . import _features
from ._checks import check_states, integer_at_least, positive_float, positive_int
from ._params import Parameters
from ._preprocess import (as_cv_array, as_trajectories, is_integer, is_trajectory_list,
                          keep_last_core, remove_short_visits, running_mean)

__all__ = ["Discretizer", "running_mean", "remove_short_visits"]

METHODS = ("uniform", "quantile", "kmeans", "centers", "regspace", "grid")
#: The methods that take several CV columns (and 1-D data as one column).
ND_METHODS = ("kmeans", "regspace", "grid")

# Fixed so that a given seed always means the same clustering.
_KMEANS_N_INIT = 10
_DICT_TYPE = "mdlstm.Discretizer"
_DICT_VERSION = 1        # one CV; several CV columns write version 2


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
    method : {"uniform", "quantile", "kmeans", "centers", "regspace", "grid"}
        ``"uniform"``: equal-width bins over the data range or `range`.
        ``"quantile"``: bins with equal populations (not for periodic CVs).
        ``"kmeans"``: 1-D k-means (scikit-learn, `seed`, ``n_init=10``; about
        10 s for 1e6 frames and 20 states on one core),
        states ordered by increasing centre, each frame to the nearest centre.
        ``"centers"``: nearest of `centers`; state ``i`` is ``centers[i]``.
        For several CV columns (values of shape ``(n_frames, n_cv)``, see
        "Several CVs" above): ``"kmeans"``
        (deeptime :class:`~deeptime.clustering.KMeans`, best of 5 seeded
        starts, fitted to at most 50,000 frames evenly spaced through the
        data, every frame then to its nearest centre), ``"regspace"`` (deeptime
        :class:`~deeptime.clustering.RegularSpace`, centres at least `dmin`
        apart, at most `n_states` of them) and ``"grid"`` (per-column
        uniform bins, row-major states, the last column fastest).
    range : (float, float), optional
        ``(lo, hi)`` with ``lo < hi`` in CV units, for ``"uniform"`` only.  For a
        periodic CV it must span exactly one period and sets the phase of the
        bins (default ``(-periodic / 2, periodic / 2)``).
    centers : sequence of float, optional
        Centres for ``method="centers"``, CV units, unique and sorted
        (ascending or descending); for a periodic CV within one period.
    periodic : float or sequence of (float or None), optional
        Period of a periodic CV in CV units (``2 * numpy.pi`` for an angle in
        radians); ``None`` for a non-periodic CV. For several CV columns one
        entry per column, e.g. ``[2 * numpy.pi, None]``; a periodic column is
        clustered through its (cos, sin) embedding, so that values near
        ``+period/2`` and ``-period/2`` are neighbours.
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
    standardize : bool
        Several CV columns only: scale every feature (a periodic column's cos
        and sin together) to unit variance before clustering, so that no CV
        dominates by its units. Default True.
    tica_lag : int, optional
        Several CV columns only: project onto TICA components (deeptime
        :class:`~deeptime.decomposition.TICA`, kinetic map) at this lag, in
        frames of the data given to :meth:`fit` (times the frame spacing for
        a lag in ps), before clustering.
    tica_dim : int, optional
        TICA components kept (default: all); at most the number of features
        (a periodic column counts twice).
    dmin : float, optional
        Minimum distance between ``"regspace"`` centres, in the clustering
        coordinates (standardised units unless ``standardize=False``).

    Attributes
    ----------
    n_states_ : int
        Number of states.
    centers_ : numpy.ndarray
        ``(n_states_,)`` representative CV value of each state: the middle of
        each bin, or the cluster/given centre.  For a periodic CV it lies in the
        period window, ``(-periodic / 2, periodic / 2]`` by default.  For
        several CV columns ``(n_states_, n_cv)``: the grid cell's middle, or
        the mean of the frames in the state (circular mean for a periodic
        column; a cluster without frames keeps the frame nearest its centre).
    edges_ : numpy.ndarray, list of numpy.ndarray or None
        ``(n_states_ + 1,)`` bin edges for ``"uniform"`` and ``"quantile"``
        (state ``k`` is ``edges_[k] <= x < edges_[k + 1]``), one array per
        column for ``"grid"``, ``None`` for the nearest-centre methods.
    n_cv_ : int or None
        Number of CV columns fitted; ``None`` for one 1-D CV.

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
                 periodic=None, smooth=None, min_dwell=None, core=None, seed=None,
                 standardize=True, tica_lag=None, tica_dim=None, dmin=None):
        self.n_states = n_states
        self.method = method
        self.range = range
        self.centers = centers
        self.periodic = periodic
        self.smooth = smooth
        self.min_dwell = min_dwell
        self.core = core
        self.seed = seed
        self.standardize = standardize
        self.tica_lag = tica_lag
        self.tica_dim = tica_dim
        self.dmin = dmin
        self._check_params()

    # ------------------------------------------------------------------ checks
    def _period(self):
        if self.periodic is not None and np.ndim(self.periodic):
            raise ValueError(f"periodic holds one period per CV column "
                             f"({self.periodic!r}), but the values have one CV")
        return None if self.periodic is None else float(self.periodic)

    def _check_params(self):
        """Validate every parameter; cheap, runs before any data is touched."""
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, "
                             f"got {self.method!r}")
        if np.ndim(self.periodic):
            for j, period in enumerate(self.periodic):
                if period is not None:
                    positive_float(period, f"periodic[{j}]")
        elif self.periodic is not None:
            positive_float(self.periodic, "periodic")
        n_centers = self._check_centers()
        self._check_n_states(n_centers)
        self._check_range()
        self._check_nd_params()
        if self.method == "quantile" and self.periodic is not None:
            raise ValueError("method 'quantile' does not support a periodic CV "
                             "(periodic must be None); use 'uniform' or 'kmeans'")
        if self.smooth is not None:
            positive_int(self.smooth, "smooth")
        if self.min_dwell is not None:
            positive_int(self.min_dwell, "min_dwell")
        if self.core is not None and positive_float(self.core, "core") > 1:
            raise ValueError(f"core must be in (0, 1], got {self.core}")
        if self.seed is not None and (not is_integer(self.seed) or self.seed < 0):
            raise TypeError(f"seed must be a non-negative integer or None, got {self.seed!r}")

    def _check_n_states(self, n_centers):
        if self.method == "grid" and np.ndim(self.n_states):
            for j, n in enumerate(self.n_states):
                integer_at_least(n, f"n_states[{j}]", 2)
            return
        if self.n_states is None:
            if self.method not in ("centers", "regspace"):
                raise ValueError(f"n_states is required for method {self.method!r}")
        else:
            integer_at_least(self.n_states, "n_states", 2)
            if n_centers is not None and self.n_states != n_centers:
                raise ValueError(f"n_states ({self.n_states}) must equal len(centers) "
                                 f"({n_centers}) for method 'centers'")

    def _check_nd_params(self):
        if not isinstance(self.standardize, (bool, np.bool_)):
            raise TypeError(f"standardize must be True or False, got {self.standardize!r}")
        if self.tica_lag is not None:
            positive_int(self.tica_lag, "tica_lag")
        if self.tica_dim is not None:
            if self.tica_lag is None:
                raise ValueError("tica_dim needs tica_lag (the TICA lag time, frames)")
            positive_int(self.tica_dim, "tica_dim")
        if self.tica_lag is not None and self.method not in ("kmeans", "regspace"):
            raise ValueError(f"tica_lag is used by methods 'kmeans' and 'regspace' on "
                             f"several CV columns, got method {self.method!r}")
        if self.method == "regspace":
            if self.dmin is None:
                raise ValueError("dmin is required for method 'regspace' (the minimum "
                                 "distance between centres, standardised units)")
            positive_float(self.dmin, "dmin")
        elif self.dmin is not None:
            raise ValueError(f"dmin is only used by method 'regspace', got method "
                             f"{self.method!r}")

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
        centers = as_cv_array(self.centers, "centers")
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
        bounds = as_cv_array(self.range, "range")
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
    def _prepared(self, values, fitted=False):
        """Trajectories as the states see them, smoothed, and the period(s).

        One CV: 1-D arrays and a period (or None). Several CV columns (2-D
        input, or a method that only works on columns): ``(n, n_cv)`` arrays
        and a list of periods. With `fitted`, the shape and periods are the
        fitted ones.
        """
        trajs, is_list = as_trajectories(values)
        if fitted:
            nd = self.n_cv_ is not None
        else:
            nd = trajs[0].ndim == 2 or self.method in ("regspace", "grid")
        if not nd:
            if trajs[0].ndim == 2:
                raise ValueError(f"values has {trajs[0].shape[1]} CV columns, but this "
                                 "Discretizer was fitted to one CV")
            period = self._period_fitted if fitted else self._period()
            if self.smooth is not None:
                trajs = [running_mean(x, int(self.smooth), period) for x in trajs]
            return trajs, period, is_list
        trajs = [x.reshape(-1, 1) if x.ndim == 1 else x for x in trajs]
        n_cv = trajs[0].shape[1]
        if fitted and n_cv != self.n_cv_:
            raise ValueError(f"values has {n_cv} CV columns, but this Discretizer was "
                             f"fitted to {self.n_cv_}")
        periods = self._periods_fitted if fitted else self._periods(n_cv)
        if self.smooth is not None:
            trajs = [np.column_stack([running_mean(x[:, j], int(self.smooth), period)
                                      for j, period in enumerate(periods)]) for x in trajs]
        return trajs, periods, is_list

    def _periods(self, n_cv):
        """One period (or None) per CV column."""
        if self.periodic is None:
            return [None] * n_cv
        if not np.ndim(self.periodic):
            if n_cv == 1:
                return [float(self.periodic)]
            raise ValueError(f"periodic must give one period per CV column ({n_cv} of "
                             f"them, None for a non-periodic one), got {self.periodic!r}")
        if len(self.periodic) != n_cv:
            raise ValueError(f"periodic has {len(self.periodic)} entries, but the values "
                             f"have {n_cv} CV columns")
        return [None if p is None else float(p) for p in self.periodic]

    def fit(self, values):
        """Fit the states to CV values.

        Parameters
        ----------
        values : array_like or list of array_like
            1-D CV values (CV units), or ``(n_frames, n_cv)`` for several CVs,
            or a list of them for several trajectories.  With `smooth`, the
            states are fitted to the smoothed values.

        Returns
        -------
        Discretizer
            self, fitted.
        """
        self._check_params()
        trajs, period, _ = self._prepared(values)
        self._fit_smoothed(trajs, period)
        return self

    def _fit_smoothed(self, trajs, period):
        if isinstance(period, list):
            self._fit_columns(trajs, period)
            return
        data = np.concatenate(trajs)
        fitters = {"uniform": self._fit_uniform, "quantile": self._fit_quantile,
                   "kmeans": self._fit_kmeans, "centers": self._fit_centers}
        centers, edges = fitters[self.method](data)
        self.n_states_ = int(centers.size)
        self.centers_ = centers
        self.edges_ = edges
        self.n_cv_ = None
        self._build_cells()

    def _fit_columns(self, trajs, periods):
        """States of several CV columns: a grid, or deeptime clusters in feature space."""
        n_cv = trajs[0].shape[1]
        if self.method not in ND_METHODS:
            raise ValueError(f"method {self.method!r} takes one CV; for {n_cv} CV columns "
                             f"use one of {', '.join(map(repr, ND_METHODS))}")
        if self.core is not None:
            raise ValueError("core is for one CV only; several CV columns take smooth "
                             "and min_dwell")
        fitted = _features.fit_states(trajs, periods, self.get_params())
        self.centers_, self.edges_, self._space, self._clusters = fitted
        self.n_states_, self.n_cv_, self._periods_fitted = len(self.centers_), n_cv, periods

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
        if self.n_cv_ is not None:
            return self._assign_columns(x)
        if self._period_fitted is not None:
            x = _wrap(x, self._bounds[0], self._period_fitted)
        cell = np.searchsorted(self._bounds[1:-1], x, side="right")
        labels = self._cell_state[cell]
        if self.core is not None:
            fraction = float(self.core)
            anchors, bounds = self._anchors, self._bounds
            core_lo = anchors - fraction * (anchors - bounds[:-1])
            core_hi = anchors + fraction * (bounds[1:] - anchors)
            labels = keep_last_core(labels, (core_lo[cell] <= x) & (x <= core_hi[cell]))
        if self.min_dwell is not None:
            labels = remove_short_visits(labels, int(self.min_dwell))
        return labels.astype(np.int64, copy=False)

    def _assign_columns(self, x):
        if self._space is None:
            labels = _features.grid_states(x, self.edges_, self._periods_fitted)
        else:
            labels = _features.nearest(self._space(x), self._clusters)
        if self.min_dwell is not None:
            labels = remove_short_visits(labels, int(self.min_dwell))
        return labels

    def transform(self, values):
        """Assign states to CV values.

        Parameters
        ----------
        values : array_like or list of array_like
            CV values (CV units) shaped as for :meth:`fit`, or a list of them.

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            int64 states, one per input frame; a list if the input was a list.
        """
        self._check_fitted()
        self._check_params()
        trajs, _, is_list = self._prepared(values, fitted=True)
        dtrajs = [self._assign(x) for x in trajs]
        return dtrajs if is_list else dtrajs[0]

    def fit_transform(self, values):
        """Fit to `values` and return their states (smooths only once).

        Parameters
        ----------
        values : array_like or list of array_like
            CV values (CV units) as for :meth:`fit`.

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            As :meth:`transform`.
        """
        self._check_params()
        smoothed, period, is_list = self._prepared(values)
        self._fit_smoothed(smoothed, period)
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
            ``centers_[states]`` (CV units), float, same shape (with a last
            axis of ``n_cv_`` for several CV columns); a list if the input was
            a list of arrays.
        """
        self._check_fitted()
        if is_trajectory_list(states):
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
        if self.n_cv_ is not None:
            raise ValueError(f"states_between is for one CV; this Discretizer has "
                             f"{self.n_cv_} CV columns")
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
            the fitted ``n_states_``, ``centers_``, ``edges_``; for several CV
            columns (version 2) also ``n_cv_``, ``periods_``, the feature
            space and the cluster centres in it.
        """
        self._check_fitted()

        def plain(value):
            if value is None or isinstance(value, (str, bool, np.bool_)):
                return value if not isinstance(value, np.bool_) else bool(value)
            if isinstance(value, (list, tuple, np.ndarray)):
                return [plain(v) for v in value]
            return int(value) if is_integer(value) else float(value)

        params = {name: plain(value) for name, value in self.get_params().items()}
        d = {"type": _DICT_TYPE, "version": _DICT_VERSION, "params": params,
             "n_states_": self.n_states_, "centers_": self.centers_.tolist(),
             "edges_": None if self.edges_ is None else plain(self.edges_)}
        if self.n_cv_ is not None:
            d.update(version=2, n_cv_=self.n_cv_, periods_=self._periods_fitted,
                     space=None if self._space is None else self._space.to_dict(),
                     clusters_=None if self._clusters is None else self._clusters.tolist())
        return d

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
        if d.get("version") not in (1, 2):
            raise ValueError(f"d has version {d.get('version')!r}; this mdlstm reads "
                             "versions 1 and 2")
        try:
            params = dict(d["params"])
            if isinstance(params.get("n_states"), list):    # grid bins: JSON has no tuple
                params["n_states"] = tuple(params["n_states"])
            disc = cls(**params)
            disc.n_states_ = int(d["n_states_"])
            if d["version"] == 2:
                disc._columns_from_dict(d)
            else:
                disc._one_cv_from_dict(d)
        except KeyError as err:
            raise ValueError(f"d lacks the key {err.args[0]!r}") from None
        return disc

    def _one_cv_from_dict(self, d):
        centers, edges = d["centers_"], d["edges_"]
        self.n_cv_ = None
        self.centers_ = as_cv_array(centers, "d['centers_']")
        self.edges_ = None if edges is None else as_cv_array(edges, "d['edges_']")
        if self.centers_.size != self.n_states_ or (
                self.edges_ is not None and self.edges_.size != self.n_states_ + 1):
            raise ValueError(f"d is inconsistent: {self.n_states_} states but "
                             f"{self.centers_.size} centres")
        self._build_cells()

    def _columns_from_dict(self, d):
        self.n_cv_ = int(d["n_cv_"])
        self._periods_fitted = [None if p is None else float(p) for p in d["periods_"]]
        self.centers_ = as_cv_array(d["centers_"], "d['centers_']", columns=True)
        if self.centers_.shape != (self.n_states_, self.n_cv_):
            raise ValueError(f"d is inconsistent: {self.n_states_} states of {self.n_cv_} "
                             f"CV columns but centres of shape {self.centers_.shape}")
        self.edges_ = (None if d["edges_"] is None
                       else [as_cv_array(e, f"d['edges_'][{j}]")
                             for j, e in enumerate(d["edges_"])])
        self._space = (None if d["space"] is None
                       else _features.FeatureSpace.from_dict(d["space"]))
        self._clusters = (None if d["clusters_"] is None
                          else as_cv_array(d["clusters_"], "d['clusters_']", columns=True))
