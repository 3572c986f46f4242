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


EXACT = np.array([[0.9, 0.1, 0.0], [0.05, 0.9, 0.05], [0.0, 0.1, 0.9]])     # pi = 1/4, 1/2, 1/4
BIASED = np.array([[0.95, 0.05, 0.0], [0.05, 0.9, 0.05], [0.0, 0.1, 0.9]])  # 0.4, 0.4, 0.2
WRECKED = np.array([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.0, 0.1, 0.9]])     # 1/3 each


def _chains(matrix, n, seed):
    from deeptime.markov.msm import MarkovStateModel

    msm = MarkovStateModel(matrix)
    return np.stack([msm.simulate(500, start=k % 3, seed=seed + k) for k in range(n)])


@pytest.fixture(scope="module")
def correction():
    """A correction fitted to chains of BIASED (ratio pi_0 / pi_2 = 2) toward a ratio of 1."""
    from mdlstm import LSTMEstimator
    from mdlstm.maxcal import MaxCalCorrection

    estimator = LSTMEstimator(n_states=3, embedding_dim=4, hidden_size=8, seq_length=20,
                              epochs=1, device="cpu", seed=0)
    fix = MaxCalCorrection("population_ratio", 1.0, sets=[[0], [2]], n_select=8, seed=0)
    return fix.fit(_chains(BIASED, 200, 0), estimator, metadata={"dt": 0.5})


def test_verdict_puts_the_statistic_and_the_comparison_before_and_after(correction):
    from mdlstm.validate import compare

    before, after = _chains(BIASED, 200, 0), _chains(EXACT, 200, 10_000)
    reference = _chains(EXACT, 20, 50_000)
    sets = [[0], [1], [2]]
    verdict = correction.verdict(before, after, reference, metastable_sets=sets,
                                 lagtimes=[1, 5], dt=0.5)
    target = verdict.rows[0]
    assert target["quantity"] == "mean population_ratio (target)"
    assert target["reference"] == 1.0
    s_before = path_statistic(before, "population_ratio", [[0], [2]])
    s_after = path_statistic(after, "population_ratio", [[0], [2]])
    assert target["before"] == pytest.approx(s_before.mean())
    assert target["after"] == pytest.approx(s_after.mean())
    assert target["after_se"] == pytest.approx(s_after.std(ddof=1) / np.sqrt(200))
    assert target["before"] > 1.8                       # the bias: pi_0 / pi_2 = 2
    assert target["before_verdict"] == "warn"
    assert target["verdict"] == ("pass" if abs(s_after.mean() - 1) <= 0.1 else "warn")

    # every row of the comparison's summary, from compare() itself
    expected = compare(reference, after, dt=0.5, metastable_sets=sets, lagtimes=[1, 5],
                       msm_simulation=False).summary()
    by_name = {row["quantity"]: row for row in verdict.rows}
    for row in expected:
        assert by_name[row["quantity"]]["after"] == pytest.approx(row["LSTM"])
        assert by_name[row["quantity"]]["reference"] == pytest.approx(row["MD"])
        assert by_name[row["quantity"]]["verdict"] == row["verdict"]
    pop = by_name["population S1"]
    assert pop["before"] == pytest.approx(np.mean(before == 1))
    assert pop["after"] == pytest.approx(np.mean(after == 1))
    assert by_name["population S0"]["before_verdict"] == "warn"   # 0.4 against 0.25
    # implied timescales at each lag (the slowest at lag 1 is the summary's row)
    names = [row["quantity"] for row in verdict.rows if row["quantity"].startswith("implied")]
    assert names == ["implied timescale 2 (lag 1)", "implied timescale 1 (lag 5)",
                     "implied timescale 2 (lag 5)"]
    slow = by_name["implied timescale 1 (lag 5)"]
    assert slow["reference"] == pytest.approx(-5 * 0.5 / np.log(0.9 ** 5), rel=0.25)
    assert len(verdict.rows) == 1 + len(expected) + 3
    assert verdict.comparisons["after"].populations["MD"] == pytest.approx(
        np.bincount(reference.ravel(), minlength=3) / reference.size)


def test_verdict_shows_a_correction_that_wrecks_the_rest(correction):
    """Chains with the target ratio but state 1 at 1/3 instead of 1/2: the statistic
    passes, population S1 does not."""
    before, wrecked = _chains(BIASED, 200, 0), _chains(WRECKED, 200, 20_000)
    reference = _chains(EXACT, 20, 50_000)
    verdict = correction.verdict(before, wrecked, reference,
                                 metastable_sets=[[0], [1], [2]], lagtimes=[1])
    by_name = {row["quantity"]: row for row in verdict.rows}
    assert by_name["population S1"]["after"] == pytest.approx(1 / 3, abs=0.03)
    assert by_name["population S1"]["verdict"] == "warn"
    assert not verdict.passed and "population S1" in verdict.failures()
    text = verdict.format_summary()
    assert text.startswith("maxcal: mean population_ratio toward 1; dlambda = ")
    assert "effective sample size" in text and "of 200 chains, 8 selected" in text
    assert "the rest against the reference (MD)" in text
    line = next(t for t in text.splitlines() if t.startswith("population S1"))
    assert line.split()[-1] == "warn" and line.split()[-5].startswith("0.3")
    assert "verdict before" in text and "verdict after" in text
    import json
    data = json.loads(json.dumps(verdict.to_dict(), allow_nan=False))
    assert data["correction"]["n_selected"] == 8 and data["rows"][0]["reference"] == 1.0


def test_verdict_without_a_reference_compares_with_the_uncorrected_chains(correction):
    before, after = _chains(BIASED, 100, 0), _chains(EXACT, 100, 10_000)
    verdict = correction.verdict(before, after, metastable_sets=[[0], [1], [2]],
                                 lagtimes=[1])
    assert verdict.reference is None
    by_name = {row["quantity"]: row for row in verdict.rows}
    assert by_name["population S0"]["before"] == pytest.approx(np.mean(before == 0))
    assert by_name["population S0"]["reference"] is None
    assert by_name["population S0"]["before_verdict"] is None
    assert by_name["population S0"]["verdict"] == "warn"     # the correction moved it
    text = verdict.format_summary()
    assert "the rest against the uncorrected chains" in text
    header = next(t for t in text.splitlines() if t.startswith("quantity")).split()
    assert header == ["quantity", "unit", "before", "after", "verdict", "after"]


def test_corrected_model_records_the_correction(correction):
    meta = correction.fetch_model().metadata
    assert meta["dt"] == 0.5
    record = meta["maxcal"]
    assert record["statistic"] == "population_ratio" and record["sets"] == [[0], [2]]
    assert record["dlambda"] == pytest.approx(correction.dlambda_)
    assert record["mean_weighted"] == pytest.approx(1.0, rel=1e-9)
    assert record["n_chains"] == 200 and record["n_selected"] == 8


def test_verdict_and_fit_check_their_arguments(correction):
    from mdlstm import LSTMEstimator
    from mdlstm.maxcal import MaxCalCorrection

    with pytest.raises(RuntimeError, match="verdict\\(\\) needs fit"):
        MaxCalCorrection("hop_fraction", 0.5).verdict(CHAINS, CHAINS)
    with pytest.raises(TypeError, match="target must be a number, got str"):
        MaxCalCorrection("hop_fraction", "0.5").fit(CHAINS, LSTMEstimator())
    with pytest.raises(ValueError, match="n_timescales must be a positive"):
        correction.verdict(CHAINS, CHAINS, n_timescales=0)
