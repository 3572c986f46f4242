r"""Markov chains seen through one coordinate --- :mod:`mdlstm.systems.markov_chains`
==================================================================================

Benchmarks with exact answers.

A Markov chain on many microstates is Markovian; the same chain seen only
through a coarse observable is not. The LSTM's promise is to learn the memory
such a projection creates, so these systems come with the *exact* answer of
the projected dynamics, computed from the microstate chain by linear algebra,
against which the LSTM and a lag-1 Markov state model (MSM) of the projected
states can be judged.

:func:`projected_grid_chain`
    A particle hopping between neighbouring points of a 48 x 48 grid in a
    four-well potential, seen only through its x coordinate. The folded well F
    (x = -1.5) connects to an intermediate I1 (x = 0, y = 1); the unfolded
    well U (x = 1.5) to a second intermediate I2 (x = 0, y = -1); I1 and I2 lie
    at the same x and are joined by a slow crossing in y. Along x the two
    intermediates are one state, so a lag-1 MSM of x-bins lets a walker that
    came from F leave to U as easily as one that came from U: it makes the
    F <-> U passages about 4x too fast.
:func:`hidden_dwell_chain`
    Three observed states, the rarest (a few % of the time) made of four
    hidden sub-states with exit rates spread over two decades: heavy-tailed
    dwell times, as k-means states of protein MD often have.

:func:`sample` simulates any sparse chain (vectorised over walkers) and
:func:`exact_mfpt` gives the mean first passage time between two sets of
microstates in the sense :func:`mdlstm.validate.statistics` measures it on
trajectories.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._checks import positive_int, seed_value

__all__ = ["ProjectedChain", "projected_grid_chain", "hidden_dwell_chain", "sample",
           "stationary_distribution", "exact_mfpt"]


@dataclasses.dataclass(frozen=True)
class ProjectedChain:
    """A microstate chain and the observed state of each microstate.

    Attributes
    ----------
    name : str
    transition_matrix : scipy.sparse.csr_matrix, shape (n, n)
        Row-stochastic, one step per frame.
    observed : numpy.ndarray of int, shape (n,)
        Observed state of each microstate.
    stationary : numpy.ndarray, shape (n,)
    metastable_sets : list of list of int
        Sets of *observed* states between which MFPTs are judged.
    """

    name: str
    transition_matrix: sp.csr_matrix
    observed: np.ndarray
    stationary: np.ndarray
    metastable_sets: list

    @property
    def n_observed(self):
        return int(self.observed.max()) + 1

    def simulate(self, n_frames, n_walkers=1, seed=None):
        """Observed state sequences of walkers started from the stationary distribution.

        Returns
        -------
        list of numpy.ndarray of int
            ``n_walkers`` sequences of ``n_frames`` observed states.
        """
        rng = np.random.default_rng(seed_value(seed))
        starts = rng.choice(self.stationary.size, size=positive_int(n_walkers, "n_walkers"),
                            p=self.stationary)
        micro = sample(self.transition_matrix, positive_int(n_frames, "n_frames"), starts, rng)
        return list(self.observed[micro])

    def exact_mfpts(self, lag=1):
        """Exact MFPTs (frames) between the metastable sets, shape (n_sets, n_sets).

        Measured on trajectories seen every `lag` frames (:func:`exact_mfpt`).
        """
        sets = [np.flatnonzero(np.isin(self.observed, s)) for s in self.metastable_sets]
        n = len(sets)
        return np.array([[0.0 if a == b else
                          exact_mfpt(self.transition_matrix, self.stationary, sets[a], sets[b],
                                     lag)
                          for b in range(n)] for a in range(n)])

    def exact_populations(self):
        """Stationary population of every observed state."""
        return np.bincount(self.observed, weights=self.stationary, minlength=self.n_observed)


def projected_grid_chain(beta=9.0, n_grid=48, n_bins=20, jumps=8):
    """The grid walker of the module docstring, seen through ``n_bins`` bins of x.

    Parameters
    ----------
    beta : float
        Inverse temperature of the potential (reduced units).
    n_grid : int
        Grid points per axis on [-2.6, 2.6].
    n_bins : int
        Uniform bins of x (the observed states).
    jumps : int
        Moves of the nearest-neighbour chain per frame.

    Returns
    -------
    ProjectedChain
        Metastable sets: bins with centres below -0.9 (folded) and above
        0.9 (unfolded).
    """
    lim = 2.6
    axis = np.linspace(-lim, lim, n_grid)
    x, y = (g.ravel() for g in np.meshgrid(axis, axis, indexing="ij"))
    energy = 0.02 * (x ** 6 + y ** 6) / lim ** 4
    for cx, cy, depth in ((-1.5, 1.0, 1.0), (0.0, 1.0, 0.7), (0.0, -1.0, 0.7), (1.5, -1.0, 0.9)):
        energy = energy - depth * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 0.55 ** 2))
    i, j = np.meshgrid(np.arange(n_grid), np.arange(n_grid), indexing="ij")
    rows, cols = [], []   # from, to: the four neighbours inside the grid
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        inside = (i + di >= 0) & (i + di < n_grid) & (j + dj >= 0) & (j + dj < n_grid)
        rows.append((i * n_grid + j)[inside])
        cols.append(((i + di) * n_grid + j + dj)[inside])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    # rates exp(-beta dU / 2) obey detailed balance with exp(-beta U)
    rates = sp.csr_matrix((np.exp(-beta * (energy[cols] - energy[rows]) / 2), (rows, cols)),
                          shape=(x.size, x.size))
    out = np.asarray(rates.sum(axis=1)).ravel()
    step = sp.identity(x.size, format="csr") + (rates - sp.diags(out)) / (1.05 * out.max())
    matrix = sp.identity(x.size, format="csr")
    for _ in range(jumps):
        matrix = matrix @ step
    matrix = sp.csr_matrix(matrix)
    edges = np.linspace(-lim, lim, n_bins + 1)
    observed = np.clip(np.digitize(x, edges) - 1, 0, n_bins - 1)
    centres = (edges[:-1] + edges[1:]) / 2
    sets = [np.flatnonzero(centres < -0.9).tolist(), np.flatnonzero(centres > 0.9).tolist()]
    return ProjectedChain("projected grid chain", matrix, observed,
                          stationary_distribution(matrix), sets)


def hidden_dwell_chain():
    """The three-state chain with a heavy-tailed rare state of the module docstring.

    Returns
    -------
    ProjectedChain
        Eight microstates: A0, A1 (state 0), B0, B1 (state 1) and C0-C3
        (state 2); each observed state is a metastable set.
    """
    names = ["A0", "A1", "B0", "B1", "C0", "C1", "C2", "C3"]
    moves = {("A0", "A1"): 0.02, ("A1", "A0"): 0.05, ("A1", "B1"): 0.03,
             ("B1", "A1"): 0.05, ("B1", "B0"): 0.05, ("B0", "B1"): 0.03,
             ("A0", "C0"): 8e-4, ("B0", "C0"): 4e-4,
             ("C0", "A0"): 0.05, ("C0", "C1"): 0.02,
             ("C1", "A0"): 4e-3, ("C1", "C2"): 2e-3, ("C1", "C0"): 5e-3,
             ("C2", "B0"): 4e-4, ("C2", "C1"): 4e-4, ("C2", "C3"): 1e-4,
             ("C3", "C2"): 1e-3}
    matrix = np.zeros((len(names), len(names)))
    for (a, b), p in moves.items():
        matrix[names.index(a), names.index(b)] = p
    matrix[np.diag_indices(len(names))] = 1 - matrix.sum(axis=1)
    matrix = sp.csr_matrix(matrix)
    observed = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    return ProjectedChain("hidden dwell chain", matrix, observed,
                          stationary_distribution(matrix), [[0], [1], [2]])


def sample(matrix, n_steps, starts, rng):
    """Simulate a sparse row-stochastic chain: one row of states per walker.

    Parameters
    ----------
    matrix : scipy.sparse matrix, shape (n, n)
    n_steps : int
        States per walker, the start included.
    starts : array_like of int
        Start state of every walker.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray of int, shape (n_walkers, n_steps)
    """
    matrix = sp.csr_matrix(matrix)
    n = matrix.shape[0]
    # every row's cumulative probabilities, shifted into [row, row + 1]: one
    # searchsorted over all rows finds every walker's next state at once
    cumulative = np.concatenate([np.cumsum(matrix.data[a:b]) for a, b in
                                 zip(matrix.indptr[:-1], matrix.indptr[1:])])
    shifted = cumulative + np.repeat(np.arange(n), np.diff(matrix.indptr))
    state = np.array(starts, dtype=np.int64)
    out = np.empty((state.size, n_steps), dtype=np.int64)
    for t in range(n_steps):
        out[:, t] = state
        k = np.searchsorted(shifted, state + rng.random(state.size), side="right")
        state = matrix.indices[np.clip(k, matrix.indptr[state], matrix.indptr[state + 1] - 1)]
    return out


def stationary_distribution(matrix):
    """Stationary distribution of an irreducible row-stochastic matrix."""
    n = matrix.shape[0]
    # pi (P - I) = 0 with the normalisation replacing one equation
    system = (sp.csr_matrix(matrix).T - sp.identity(n)).tolil()
    system[0, :] = np.ones(n)
    rhs = np.zeros(n)
    rhs[0] = 1.0
    pi = spla.spsolve(system.tocsc(), rhs)
    return pi / pi.sum()


def exact_mfpt(matrix, stationary, a, b, lag=1):
    """MFPT from microstate set `a` to set `b`, as measured on trajectories.

    :func:`mdlstm.validate.statistics` times a passage from the first step
    in `a` after the last visit to `b` to the next step in `b`. In a long
    stationary run those passages start in state ``j`` of `a` in proportion
    to the probability flux into ``j`` from outside `a` along paths that
    last came from `b`, ``sum_i pi_i q_b(i) P_ij`` (``q_b``: the backward
    committor, the probability that the last visit to ``a or b`` was to
    `b`), and last the mean hitting time of `b` from ``j``. Requires a
    reversible chain, for which the backward committor equals the forward
    one.

    Seen every `lag` steps (trajectories subsampled, as an MSM at that lag
    sees them), a visit to `b` shorter than a lag can be missed, so passages
    are fewer and longer: the same measure on the chain of `lag` steps,
    ``matrix ** lag``, reversible too.

    Parameters
    ----------
    matrix : scipy.sparse matrix or numpy.ndarray, shape (n, n)
    stationary : numpy.ndarray, shape (n,)
    a, b : array_like of int
        Disjoint sets of microstates.
    lag : int
        Steps between two observations.

    Returns
    -------
    float
        Steps.
    """
    lag = positive_int(lag, "lag")
    if lag > 1:
        # dense: a few hundred steps of a local chain fill most of the matrix
        dense = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
        return lag * exact_mfpt(np.linalg.matrix_power(dense, lag), stationary, a, b)
    matrix = sp.csr_matrix(matrix)
    n = matrix.shape[0]
    a, b = np.asarray(a), np.asarray(b)
    committor = np.zeros(n)
    committor[b] = 1.0
    free = np.setdiff1d(np.arange(n), np.concatenate([a, b]))
    inner = sp.identity(free.size, format="csc") - matrix[free][:, free]
    committor[free] = spla.spsolve(inner.tocsc(), np.asarray(matrix[free][:, b].sum(axis=1))
                                   .ravel())
    outside = np.setdiff1d(np.arange(n), a)
    entry = matrix[outside][:, a].T @ (stationary * committor)[outside]
    hitting = np.zeros(n)
    not_b = np.setdiff1d(np.arange(n), b)
    hitting[not_b] = spla.spsolve(
        (sp.identity(not_b.size, format="csc") - matrix[not_b][:, not_b]).tocsc(),
        np.ones(not_b.size))
    return float(entry @ hitting[a] / entry.sum())
