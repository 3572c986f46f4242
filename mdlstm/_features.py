"""States from several CVs at once: the feature space of an n-D :class:`~mdlstm.Discretizer`.

The standard MSM workflow (PyEMMA, deeptime): features -> optional TICA ->
clustering -> states. Here a frame's features are its CV values, one column
per CV. Before clustering they are mapped to a space where Euclidean distance
means what it should:

1. **Periodic columns** become two columns, ``cos`` and ``sin`` of the angle
   ``2 pi x / period``, so that values near ``+period/2`` and ``-period/2``
   are neighbours.
2. **Standardisation** (the default): every column of that embedding is
   shifted to mean zero and scaled to unit variance over the fitting data,
   so that a CV in Angstrom does not outweigh one in radians. The two
   columns of a periodic CV share one scale, which keeps the circle round.
3. **TICA** (optional, ``tica_lag``): deeptime's
   :class:`~deeptime.decomposition.TICA` projects onto the ``tica_dim``
   slowest linear combinations (kinetic-map scaling).

Clustering is deeptime's (:class:`~deeptime.clustering.KMeans`,
:class:`~deeptime.clustering.RegularSpace`); the grid is per-column bins.
Every step is an affine map fixed at fit time and stored as plain arrays, so
a fitted space is saved with the model as JSON and rebuilt exactly.
"""
import numpy as np

#: Independent k-means initialisations (seeds ``seed, seed + 1, ...``); the
#: lowest inertia wins, as scikit-learn's ``n_init``.
KMEANS_N_INIT = 5

#: k-means is fitted to at most this many frames, evenly spaced through the data;
#: every frame is then assigned to its nearest centre. Each Lloyd iteration costs
#: ``frames x states x features``: one start on all of 1e6 frames x 10 features
#: into 100 states took 122 s on one core, while the centres of 50,000 evenly
#: spaced frames leave the mean squared distance of all 1e6 frames 0.3 % above
#: those of 100,000 (``benchmarks/clustering.py``; PyEMMA's ``stride`` does the same).
KMEANS_MAX_FIT_FRAMES = 50_000

#: Relative change of the k-means inertia that ends the iterations (deeptime's
#: default is 1e-5): on the case above 1e-4 halves the iterations and moves the
#: inertia by 0.03 %.
KMEANS_TOLERANCE = 1e-4


def embed(x, periods):
    """Features of frames `x` ``(n, n_cv)``: periodic columns as (cos, sin) pairs."""
    columns = []
    for j, period in enumerate(periods):
        if period is None:
            columns.append(x[:, j])
        else:
            angle = x[:, j] * (2.0 * np.pi / period)
            columns += [np.cos(angle), np.sin(angle)]
    return np.column_stack(columns)


def _groups(periods):
    """Embedded columns of each CV (one, or two for a periodic CV)."""
    groups, start = [], 0
    for period in periods:
        width = 1 if period is None else 2
        groups.append(slice(start, start + width))
        start += width
    return groups


class FeatureSpace:
    """The affine map from CV values to the space that is clustered.

    ``y = embed(x) @ matrix + offset``; built by :meth:`fit`, rebuilt from
    :meth:`to_dict`.
    """

    def __init__(self, periods, matrix, offset):
        self.periods = list(periods)
        self.matrix = np.asarray(matrix, dtype=float)
        self.offset = np.asarray(offset, dtype=float)

    @classmethod
    def fit(cls, trajs, periods, standardize, tica_lag, tica_dim):
        """Fit standardisation and TICA to the trajectories `trajs` (list of (n, n_cv))."""
        embedded = [embed(x, periods) for x in trajs]
        pooled = np.concatenate(embedded)
        width = pooled.shape[1]
        mean = pooled.mean(axis=0) if standardize else np.zeros(width)
        scale = np.ones(width)
        if standardize:
            for group in _groups(periods):
                spread = np.sqrt(pooled[:, group].var(axis=0).sum() / (group.stop - group.start))
                scale[group] = spread if spread > 0 else 1.0
        matrix, offset = np.diag(1.0 / scale), -mean / scale
        if tica_lag is not None:
            from deeptime.decomposition import TICA

            scaled = [e @ matrix + offset for e in embedded]
            model = TICA(lagtime=int(tica_lag), dim=tica_dim).fit(scaled).fetch_model()
            # TICA's transform is affine; read it off at the origin and the unit vectors.
            probe = model.transform(np.vstack([np.zeros(width), np.eye(width)]))
            tica_matrix, tica_offset = probe[1:] - probe[0], probe[0]
            matrix, offset = matrix @ tica_matrix, offset @ tica_matrix + tica_offset
        return cls(periods, matrix, offset)

    def __call__(self, x):
        """Clustering coordinates of frames `x` ``(n, n_cv)``."""
        return embed(x, self.periods) @ self.matrix + self.offset

    def to_dict(self):
        return {"periods": self.periods, "matrix": self.matrix.tolist(),
                "offset": self.offset.tolist()}

    @classmethod
    def from_dict(cls, d):
        return cls(d["periods"], d["matrix"], d["offset"])


def kmeans_centers(y, n_states, seed):
    """k-means centres of points `y` in clustering space: deeptime, best of several starts."""
    from deeptime.clustering import KMeans

    best = None
    for k in range(KMEANS_N_INIT):
        fixed_seed = False if seed is None else int(seed) + k
        model = KMeans(n_states, fixed_seed=fixed_seed, n_jobs=1,
                       tolerance=KMEANS_TOLERANCE).fit(y).fetch_model()
        if best is None or model.inertia < best.inertia:
            best = model
    return best.cluster_centers


def regspace_centers(y, dmin, max_centers):
    """Regular-space centres (deeptime): no two closer than `dmin` in clustering space."""
    from deeptime.clustering import RegularSpace

    return RegularSpace(dmin=float(dmin), max_centers=max_centers,
                        n_jobs=1).fit(y).fetch_model().cluster_centers


def nearest(y, centers):
    """Index of the nearest centre (Euclidean) of every point `y`."""
    from deeptime.clustering import ClusterModel

    return ClusterModel(np.asarray(centers, dtype=float)).transform(y).astype(np.int64)


def grid_edges(x, bins, periods):
    """Per-column bin edges: a periodic column's bins cover its whole period."""
    edges = []
    for j, (n, period) in enumerate(zip(bins, periods)):
        if period is not None:
            edges.append(-0.5 * period + period * np.arange(n + 1) / n)
            continue
        lo, hi = x[:, j].min(), x[:, j].max()
        if lo == hi:
            raise ValueError(f"column {j} is constant (every value is {lo}): grid bins "
                             "need a spread of values")
        edges.append(np.linspace(lo, hi, n + 1))
    return edges


def grid_states(x, edges, periods):
    """Flat grid state (row-major, last column fastest) of every frame."""
    index = np.zeros(len(x), dtype=np.int64)
    for j, (e, period) in enumerate(zip(edges, periods)):
        values = x[:, j] if period is None else e[0] + np.mod(x[:, j] - e[0], period)
        cell = np.clip(np.searchsorted(e[1:-1], values, side="right"), 0, len(e) - 2)
        index = index * (len(e) - 1) + cell
    return index


def grid_centers(edges):
    """Middle of every grid cell, ``(prod(bins), n_cv)``, in state order."""
    middles = [0.5 * (e[:-1] + e[1:]) for e in edges]
    mesh = np.meshgrid(*middles, indexing="ij")
    return np.column_stack([m.ravel() for m in mesh])


def member_means(x, states, n_states, periods):
    """Mean CV values of each state's frames (circular mean for periodic columns).

    A state without frames gets a row of NaN.
    """
    centers = np.full((n_states, x.shape[1]), np.nan)
    counts = np.bincount(states, minlength=n_states)
    filled = counts > 0
    for j, period in enumerate(periods):
        if period is None:
            sums = np.bincount(states, weights=x[:, j], minlength=n_states)
            centers[filled, j] = sums[filled] / counts[filled]
            continue
        angle = x[:, j] * (2.0 * np.pi / period)
        s = np.bincount(states, weights=np.sin(angle), minlength=n_states)
        c = np.bincount(states, weights=np.cos(angle), minlength=n_states)
        centers[filled, j] = np.arctan2(s[filled], c[filled]) * (period / (2.0 * np.pi))
    return centers


def _check_tica(trajs, periods, tica_lag, tica_dim):
    longest = max(len(x) for x in trajs)
    if int(tica_lag) >= longest:
        raise ValueError(f"tica_lag ({tica_lag} frames) must be shorter than the longest "
                         f"trajectory ({longest} frames)")
    n_features = sum(1 if p is None else 2 for p in periods)
    if tica_dim is not None and int(tica_dim) > n_features:
        raise ValueError(f"tica_dim ({tica_dim}) exceeds the number of features "
                         f"({n_features}: {len(periods)} CV columns, a periodic one counting "
                         "twice, as cos and sin)")


def fit_states(trajs, periods, params):
    """Fit the states of several CV columns.

    Parameters
    ----------
    trajs : list of numpy.ndarray
        ``(n_frames, n_cv)`` CV values per trajectory (already smoothed).
    periods : list of (float or None)
        Period of each column.
    params : dict
        The :class:`~mdlstm.Discretizer` parameters (``get_params()``).

    Returns
    -------
    centers : numpy.ndarray
        ``(n_states, n_cv)``, CV units.
    edges : list of numpy.ndarray or None
        Per-column bin edges of a grid.
    space : FeatureSpace or None
        The clustering coordinates (None for a grid).
    clusters : numpy.ndarray or None
        Cluster centres in `space`, in state order.
    """
    data = np.concatenate(trajs)
    method, n_states = params["method"], params["n_states"]
    if method == "grid":
        n_cv = data.shape[1]
        bins = list(n_states) if np.ndim(n_states) else [int(n_states)] * n_cv
        if len(bins) != n_cv:
            raise ValueError(f"n_states gives bins for {len(bins)} columns, but the values "
                             f"have {n_cv} CV columns")
        edges = grid_edges(data, bins, periods)
        return grid_centers(edges), edges, None, None
    if params["tica_lag"] is not None:
        _check_tica(trajs, periods, params["tica_lag"], params["tica_dim"])
    space = FeatureSpace.fit(trajs, periods, bool(params["standardize"]), params["tica_lag"],
                             params["tica_dim"])
    y = space(data)
    if method == "kmeans":
        fit_points = y[::-(-len(y) // KMEANS_MAX_FIT_FRAMES)]
        distinct = np.unique(fit_points, axis=0).shape[0]
        if int(n_states) > distinct:
            raise ValueError(f"n_states ({n_states}) exceeds the number of distinct points "
                             f"({distinct}) for method 'kmeans'")
        found = kmeans_centers(fit_points, int(n_states), params["seed"])
    else:
        found = regspace_centers(y, params["dmin"], 1000 if n_states is None else int(n_states))
    members = nearest(y, found)
    centers = member_means(data, members, len(found), periods)
    empty = np.isnan(centers[:, 0])
    if empty.any():
        # A cluster centre no frame is nearest to: the CV values of its nearest frame.
        centers[empty] = data[nearest(found[empty], y)]
    # States in the order of their centres, first column first: a stable naming.
    order = np.lexsort(centers.T[::-1])
    return centers[order], None, space, found[order]
