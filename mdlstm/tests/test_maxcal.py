"""Tests of mdlstm.maxcal: path statistics, dlambda, weights and selection."""

import numpy as np
import pytest

from mdlstm.maxcal import (effective_sample_size, maxcal_weights, path_statistic, select,
                           solve_dlambda)

CHAINS = np.array([[0, 0, 1, 3, 3, 4],
                   [3, 4, 4, 3, 0, 1],
                   [2, 2, 2, 2, 3, 2]])


def test_named_statistics_by_hand():
    sets = [[0, 1], [3, 4]]
    np.testing.assert_allclose(path_statistic(CHAINS, "population_ratio", sets),
                               [3 / 3, 2 / 4, 0 / 1])
    # steps that change the state by exactly one: 0->1, 3->4 | 3->4, 4->3, 0->1 | 2->3, 3->2
    np.testing.assert_allclose(path_statistic(CHAINS, "hop_fraction"), [2 / 5, 3 / 5, 2 / 5])
    # one-step transitions from {0, 1} into {3, 4}: 1->3 | none | none
    np.testing.assert_array_equal(path_statistic(CHAINS, "transition_count", sets), [1, 0, 0])
    np.testing.assert_array_equal(path_statistic(list(CHAINS), lambda c: c.max()), [4, 4, 3])


@pytest.mark.parametrize("chains, statistic, sets, match", [
    (CHAINS, "entropy", None, "statistic must be one of"),
    (CHAINS, "population_ratio", None, "needs sets"),
    (CHAINS, "transition_count", [[0, 1], [1, 2]], r"overlap in states \[1\]"),
    (CHAINS, "population_ratio", [[3], [0]], r"chains \[2\] never visit sets\[1\]"),
    (CHAINS, lambda c: np.nan, None, r"returned nan for chains\[0\]"),
    (CHAINS, lambda c: "x", None, "not a number"),
    (np.array([[0.5, 1.0]]), "hop_fraction", None, r"chains\[0\] must be .* integer states"),
    ([], "hop_fraction", None, "chains is empty"),
])
def test_bad_statistics(chains, statistic, sets, match):
    with pytest.raises(ValueError, match=match):
        path_statistic(chains, statistic, sets)


def test_dlambda_of_a_two_valued_statistic_is_exact():
    """s in {0, 1}: mean(dl) = n1 e^-dl / (n0 + n1 e^-dl), so dl = ln(n1 (1 - t) / (n0 t))."""
    n0, n1 = 30, 70
    s = np.r_[np.zeros(n0), np.ones(n1)]
    for target in (0.2, 0.5, 0.69, 0.71, 0.95):
        exact = np.log(n1 * (1 - target) / (n0 * target))
        got = solve_dlambda(s, target)
        assert got == pytest.approx(exact, rel=1e-8)
        w = maxcal_weights(s, got)
        assert np.dot(w, s) == pytest.approx(target, rel=1e-10)
    assert solve_dlambda(s, 0.7) == pytest.approx(0.0, abs=1e-12)


def test_dlambda_hits_the_target_of_a_continuous_statistic():
    s = np.random.default_rng(0).gamma(2.0, 1.5, size=500)
    for target in (1.0, 2.5, 6.0):
        w = maxcal_weights(s, solve_dlambda(s, target))
        assert np.dot(w, s) == pytest.approx(target, rel=1e-9)


@pytest.mark.parametrize("target", [-0.1, 0.0, 1.0, 2.0])
def test_unreachable_target_is_refused(target):
    with pytest.raises(ValueError, match="unreachable.*range of the chains' values"):
        solve_dlambda(np.r_[np.zeros(5), np.ones(5)], target)


def test_weights_and_effective_sample_size():
    s = np.linspace(0, 1, 200)
    w = maxcal_weights(s, 0.0)
    np.testing.assert_allclose(w, 1 / 200)
    assert effective_sample_size(w) == pytest.approx(200)
    assert effective_sample_size([1, 1, 0, 0]) == pytest.approx(2)
    with pytest.warns(UserWarning, match="effective chains of 200"):
        maxcal_weights(s, 200.0)
    with pytest.raises(ValueError, match="non-negative"):
        effective_sample_size([1, -1])


def test_selection_is_seeded_and_follows_the_weights():
    w = np.array([0.7, 0.2, 0.1, 0.0])
    a, b = select(w, 20_000, seed=3), select(w, 20_000, seed=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.bincount(a, minlength=4) / a.size, w, atol=0.01)
    assert sorted(select(w, 3, replace=False, seed=1)) == [0, 1, 2]
    with pytest.raises(ValueError, match=r"n \(4\) exceeds the 3 chains of non-zero weight"):
        select(w, 4, replace=False)


def test_reweighted_markov_chains_reach_a_target_population_ratio():
    """Chains of a symmetric 3-state chain (pi_0 = pi_2) reweighted toward a mean ratio
    of 2: the selected chains' mean ratio is the target within its standard error."""
    from deeptime.markov.msm import MarkovStateModel

    msm = MarkovStateModel(np.array([[0.9, 0.1, 0.0], [0.05, 0.9, 0.05], [0.0, 0.1, 0.9]]))
    chains = np.stack([msm.simulate(400, start=k % 3, seed=k) for k in range(2000)])
    s = path_statistic(chains, "population_ratio", sets=[[0], [2]])
    assert s.mean() < 1.5   # per-chain ratios: above 1 on average, far below the target
    w = maxcal_weights(s, solve_dlambda(s, 2.0))
    chosen = select(w, 2000, seed=0)
    assert s[chosen].mean() == pytest.approx(2.0, abs=3 * s[chosen].std() / np.sqrt(2000))


def test_correction_retrains_a_clone_on_the_selected_chains():
    from mdlstm import LSTMEstimator
    from mdlstm.maxcal import MaxCalCorrection

    rng = np.random.default_rng(0)
    chains = [rng.integers(0, 3, 300) for _ in range(40)]
    estimator = LSTMEstimator(n_states=3, embedding_dim=4, hidden_size=8, seq_length=20,
                              epochs=1, device="cpu", seed=0)
    fix = MaxCalCorrection("transition_count", 28.0, sets=[[0], [2]], n_select=10, seed=1)
    with pytest.raises(RuntimeError, match="needs fit"):
        fix.fetch_model()
    assert fix.fit(chains, estimator) is fix
    assert not hasattr(estimator, "history")            # the estimator passed in is unfitted
    assert fix.selected_.shape == (10,)
    assert np.dot(fix.weights_, fix.values_) == pytest.approx(28.0, rel=1e-9)
    training = fix.fetch_model().metadata["training"]
    assert training["n_trajectories"] == 10
    assert training["n_characters"] == 10 * 300
    with pytest.raises(TypeError, match="estimator must be an mdlstm.LSTMEstimator"):
        fix.fit(chains, "lstm")
    assert "target=28.0" in repr(fix)
