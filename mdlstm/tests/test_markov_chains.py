"""Tests of mdlstm.systems.markov_chains: exact answers against simulation."""

import numpy as np
import pytest
import scipy.sparse as sp

from mdlstm.systems import markov_chains as mc
from mdlstm.validate import statistics


def _random_reversible_chain(n, seed):
    rng = np.random.default_rng(seed)
    weights = rng.random((n, n))
    weights = weights + weights.T
    np.fill_diagonal(weights, 0)
    matrix = 0.3 * weights / weights.sum(axis=1, keepdims=True)
    matrix[np.diag_indices(n)] = 1 - matrix.sum(axis=1)
    return matrix


def test_exact_mfpt_is_what_statistics_measures():
    matrix = _random_reversible_chain(6, seed=1)
    pi = mc.stationary_distribution(sp.csr_matrix(matrix))
    np.testing.assert_allclose(pi @ matrix, pi, atol=1e-12)
    exact = mc.exact_mfpt(matrix, pi, [0, 1], [4, 5])
    walkers = mc.sample(matrix, 100_000, [0, 1, 2, 3], np.random.default_rng(2))
    measured = statistics(list(walkers), [[0, 1], [4, 5]], n_states=6)
    assert measured["mfpt"][0, 1] == pytest.approx(exact, rel=0.02)
    np.testing.assert_allclose(measured["populations"], pi, atol=0.005)


def test_exact_mfpt_seen_every_lag_is_what_subsampled_trajectories_measure():
    matrix = _random_reversible_chain(6, seed=1)
    pi = mc.stationary_distribution(sp.csr_matrix(matrix))
    walkers = mc.sample(matrix, 100_000, [0, 1, 2, 3], np.random.default_rng(2))
    lag = 4
    seen = [w[phase::lag] for w in walkers for phase in range(lag)]
    measured = statistics(seen, [[0, 1], [4, 5]], n_states=6, dt=lag)
    exact = mc.exact_mfpt(sp.csr_matrix(matrix), pi, [0, 1], [4, 5], lag=lag)
    assert measured["mfpt"][0, 1] == pytest.approx(exact, rel=0.02)
    # passages shorter than a lag are missed: seen coarser, they are longer
    assert exact > 1.1 * mc.exact_mfpt(matrix, pi, [0, 1], [4, 5])
    with pytest.raises(ValueError, match="lag"):
        mc.exact_mfpt(matrix, pi, [0, 1], [4, 5], lag=0)


def test_sample_follows_the_rows_and_its_seed():
    matrix = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 1.0]])
    walk = mc.sample(matrix, 6, [0, 0], np.random.default_rng(0))
    assert np.all(walk[:, :2] == [0, 1])               # 0 -> 1 with certainty
    assert set(np.unique(walk[:, 2])) <= {0, 2}
    again = mc.sample(matrix, 6, [0, 0], np.random.default_rng(0))
    np.testing.assert_array_equal(walk, again)


def test_the_grid_chain_hides_memory_a_lag1_msm_misses():
    chain = mc.projected_grid_chain()
    exact = chain.exact_mfpts()
    # the lag-1 MSM of the observed states in the limit of infinite data
    lump = sp.csr_matrix((np.ones(chain.observed.size),
                          (np.arange(chain.observed.size), chain.observed)))
    flux = (lump.T @ sp.diags(chain.stationary) @ chain.transition_matrix @ lump).toarray()
    populations = flux.sum(axis=1)
    msm = flux / populations[:, None]
    sets = chain.metastable_sets
    msm_mfpt = mc.exact_mfpt(msm, populations, sets[0], sets[1])
    assert exact[0, 1] == pytest.approx(1866.6, rel=1e-3)
    assert exact[0, 1] / msm_mfpt > 3                    # the MSM is 3x too fast or more
    np.testing.assert_allclose(chain.exact_populations(), populations, atol=1e-12)
    walkers = chain.simulate(1000, n_walkers=3, seed=4)
    assert len(walkers) == 3 and walkers[0].shape == (1000,) and walkers[0].max() < 20


def test_the_hidden_dwell_chain_has_a_rare_state_with_long_visits():
    chain = mc.hidden_dwell_chain()
    np.testing.assert_allclose(chain.exact_populations(), [0.648, 0.290, 0.063], atol=1e-3)
    (states,) = chain.simulate(200_000, seed=0)
    runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, states, -1]) != 0))
    values = states[np.r_[0, np.flatnonzero(np.diff(states)) + 1]]
    rare = runs[values == 2]
    assert np.median(rare) < 40 and rare.max() > 1000   # heavy-tailed visits
