"""Markov state models of state sequences (deeptime): estimation, MFPTs,
implied timescales, the Chapman-Kolmogorov test, PCCA+ sets and simulation."""

import warnings

import numpy as np
from deeptime.base import Observable
from deeptime.markov import TransitionCountEstimator
from deeptime.markov.msm import MarkovStateModel, MaximumLikelihoodMSM
from deeptime.util.validation import ck_test

from .._checks import positive_int


#: Largest number of implied timescales reported per lag time.
MAX_TIMESCALES = 5


def estimate_msm(dtrajs, lagtime=1, n_states=None):
    """Estimate a reversible maximum likelihood MSM with deeptime.

    Transitions are counted with a sliding window within each trajectory
    (never across two), and the MSM is estimated on the strongly connected
    set of states holding the most counts.

    Parameters
    ----------
    dtrajs : list of ndarray of int
        State sequences; validated by the caller.
    lagtime : int
        Lag time in steps.
    n_states : int, optional
        Size of the full state space, so that the count model knows states
        that never occur.

    Returns
    -------
    deeptime.markov.msm.MarkovStateModel
        ``msm.count_model.state_symbols`` maps its states back to the
        original state indices; ``msm.lagtime`` is ``lagtime``.
    """
    counts = TransitionCountEstimator(lagtime, "sliding", n_states=n_states).fit(dtrajs)
    # By population, not by size: unvisited states are singleton sets, and on
    # data without any transition they would tie with the one visited state.
    active = counts.fetch_model().submodel_largest(sort_by_population=True)
    return MaximumLikelihoodMSM(reversible=True).fit(active).fetch_model()


def embedding_similarity(embedding):
    """State-to-state similarity of the LSTM's embedding vectors.

    Parameters
    ----------
    embedding : array_like of float, shape (n_states, embedding_dim)
        The embedding matrix, one row per state (e.g. the weight of the
        model's embedding layer as a numpy array).

    Returns
    -------
    dict
        ``"cosine"``: (n_states, n_states) cosine similarity in [-1, 1]; a
        zero vector has similarity 0 with every state, itself included.
        ``"euclidean"``: (n_states, n_states) Euclidean distance, in the
        embedding's units.
    """
    try:
        vectors = np.asarray(embedding, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"embedding must be an array of numbers, got "
                        f"{type(embedding).__name__}") from None
    if vectors.ndim != 2 or vectors.size == 0 or not np.all(np.isfinite(vectors)):
        raise ValueError("embedding must be a non-empty finite 2-D array of shape "
                         f"(n_states, embedding_dim), got shape {vectors.shape}")
    norms = np.linalg.norm(vectors, axis=1)
    unit = vectors / np.where(norms > 0, norms, 1.0)[:, None]
    return {"cosine": np.clip(unit @ unit.T, -1.0, 1.0),
            "euclidean": np.linalg.norm(vectors[:, None, :] - vectors[None, :, :], axis=-1)}


def msm_flux(msm, n_states=None, net=False):
    """Probability flux between the states of an MSM, on the full state space.

    Parameters
    ----------
    msm : deeptime.markov.msm.MarkovStateModel
        E.g. ``cmp.msm["MD"]``.
    n_states : int, optional
        Size of the full state space; default the MSM's count model's (or its
        number of states when it has none).
    net : bool
        Return the net flux ``max(F_ij - F_ji, 0)`` instead of the gross flux
        ``F_ij``. A reversible MSM obeys detailed balance: its net flux is 0.

    Returns
    -------
    ndarray, shape (n_states, n_states)
        Gross flux ``F_ij = pi_i P_ij`` from state ``i`` to state ``j != i``,
        probability per lag time of the MSM; 0 on the diagonal and for states
        outside the MSM's connected set.
    """
    if not isinstance(msm, MarkovStateModel):
        raise TypeError(f"msm must be a deeptime MarkovStateModel, got {type(msm).__name__}")
    symbols = _state_symbols(msm)
    if n_states is None:
        n_states = int(symbols.max()) + 1 if msm.count_model is None \
            else msm.count_model.n_states_full
    n_states = positive_int(n_states, "n_states")
    if n_states <= symbols.max():
        raise ValueError(f"n_states must exceed the MSM's largest state {symbols.max()}, "
                         f"got {n_states}")
    matrix = msm.transition_matrix.toarray() if msm.sparse else msm.transition_matrix
    flux = msm.stationary_distribution[:, None] * matrix
    np.fill_diagonal(flux, 0.0)
    if net:
        flux = np.maximum(flux - flux.T, 0.0)
    full = np.zeros((n_states, n_states))
    full[np.ix_(symbols, symbols)] = flux
    return full


def _state_symbols(msm):
    """Original state of each MSM state (its own indices without a count model)."""
    if msm.count_model is None:
        return np.arange(msm.n_states)
    return msm.count_model.state_symbols


def _active_index(msm, n_states):
    """Map original states to the MSM's state indices (-1 outside its set)."""
    index = np.full(n_states, -1)
    symbols = msm.count_model.state_symbols
    index[symbols] = np.arange(len(symbols))
    return index


def _on_full_space(values, msm, n_states):
    """Expand per-active-state `values` to all states, 0 elsewhere."""
    full = np.zeros(n_states)
    full[msm.count_model.state_symbols] = values
    return full


def _msm_mfpt(msm, metastable_sets):
    """MSM-predicted MFPTs (steps) between the sets, inf if a set is not active."""
    index = _active_index(msm, msm.count_model.n_states_full)
    active = [index[s][index[s] >= 0] for s in metastable_sets]
    n_sets = len(active)
    mfpt = np.full((n_sets, n_sets), np.inf)
    for a in range(n_sets):
        for b in range(n_sets):
            if a == b:
                mfpt[a, b] = 0.0
            elif active[a].size and active[b].size:
                # deeptime multiplies by the lag time: the result is in steps.
                mfpt[a, b] = msm.mfpt(active[a], active[b])
    return mfpt


def _timescales(msm, k):
    """The k slowest implied timescales (steps) of `msm`, 0 beyond its processes."""
    out = np.zeros(k)
    n = min(k, msm.n_states - 1)
    if n > 0:
        # An eigenvalue of exactly 0 gives log(0): its timescale is 0, correctly.
        with np.errstate(divide="ignore"):
            out[:n] = msm.timescales(n)
    return out


def _slowest_timescale(msm):
    return _timescales(msm, 1)[0]


def _timescale_se(lagged, resample, msm, k):
    """Bootstrap standard error (steps) of the k slowest implied timescales of `msm`.

    Each replicate's counts at the MSM's lag, restricted to its connected
    set, give the symmetrised-count estimate ``T = D^-1 S`` (``S = C + C^T``,
    ``D`` its row sums), whose eigenvalues are those of the symmetric
    ``D^-1/2 S D^-1/2``: one batched ``eigvalsh`` for all replicates.
    """
    n_states = msm.count_model.n_states_full
    symbols = msm.count_model.state_symbols
    counts = (resample @ lagged).reshape(-1, n_states, n_states)[:, symbols][:, :, symbols]
    symmetric = counts + counts.transpose(0, 2, 1)
    rows = symmetric.sum(axis=2)
    # A state a replicate never visits decouples (eigenvalue 0, timescale 0).
    scale = 1 / np.sqrt(np.where(rows > 0, rows, np.inf))
    values = np.linalg.eigvalsh(symmetric * scale[:, :, None] * scale[:, None, :])
    values = -np.sort(-np.abs(values), axis=1)[:, 1:k + 1]
    # A second eigenvalue 1: the replicate's states fall apart, no finite timescale.
    with np.errstate(divide="ignore"):
        times = np.where(values < 1 - 1e-12, -msm.lagtime / np.log(values), np.inf)
    finite = np.isfinite(times).all(axis=0)
    se = np.zeros(k)
    se[:times.shape[1]] = np.where(finite, np.where(np.isfinite(times), times, 0.0)
                                   .std(axis=0, ddof=1), np.inf)
    return se


class _SetObservable(Observable):
    """Set-to-set probabilities of an MSM, for :func:`deeptime.util.validation.ck_test`.

    Starts in each set from the test MSM's stationary distribution within the
    set, restricted to the connected set of the MSM evaluated (MSMs at other
    lags may have other ones) and renormalised, propagates it ``mlag`` steps
    of that MSM and sums the probability in each set. A set without a state
    in that connected set gives a row of zeros.
    """

    def __init__(self, test_model, members):
        self.members = members
        stationary = _on_full_space(test_model.stationary_distribution, test_model,
                                    members.shape[0])
        self.start = stationary[:, None] * members

    def __call__(self, model, mlag=1, **kwargs):
        if model is None or mlag == 0:
            return np.eye(self.members.shape[1])
        symbols = model.count_model.state_symbols
        start = self.start[symbols]
        total = start.sum(axis=0)
        start = np.divide(start, total, out=np.zeros_like(start), where=total > 0)
        # ck_test passes lag / test lag as a float; only whole multiples are used.
        power = np.linalg.matrix_power(model.transition_matrix, int(round(mlag)))
        return start.T @ power @ self.members[symbols]


def _ck_test(msm, lag_models, members):
    """Chapman-Kolmogorov test of `msm` against the models at multiples of its lag."""
    longer = [model for lag, model in sorted(lag_models.items())
              if lag > msm.lagtime and lag % msm.lagtime == 0]
    test = ck_test([msm, *longer], _SetObservable(msm, members), test_model=msm)
    return {"lagtimes": np.asarray(test.lagtimes, dtype=int),
            "predictions": np.asarray(test.predictions, dtype=float),
            "estimates": np.asarray(test.estimates, dtype=float)}


def _pcca_sets(msm, n_metastable, n_states, state_values):
    """PCCA+ metastable sets of `msm` over all states (see :func:`compare`)."""
    if msm.n_states < n_metastable:
        raise ValueError(f"n_metastable={n_metastable} is larger than the {msm.n_states} "
                         "states of the MD MSM's connected set; pass fewer or give "
                         "metastable_sets")
    with warnings.catch_warnings():
        # PCCA+ warns when it truncates an eigendecomposition; that is harmless.
        warnings.simplefilter("ignore", UserWarning)
        assignment = msm.pcca(n_metastable).assignments
    # Sorted, so that argmin's first hit is the lower state on a tie; a
    # connected state is its own nearest (distance 0).
    order = np.argsort(msm.count_model.state_symbols)
    symbols, assignment = msm.count_model.state_symbols[order], assignment[order]
    position = np.arange(n_states) if state_values is None else state_values
    nearest = np.argmin(np.abs(position[:, None] - position[symbols][None, :]), axis=1)
    set_of_state = assignment[nearest]
    sets = [np.flatnonzero(set_of_state == k) for k in range(n_metastable)]
    sets = [s for s in sets if s.size]
    return sorted(sets, key=np.mean)


def _simulate_msm(msm, reference, lengths, msm_lag, seed):
    """Simulate one MSM chain per generated chain (see :func:`compare`)."""
    rng = np.random.default_rng(seed)
    symbols = msm.count_model.state_symbols
    index = _active_index(msm, msm.count_model.n_states_full)
    frames = np.concatenate(reference)
    starts = rng.choice(index[frames[index[frames] >= 0]], size=len(lengths))
    chain_seeds = rng.integers(0, 2**31 - 1, size=len(lengths))
    return [symbols[msm.simulate((n - 1) // msm_lag + 1, start=start, seed=chain_seed)]
            for n, start, chain_seed in zip(lengths, starts, chain_seeds)]
