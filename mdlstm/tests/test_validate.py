"""Tests for mdlstm.validate: statistics checked against exact Markov chains."""

import json

import numpy as np
import pytest
from deeptime.data import double_well_discrete
from deeptime.markov.msm import MarkovStateModel

from mdlstm.validate import (DEFAULT_LAGTIMES, DIVERGENCE_FLOOR, TOLERANCES, Comparison,
                             compare, embedding_similarity, estimate_msm,
                             markov_cross_entropy, msm_flux, statistics)

P2 = np.array([[0.9, 0.1],
               [0.05, 0.95]])
PI2 = np.array([1 / 3, 2 / 3])
P3 = np.array([[0.80, 0.15, 0.05],   # reversible, pi = (2, 3, 2) / 7
               [0.10, 0.80, 0.10],
               [0.05, 0.15, 0.80]])
# Two blocks {0, 1} and {2, 3}: fast inside, slow between.
P4 = np.array([[0.60, 0.38, 0.02, 0.00],
               [0.38, 0.60, 0.00, 0.02],
               [0.02, 0.00, 0.60, 0.38],
               [0.00, 0.02, 0.38, 0.60]])


def simulate(P, n_steps, seed, start=0):
    # deeptime draws an unset start from numpy's global generator: always set it.
    return MarkovStateModel(P).simulate(n_steps, start=start, seed=seed)


def exact_stationary(P):
    values, vectors = np.linalg.eig(P.T)
    pi = np.real(vectors[:, np.argmax(np.real(values))])
    return pi / pi.sum()


def exact_timescales(P, dt=1.0):
    values = np.sort(np.abs(np.linalg.eigvals(P)))[::-1]
    return -dt / np.log(values[1:])


@pytest.fixture(scope="module")
def two_state():
    ref = simulate(P2, 100_000, seed=1)
    gen = np.array([simulate(P2, 25_000, seed=s) for s in (2, 3, 4, 5)])
    return ref, gen


@pytest.fixture(scope="module")
def cmp2(two_state):
    return compare(*two_state, dt=1.0, seed=0)


@pytest.fixture(scope="module")
def cmp4():
    ref = simulate(P4, 100_000, seed=7)
    gen = [simulate(P4, 10_000, seed=8), simulate(P4, 5_000, seed=9)]
    return compare(ref, gen, n_states=5, dt=0.5, time_unit="ns")


class TestTwoState:
    def test_sources_and_shapes(self, cmp2):
        assert isinstance(cmp2, Comparison)
        assert cmp2.sources == ("MD", "LSTM", "MSM")
        assert cmp2.n_states == 2
        np.testing.assert_array_equal(cmp2.lagtimes, DEFAULT_LAGTIMES)
        assert cmp2.timescales["MD"].shape == (len(DEFAULT_LAGTIMES), 1)
        assert cmp2.transition_counts["LSTM"].shape == (2, 2)
        assert set(cmp2.stationary) == set(cmp2.msm) == {"MD", "LSTM"}

    @pytest.mark.parametrize("src", ["MD", "LSTM", "MSM"])
    def test_populations(self, cmp2, src):
        np.testing.assert_allclose(cmp2.populations[src], PI2, atol=0.01)
        np.testing.assert_allclose(cmp2.set_populations[src], PI2, atol=0.01)

    @pytest.mark.parametrize("src", ["MD", "LSTM"])
    def test_msm_stationary(self, cmp2, src):
        np.testing.assert_allclose(cmp2.stationary[src], PI2, atol=0.01)

    @pytest.mark.parametrize("src", ["MD", "LSTM"])
    def test_implied_timescale_lag1(self, cmp2, src):
        np.testing.assert_allclose(cmp2.timescales[src][0], exact_timescales(P2), rtol=0.05)

    @pytest.mark.parametrize("src", ["MD", "LSTM", "MSM"])
    def test_measured_mfpt(self, cmp2, src):
        expected = np.array([[0, 1 / P2[0, 1]], [1 / P2[1, 0], 0]])
        np.testing.assert_allclose(cmp2.mfpt[src], expected, rtol=0.05)
        assert cmp2.mfpt_events[src][0, 1] > 1000
        assert np.all(np.diag(cmp2.mfpt_events[src]) == 0)

    @pytest.mark.parametrize("src", ["MD", "LSTM"])
    def test_msm_mfpt(self, cmp2, src):
        expected = np.array([[0, 1 / P2[0, 1]], [1 / P2[1, 0], 0]])
        np.testing.assert_allclose(cmp2.mfpt_msm[src], expected, rtol=0.05)

    def test_pcca_splits_the_two_states(self, cmp2):
        assert [s.tolist() for s in cmp2.metastable_sets] == [[0], [1]]

    def test_rates_are_counts_per_time(self, cmp2):
        # 4 chains of 25000 steps: 4 * 24999 intervals of dt = 1
        assert cmp2.total_time["LSTM"] == 4 * 24_999
        np.testing.assert_allclose(cmp2.transition_rates["LSTM"],
                                   cmp2.transition_counts["LSTM"] / (4 * 24_999))
        # exact switch rate: pi0 * P01 + pi1 * P10 per step
        exact = PI2[0] * P2[0, 1] + PI2[1] * P2[1, 0]
        assert cmp2.transition_rates["MD"].sum() == pytest.approx(exact, rel=0.05)

    def test_dt_scales_times(self, two_state, cmp2):
        cmp = compare(*two_state, dt=2.0, seed=0)
        for src in cmp2.sources:
            np.testing.assert_allclose(cmp.mfpt[src], 2 * cmp2.mfpt[src])
            np.testing.assert_allclose(cmp.transition_rates[src],
                                       cmp2.transition_rates[src] / 2)
            np.testing.assert_array_equal(cmp.populations[src], cmp2.populations[src])
            np.testing.assert_allclose(cmp.mfpt_steps[src], cmp2.mfpt[src])
        for src in ("MD", "LSTM"):
            np.testing.assert_allclose(cmp.timescales[src], 2 * cmp2.timescales[src])
            np.testing.assert_allclose(cmp.mfpt_msm[src], 2 * cmp2.mfpt_msm[src])
            np.testing.assert_allclose(cmp.timescales_steps[src], cmp2.timescales[src])

    def test_summary_rows(self, cmp2):
        rows = cmp2.summary()
        assert [r["quantity"] for r in rows] == [
            "population S0", "population S1", "MFPT S0->S1", "MFPT S1->S0",
            "slowest implied timescale (lag 1)", "transitions per time"]
        assert [r["unit"] for r in rows] == ["fraction", "fraction", "ps", "ps", "ps", "1/ps"]
        assert all(set(r) == {"quantity", "unit", "MD", "LSTM", "MSM", "MD_se", "LSTM_se",
                              "MSM_se", "verdict"} for r in rows)
        assert all(isinstance(r[s], float) and 0 < r[s + "_se"] < np.inf
                   for r in rows for s in cmp2.sources)
        # the LSTM source is the exact chain: every number agrees with MD
        assert [r["verdict"] for r in rows] == ["pass"] * 6
        assert rows[0]["MD_se"] == cmp2.errors["set_populations"]["MD"][0]
        assert rows[2]["LSTM_se"] == cmp2.errors["mfpt"]["LSTM"][0, 1]
        assert rows[4]["MSM_se"] == rows[4]["MD_se"] == cmp2.errors["slowest_timescale"]["MD"]
        assert rows[5]["MSM_se"] == cmp2.errors["transitions_per_time"]["MSM"]
        assert rows[0]["LSTM"] == pytest.approx(cmp2.set_populations["LSTM"][0])
        assert rows[2]["MD"] == pytest.approx(cmp2.mfpt["MD"][0, 1])
        assert rows[4]["MD"] == pytest.approx(cmp2.timescales["MD"][0, 0])
        assert rows[4]["MSM"] == rows[4]["MD"]
        assert rows[5]["MSM"] == pytest.approx(cmp2.transition_rates["MSM"].sum())

    def test_format_summary(self, cmp2):
        text = cmp2.format_summary()
        lines = text.splitlines()
        assert lines[0] == "n_states = 2, dt = 1 ps, MSM lag = 1 steps"
        assert lines[1:3] == ["S0: states 0", "S1: states 1"]
        mfpt_line = next(line for line in lines if line.startswith("MFPT S0->S1"))
        for s in cmp2.sources:
            assert f"{cmp2.mfpt[s][0, 1]:.4g} ± {cmp2.errors['mfpt'][s][0, 1]:.2g}" in mfpt_line
        assert mfpt_line.endswith("pass")
        assert lines[4].split() == ["quantity", "unit", "MD", "LSTM", "MSM", "verdict"]
        end = lines.index("", 4)
        table = lines[4:end]
        assert len({len(line) for line in table}) == 1  # aligned, right-justified
        assert lines[end + 1:] == cmp2.notes()
        assert lines[end + 1].startswith("Never seen in MD: transitions per 1e5 steps LSTM ")

    def test_to_dict_is_json(self, cmp2):
        data = json.loads(json.dumps(cmp2.to_dict(), allow_nan=False))
        assert data["sources"] == ["MD", "LSTM", "MSM"]
        assert data["populations"]["MD"] == pytest.approx(cmp2.populations["MD"].tolist())
        assert data["mfpt_events"]["MSM"] == cmp2.mfpt_events["MSM"].tolist()
        assert len(data["summary"]) == 6
        assert data["summary"][0]["verdict"] == "pass"
        assert "msm" not in data and "trajectories" not in data
        np.testing.assert_allclose(data["errors"]["mfpt"]["LSTM"], cmp2.errors["mfpt"]["LSTM"])
        assert np.shape(data["ck"]["MD"]["predictions"]) == cmp2.ck["MD"]["predictions"].shape
        assert data["divergence"]["MSM"]["js"] == cmp2.divergence["MSM"]["js"]
        assert data["rate_error"]["LSTM"]["mfpt"][0][0] == 0
        assert data["cross_entropy"] is None and data["cross_entropy_skip"] is None
        np.testing.assert_allclose(data["flux"], cmp2.flux)
        assert (data["n_blocks"], data["n_bootstrap"]) == (10, 100)


class TestThreeState:
    @pytest.fixture(scope="class")
    @classmethod
    def cmp3(cls):
        ref = simulate(P3, 100_000, seed=11)
        gen = [simulate(P3, 50_000, seed=12), simulate(P3, 50_000, seed=13)]
        return compare(ref, gen, lagtimes=[1, 3], msm_simulation=False, n_metastable=3)

    @pytest.mark.parametrize("src", ["MD", "LSTM"])
    def test_populations_and_stationary(self, cmp3, src):
        pi = exact_stationary(P3)
        np.testing.assert_allclose(cmp3.populations[src], pi, atol=0.01)
        np.testing.assert_allclose(cmp3.stationary[src], pi, atol=0.01)

    @pytest.mark.parametrize("src", ["MD", "LSTM"])
    def test_timescales(self, cmp3, src):
        assert cmp3.timescales[src].shape == (2, 2)
        np.testing.assert_allclose(cmp3.timescales[src][0], exact_timescales(P3), rtol=0.05)

    def test_no_msm_source(self, cmp3):
        assert cmp3.sources == ("MD", "LSTM")
        assert all(set(row) == {"quantity", "unit", "MD", "LSTM", "MD_se", "LSTM_se", "verdict"}
                   for row in cmp3.summary())
        assert set(cmp3.divergence) == set(cmp3.rate_error) == {"LSTM"}
        assert [s.tolist() for s in cmp3.metastable_sets] == [[0], [1], [2]]


class TestCounting:
    def test_hand_counted_transitions(self):
        seq = np.array([0, 0, 1, 2, 1, 1, 0])
        cmp = compare(seq, seq, dt=0.5, msm_simulation=False)
        expected = np.array([[0, 1, 0],
                             [1, 0, 1],
                             [0, 1, 0]])
        np.testing.assert_array_equal(cmp.transition_counts["MD"], expected)
        assert cmp.total_time["MD"] == 3.0
        np.testing.assert_allclose(cmp.transition_rates["MD"], expected / 3.0)
        np.testing.assert_allclose(cmp.populations["MD"], [3 / 7, 3 / 7, 1 / 7])

    def test_no_transition_across_trajectory_boundary(self):
        split = compare([[0, 0, 1], [0, 1]], [0, 1, 1, 0], msm_simulation=False,
                        metastable_sets=[[0], [1]])
        joined = compare([0, 0, 1, 0, 1], [0, 1, 1, 0], msm_simulation=False,
                         metastable_sets=[[0], [1]])
        np.testing.assert_array_equal(split.transition_counts["MD"], [[0, 2], [0, 0]])
        np.testing.assert_array_equal(joined.transition_counts["MD"], [[0, 2], [1, 0]])
        # the MSM counts (deeptime) and the measured passages respect it too
        np.testing.assert_array_equal(split.msm["MD"].count_model.count_matrix_full,
                                      [[1, 2], [0, 0]])
        np.testing.assert_array_equal(split.mfpt_events["MD"], [[0, 2], [0, 0]])
        np.testing.assert_array_equal(joined.mfpt_events["MD"], [[0, 2], [1, 0]])

    def test_measured_mfpt_by_hand(self):
        # sets {0} and {2}; state 1 is a transition region
        seq = np.array([0, 1, 0, 1, 2, 1, 2, 0, 0, 2])
        cmp = compare(seq, seq, metastable_sets=[[0], [2]], dt=2.0, msm_simulation=False)
        # 0 -> 2: entered 0 at t=0, reached 2 at t=4; entered 0 at t=7, reached 2 at t=9
        # 2 -> 0: entered 2 at t=4, reached 0 at t=7
        np.testing.assert_array_equal(cmp.mfpt_events["MD"], [[0, 2], [1, 0]])
        np.testing.assert_allclose(cmp.mfpt_steps["MD"], [[0, 3.0], [3.0, 0]])
        np.testing.assert_allclose(cmp.mfpt["MD"], [[0, 6.0], [6.0, 0]])

    def test_no_event_gives_inf(self):
        cmp = compare([0, 0, 1, 1], [0, 0, 0, 1], metastable_sets=[[0], [1]],
                      msm_simulation=False)
        assert cmp.mfpt["MD"][1, 0] == np.inf
        assert cmp.mfpt_events["MD"][1, 0] == 0
        assert cmp.mfpt["LSTM"][0, 1] == 3.0
        # nothing constrains an MFPT never seen, and a verdict needs both values
        assert cmp.errors["mfpt"]["MD"][1, 0] == np.inf
        assert cmp.summary()[3]["verdict"] == "warn"
        assert cmp.rate_error["LSTM"]["rates"][1, 0] == np.inf
        assert cmp.rate_error["LSTM"]["mean_rates"] == 0.0  # over the pair MD saw: 0 -> 1


class TestMetastableSets:
    def test_user_sets_honoured(self, two_state):
        ref, gen = two_state
        cmp = compare(ref, gen, metastable_sets=[[1], [0]], msm_simulation=False)
        assert [s.tolist() for s in cmp.metastable_sets] == [[1], [0]]
        np.testing.assert_allclose(cmp.set_populations["MD"], cmp.populations["MD"][::-1])
        assert cmp.mfpt["MD"][0, 1] == pytest.approx(1 / P2[1, 0], rel=0.05)

    def test_pcca_finds_blocks(self, cmp4):
        # state 4 is never visited: it joins the set of the nearest state, 3
        assert [s.tolist() for s in cmp4.metastable_sets] == [[0, 1], [2, 3, 4]]
        np.testing.assert_allclose(cmp4.set_populations["MD"], [0.5, 0.5], atol=0.04)

    def test_pcca_uses_state_values_for_unseen_states(self):
        ref = simulate(P4, 20_000, seed=3)
        values = [1.0, 2.0, 3.0, 4.0, 0.0]  # state 4 sits next to state 0
        cmp = compare(ref, ref, n_states=5, state_values=values, msm_simulation=False)
        assert [s.tolist() for s in cmp.metastable_sets] == [[0, 1, 4], [2, 3]]
        np.testing.assert_array_equal(cmp.state_values, values)

    def test_block_mfpt_msm_and_measured_agree(self, cmp4):
        # between blocks: each state leaves its block with p 0.02 -> 50 steps of 0.5 ns
        measured, predicted = cmp4.mfpt["MD"], cmp4.mfpt_msm["MD"]
        assert measured[0, 1] == pytest.approx(50 * 0.5, rel=0.1)
        assert predicted[0, 1] == pytest.approx(measured[0, 1], rel=0.1)


class TestFreeEnergy:
    def test_minus_log_p_shifted(self, cmp4):
        pop = cmp4.populations["MD"]
        assert pop[4] == 0
        energy = cmp4.free_energy["MD"]
        np.testing.assert_allclose(energy[:4], -np.log(pop[:4]) + np.log(pop[:4].max()))
        assert energy[:4].min() == 0
        assert energy[4] == np.inf
        assert cmp4.stationary["MD"][4] == 0

    def test_to_dict_has_no_nan(self, cmp4):
        data = json.loads(json.dumps(cmp4.to_dict(), allow_nan=False))
        assert data["free_energy"]["MD"][4] is None
        assert data["time_unit"] == "ns"

        def numbers(x):
            if isinstance(x, dict):
                return [n for v in x.values() for n in numbers(v)]
            if isinstance(x, list):
                return [n for v in x for n in numbers(v)]
            return [x] if isinstance(x, float) else []
        assert all(np.isfinite(numbers(data)))


class TestMSMSource:
    def test_lag_scales_the_time_axis(self, two_state):
        ref, gen = two_state
        cmp = compare(ref, gen, msm_lag=5, dt=0.1, seed=1)
        # each 25000-step chain is matched by 24999 // 5 + 1 = 5000 MSM steps of 5 * dt
        assert cmp.total_time["MSM"] == pytest.approx(4 * 4999 * 5 * 0.1)
        np.testing.assert_allclose(cmp.populations["MSM"], PI2, atol=0.015)
        assert cmp.msm["MD"].lagtime == 5
        # a lag-5 MSM sees the chain every 5 steps: its exact MFPT is that of P^5
        exact = 5 * 0.1 / np.linalg.matrix_power(P2, 5)[0, 1]
        np.testing.assert_allclose(cmp.mfpt_msm["MD"][0, 1], exact, rtol=0.05)
        np.testing.assert_allclose(cmp.mfpt["MSM"][0, 1], exact, rtol=0.05)
        np.testing.assert_allclose(cmp.timescales["MD"][0], exact_timescales(P2, 0.1),
                                   rtol=0.05)

    def test_seeded(self, two_state, cmp2):
        ref, gen = two_state
        again = compare(ref, gen, seed=0)
        other = compare(ref, gen, seed=1)
        np.testing.assert_array_equal(again.transition_counts["MSM"],
                                      cmp2.transition_counts["MSM"])
        assert not np.array_equal(other.transition_counts["MSM"],
                                  cmp2.transition_counts["MSM"])

    def test_default_lagtimes_follow_shortest_trajectory(self):
        ref = simulate(P2, 1000, seed=0)
        cmp = compare(ref, [ref[:25], ref[:300]], msm_simulation=False)
        np.testing.assert_array_equal(cmp.lagtimes, [1, 2, 5, 10])


def test_estimate_msm_maps_states_back():
    msm = estimate_msm([np.array([1, 1, 3, 3, 1, 3])], lagtime=1, n_states=5)
    np.testing.assert_array_equal(msm.count_model.state_symbols, [1, 3])
    assert msm.transition_matrix.shape == (2, 2)


def test_statistics_of_one_source_are_compares():
    ref = [simulate(P4, 3000, seed=1), simulate(P4, 2000, seed=2, start=2)]
    sets = [[0, 1], [2, 3]]
    cmp = compare(ref, ref, metastable_sets=sets, dt=0.5, msm_simulation=False)
    found = statistics(ref, sets, dt=0.5)
    for name in ("populations", "transition_counts", "transition_rates", "total_time", "mfpt",
                 "mfpt_events", "set_populations", "free_energy"):
        np.testing.assert_array_equal(found[name], getattr(cmp, name)["MD"], err_msg=name)
    assert found["total_time"] == 0.5 * (2999 + 1999)


def test_statistics_by_hand():
    found = statistics(np.array([0, 0, 1, 1, 1, 0, 2]), [[0], [1]], n_states=4)
    np.testing.assert_allclose(found["populations"], [3 / 7, 3 / 7, 1 / 7, 0])
    assert found["transition_counts"][0, 1] == 1 and found["transition_counts"][0, 2] == 1
    assert found["transition_counts"].sum() == 3
    # 0 -> 1: entered 0 at step 0, reached 1 at step 2; 1 -> 0: steps 2 to 5
    np.testing.assert_array_equal(found["mfpt"], [[0, 2], [3, 0]])


@pytest.mark.parametrize("sets, error, match", [
    ([[0]], ValueError, "at least 2 sets"),
    ([[0, 1], [1]], ValueError, "overlap"),
    ([[0], [5]], ValueError, "outside"),
])
def test_statistics_rejects_bad_sets(sets, error, match):
    with pytest.raises(error, match=match):
        statistics(np.array([0, 1, 0, 1]), sets, n_states=3)


GOOD = np.array([0, 1, 1, 0, 1, 0])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"reference": []}, TypeError, "reference"),
    ({"reference": np.array([], dtype=int)}, ValueError, "reference has 0 states"),
    ({"generated": np.zeros((2, 0), dtype=int)}, ValueError, r"generated\[0\] has 0"),
    ({"reference": np.array([0.0, 1.0, 0.5])}, TypeError, "reference must hold integer"),
    ({"generated": np.array([0, -1, 1])}, ValueError, "generated contains state -1"),
    ({"n_states": 1}, ValueError, "reference contains state 1"),
    ({"n_states": 0}, ValueError, "n_states must be a positive integer"),
    ({"dt": 0}, ValueError, "dt must be a positive"),
    ({"dt": "1 ps"}, TypeError, "dt must be a positive number"),
    ({"time_unit": 1}, TypeError, "time_unit must be a string"),
    ({"lagtimes": [1, 0]}, ValueError, "lagtimes must be a non-empty sequence of positive"),
    ({"lagtimes": [1.5]}, ValueError, "lagtimes must be"),
    ({"lagtimes": [6]}, ValueError, "lagtimes must be shorter than the longest reference"),
    ({"msm_lag": 0}, ValueError, "msm_lag must be a positive integer"),
    ({"msm_lag": 6}, ValueError, r"reference is shorter than msm_lag \+ 1 = 7"),
    ({"reference": [0, 1], "msm_lag": 2}, ValueError, "reference is shorter than msm_lag"),
    ({"metastable_sets": [[0, 1], [1]]}, ValueError, r"metastable_sets overlap: states \[1\]"),
    ({"metastable_sets": [[0], [2]]}, ValueError, r"metastable_sets\[1\] contains states"),
    ({"metastable_sets": [[0], []]}, ValueError, r"metastable_sets\[1\] must be a non-empty"),
    ({"metastable_sets": [[0], [1.0]]}, TypeError, r"metastable_sets\[1\] must hold integer"),
    ({"metastable_sets": [[0, 1]]}, ValueError, "metastable_sets must be a list of at least 2"),
    ({"n_metastable": 1}, ValueError, r"n_metastable must be in \[2, n_states=2\]"),
    ({"n_metastable": 3}, ValueError, "n_metastable must be in"),
    ({"state_values": [0.0]}, ValueError, "state_values must be 2 finite numbers"),
    ({"seed": -1}, TypeError, "seed must be a non-negative integer"),
    ({"n_blocks": 1}, ValueError, "n_blocks must be at least 2"),
    ({"n_bootstrap": 0}, ValueError, "n_bootstrap must be a positive integer"),
    ({"n_bootstrap": 2.5}, TypeError, "n_bootstrap must be a positive integer"),
    ({"held_out": GOOD}, ValueError, "train must be given as well"),
    ({"train": GOOD}, ValueError, "held_out must be given as well"),
    ({"lstm_cross_entropy": 0.5}, ValueError, "lstm_cross_entropy needs held_out and train"),
    ({"held_out": GOOD, "train": GOOD, "lstm_cross_entropy": -1}, ValueError,
     "lstm_cross_entropy must be a positive"),
    ({"held_out": GOOD, "train": GOOD, "markov_orders": []}, ValueError,
     "markov_orders must be a non-empty sequence"),
    ({"held_out": GOOD, "train": GOOD, "markov_orders": [1, -1]}, ValueError,
     "markov_orders must be"),
    ({"held_out": [0, 2], "train": GOOD}, ValueError, "held_out contains state 2"),
    ({"held_out": [0, 1], "train": GOOD, "markov_orders": [2]}, ValueError,
     "held_out has no state to score"),
])
def test_invalid_arguments(kwargs, error, match):
    args = {"reference": GOOD, "generated": GOOD, **kwargs}
    with pytest.raises(error, match=match):
        compare(**args)


def test_pcca_needs_enough_connected_states():
    # only states 0 and 1 are connected; state 2 is entered once and never left
    with pytest.raises(ValueError, match="n_metastable=3 is larger than the 2 states"):
        compare([0, 1, 0, 1, 2], [0, 1, 0, 1], n_metastable=3)


# -- uncertainties ------------------------------------------------------------------


def two_state_se(p01, p10, n_steps):
    """Exact asymptotic standard error of a two-state chain's population."""
    p = p10 / (p01 + p10)
    eigenvalue = 1 - p01 - p10
    return np.sqrt(p * (1 - p) * (1 + eigenvalue) / (1 - eigenvalue) / n_steps)


class TestUncertainties:
    def test_shapes(self, cmp4):
        errors = cmp4.errors
        for name in ("populations", "set_populations", "transition_rates", "mfpt",
                     "free_energy"):
            for src in cmp4.sources:
                assert errors[name][src].shape == getattr(cmp4, name)[src].shape
        assert set(errors["transitions_per_time"]) == set(cmp4.sources)
        assert set(errors["timescales"]) == set(errors["slowest_timescale"]) == {"MD", "LSTM"}
        assert errors["timescales"]["MD"].shape == cmp4.timescales["MD"].shape
        assert np.all(np.diag(errors["mfpt"]["LSTM"]) == 0)
        # state 4 is never visited: no free energy, so no error on it
        assert errors["free_energy"]["MD"][4] == np.inf
        assert errors["populations"]["MD"][4] == 0

    def test_chain_errors_by_hand(self):
        # independent chains: SE = std(per-chain value, ddof=1) / sqrt(2) for equal
        # lengths, and the ratio estimator's SE for pooled passage times
        gen = [np.array([0, 1, 0, 1]), np.array([0, 0, 0, 1])]
        cmp = compare([0, 1, 0, 1, 1, 0, 0, 1], gen, metastable_sets=[[0], [1]],
                      msm_simulation=False)
        errors = cmp.errors
        np.testing.assert_allclose(cmp.populations["LSTM"], [0.625, 0.375])
        np.testing.assert_allclose(errors["populations"]["LSTM"], [0.125, 0.125])
        np.testing.assert_allclose(errors["free_energy"]["LSTM"], [0.125 / 0.625, 0.125 / 0.375])
        # 3 and 1 changes in 3 steps each
        assert errors["transitions_per_time"]["LSTM"] == pytest.approx(np.std([1, 1 / 3], ddof=1)
                                                                       / np.sqrt(2))
        # 0 -> 1: passages of 1 and 1 step in chain 0, of 3 steps in chain 1
        assert cmp.mfpt["LSTM"][0, 1] == pytest.approx(5 / 3)
        residuals = np.array([2 - 2 * 5 / 3, 3 - 1 * 5 / 3])
        assert errors["mfpt"]["LSTM"][0, 1] == pytest.approx(
            np.sqrt(2 * np.sum(residuals ** 2)) / 3)
        assert errors["mfpt"]["LSTM"][1, 0] == 0  # one event, in one chain

    def test_md_bootstrap_matches_exact_error(self, cmp2):
        exact = two_state_se(P2[0, 1], P2[1, 0], 100_000)
        np.testing.assert_allclose(cmp2.errors["populations"]["MD"], exact, rtol=0.35)
        np.testing.assert_allclose(cmp2.errors["set_populations"]["MD"], exact, rtol=0.35)

    def test_chain_error_matches_exact_error(self):
        gen = [simulate(P2, 10_000, seed=100 + k, start=k % 2) for k in range(16)]
        cmp = compare(gen[0], gen, lagtimes=[1], msm_simulation=False)
        exact = two_state_se(P2[0, 1], P2[1, 0], 16 * 10_000)
        np.testing.assert_allclose(cmp.errors["populations"]["LSTM"], exact, rtol=0.35)
        # a single chain is block-bootstrapped: larger error, and finite
        assert cmp.errors["populations"]["MD"][0] > 2 * cmp.errors["populations"]["LSTM"][0]

    def test_seeded(self, two_state, cmp2):
        again = compare(*two_state, seed=0)
        other = compare(*two_state, seed=1)
        np.testing.assert_array_equal(again.errors["mfpt"]["MD"], cmp2.errors["mfpt"]["MD"])
        assert not np.array_equal(other.errors["mfpt"]["MD"], cmp2.errors["mfpt"]["MD"])
        # chain errors do not resample: identical for the same chains
        np.testing.assert_array_equal(other.errors["mfpt"]["LSTM"], cmp2.errors["mfpt"]["LSTM"])

    def test_model_groups_are_the_units_of_the_lstm_errors(self):
        """Chains of several models: SE from the spread of the models' pooled chains."""
        ref = simulate(P2, 20_000, seed=1)
        fast = [simulate(P2, 5_000, seed=s) for s in (2, 3)]
        slow = [simulate(np.array([[0.98, 0.02], [0.01, 0.99]]), 5_000, seed=s)
                for s in (4, 5)]
        gen = fast + fast + slow
        models = np.array([0, 0, 1, 1, 2, 2])
        grouped = compare(ref, gen, generated_models=models, msm_simulation=False,
                          metastable_sets=[[0], [1]])
        chains = compare(ref, gen, msm_simulation=False, metastable_sets=[[0], [1]])
        per_model = [np.mean(np.concatenate(gen[2 * k:2 * k + 2]) == 1) for k in range(3)]
        assert grouped.n_models == 3 and chains.n_models == 1
        assert grouped.errors["populations"]["LSTM"][1] == pytest.approx(
            np.std(per_model, ddof=1) / np.sqrt(3))
        assert grouped.errors["populations"]["MD"][1] == chains.errors["populations"]["MD"][1]
        # the slow model is the outlier: its MFPTs are five times the others'
        assert {row["model"] for row in grouped.model_outliers} == {2}
        assert {row["quantity"] for row in grouped.model_outliers} >= {"MFPT S0->S1"}
        assert "Outlier: model 2 has MFPT S0->S1" in grouped.format_summary()
        assert chains.model_outliers == []
        with pytest.raises(ValueError, match="generated_models must hold one integer"):
            compare(ref, gen, generated_models=[0, 1])

    def test_bootstrap_settings(self, two_state):
        cmp = compare(*two_state, n_blocks=4, n_bootstrap=20, msm_simulation=False)
        assert (cmp.n_blocks, cmp.n_bootstrap) == (4, 20)
        assert 0 < cmp.errors["populations"]["MD"][0] < 0.02


class TestDoubleWell:
    """Acceptance: reference data of deeptime's double well against its exact MSM."""

    @pytest.fixture(scope="class")
    @classmethod
    def exact(cls):
        msm = MarkovStateModel(double_well_discrete().transition_matrix)
        pi = msm.stationary_distribution
        # cores: the most populated state of each well
        cores = [int(np.argmax(pi[:50])), 50 + int(np.argmax(pi[50:]))]
        return msm, cores

    @pytest.fixture(scope="class")
    @classmethod
    def comparisons(cls, exact):
        msm, cores = exact
        out = {}
        for n_steps, seed in ((200_000, 1), (800_000, 2)):
            ref = msm.simulate(n_steps, start=cores[0], seed=seed)
            gen = [msm.simulate(5_000, start=cores[k], seed=10 + k) for k in range(2)]
            out[n_steps] = compare(ref, gen, n_states=100, lagtimes=[1],
                                   metastable_sets=[[c] for c in cores], msm_simulation=False)
        return out

    @pytest.mark.parametrize("n_steps", [200_000, 800_000])
    def test_agrees_with_exact_within_errors(self, exact, comparisons, n_steps):
        msm, cores = exact
        cmp, errors = comparisons[n_steps], comparisons[n_steps].errors
        pi = msm.stationary_distribution
        z = (cmp.set_populations["MD"] - pi[cores]) / errors["set_populations"]["MD"]
        assert np.all(np.abs(z) < 3)
        # every populated state; the states of one well move together (one slow mode)
        populated = pi > 0.01
        z = (cmp.populations["MD"] - pi)[populated] / errors["populations"]["MD"][populated]
        assert np.all(np.abs(z) < 3)
        exact_timescale = msm.timescales(1)[0]
        assert abs(cmp.timescales["MD"][0, 0] - exact_timescale) < 3 * \
            errors["timescales"]["MD"][0, 0]
        for a, b in ((0, 1), (1, 0)):
            exact_mfpt = msm.mfpt([cores[a]], [cores[b]])
            assert abs(cmp.mfpt["MD"][a, b] - exact_mfpt) < 3 * errors["mfpt"]["MD"][a, b]
            assert cmp.mfpt_events["MD"][a, b] >= 10

    def test_errors_shrink_with_data(self, comparisons):
        small, large = (comparisons[n].errors for n in (200_000, 800_000))
        # four times the data: about half the error (an error estimated from 10 blocks
        # and ~14 passages is itself uncertain by ~25%: both MFPT directions together)
        ratios = [large["set_populations"]["MD"] / small["set_populations"]["MD"],
                  large["mfpt"]["MD"].sum() / small["mfpt"]["MD"].sum(),
                  large["slowest_timescale"]["MD"] / small["slowest_timescale"]["MD"]]
        for ratio in ratios:
            assert np.all((0.3 < ratio) & (ratio < 0.85))


# -- Chapman-Kolmogorov test -----------------------------------------------------


def persistent_walk(n_steps, seed, n=6, keep=0.95):
    """Walk on 0..n-1 that keeps its direction with probability `keep`: not Markov."""
    rng = np.random.default_rng(seed)
    state, direction = 0, 1
    out = np.empty(n_steps, dtype=np.int64)
    flips = rng.random(n_steps) > keep
    for t in range(n_steps):
        out[t] = state
        if flips[t] or not 0 <= state + direction < n:
            direction = -direction
        state += direction
    return out


class TestChapmanKolmogorov:
    def test_markov_data_pass(self, cmp4):
        ck = cmp4.ck["MD"]
        np.testing.assert_array_equal(ck["lagtimes"], [0, *DEFAULT_LAGTIMES])
        assert ck["predictions"].shape == ck["estimates"].shape == (7, 2, 2)
        np.testing.assert_allclose(ck["predictions"][0], np.eye(2))
        np.testing.assert_allclose(ck["predictions"].sum(axis=2), 1.0)
        # exact: start from pi within {0, 1} (uniform), propagate with P4
        for k, lag in enumerate(ck["lagtimes"]):
            power = np.linalg.matrix_power(P4, lag)
            exact = 0.5 * power[:2, :2].sum()
            assert ck["predictions"][k, 0, 0] == pytest.approx(exact, abs=0.01)
        np.testing.assert_allclose(ck["estimates"], ck["predictions"], atol=0.01)
        assert set(cmp4.ck) == {"MD", "LSTM"}
        np.testing.assert_allclose(cmp4.ck["LSTM"]["estimates"], cmp4.ck["LSTM"]["predictions"],
                                   atol=0.02)

    def test_memory_fails(self):
        walk = persistent_walk(20_000, seed=0)
        cmp = compare(walk, walk, lagtimes=[1, 2, 5, 10], metastable_sets=[[0, 1, 2], [3, 4, 5]],
                      msm_simulation=False)
        ck = cmp.ck["MD"]
        np.testing.assert_array_equal(ck["lagtimes"], [0, 1, 2, 5, 10])
        # a diffusive Markov model leaves a set more slowly than the ballistic walk
        leave_predicted, leave_estimated = ck["predictions"][:, 0, 1], ck["estimates"][:, 0, 1]
        assert leave_estimated[3] > leave_predicted[3] + 0.1

    def test_msm_lag_multiples_only(self, two_state):
        ref, gen = two_state
        cmp = compare(ref, gen, msm_lag=2, lagtimes=[1, 3, 4, 6], msm_simulation=False)
        np.testing.assert_array_equal(cmp.ck["MD"]["lagtimes"], [0, 2, 4, 6])


# -- divergences and rate errors -------------------------------------------------


def kl(p, q):
    return sum(a * np.log(a / b) for a, b in zip(p, q) if a > 0)


class TestDivergence:
    def test_unseen_states_and_transitions_by_hand(self):
        ref = [0, 0, 1, 1, 0, 1, 1, 0]          # MD: states 0, 1; 0 <-> 1 only
        gen = [np.array([0, 2, 1, 1, 0, 0]), np.array([1, 0, 0, 0, 0, 0])]
        cmp = compare(ref, gen, n_states=3, metastable_sets=[[0], [1]])
        # 0 -> 2 and 2 -> 1 in 10 generated step pairs; 1 of 12 steps in state 2
        assert cmp.unseen["transitions"]["LSTM"] == pytest.approx(2 / 10 * 1e5)
        assert cmp.unseen["states"]["LSTM"] == pytest.approx(1 / 12)
        assert cmp.unseen["transitions"]["MSM"] == 0 and cmp.unseen["states"]["MSM"] == 0
        assert "MD" not in cmp.unseen["states"]

    def test_by_hand(self):
        cmp = compare([0, 0, 1, 1], [0, 0, 0, 1], metastable_sets=[[0], [1]],
                      msm_simulation=False)
        p, q = np.array([0.5, 0.5]), np.array([0.75, 0.25])
        m = (p + q) / 2
        assert cmp.divergence["LSTM"]["kl"] == pytest.approx(kl(p, q))
        assert cmp.divergence["LSTM"]["js"] == pytest.approx((kl(p, m) + kl(q, m)) / 2)

    @pytest.mark.filterwarnings("ignore:Multiple eigenvalues")  # periodic toy data
    def test_floor_for_unvisited_state(self):
        cmp = compare([0, 1, 2, 0, 1, 2], [0, 1, 0, 1, 0, 1], n_states=3,
                      metastable_sets=[[0], [1]], msm_simulation=False)
        expected = 2 / 3 * np.log((1 / 3) / 0.5) + 1 / 3 * np.log((1 / 3) / DIVERGENCE_FLOOR)
        assert cmp.divergence["LSTM"]["kl"] == pytest.approx(expected)
        assert 0 < cmp.divergence["LSTM"]["js"] < np.log(2)

    def test_exact_sources_are_close(self, cmp2):
        assert set(cmp2.divergence) == {"LSTM", "MSM"}
        for src in ("LSTM", "MSM"):
            assert 0 < cmp2.divergence[src]["js"] <= cmp2.divergence[src]["kl"] < 1e-3
            assert cmp2.rate_error[src]["mean_rates"] < 0.1
            assert cmp2.rate_error[src]["mean_mfpt"] < 0.1

    @pytest.mark.filterwarnings("ignore:Multiple eigenvalues")  # periodic toy data
    def test_rate_errors_by_hand(self):
        # MD: passages 0->1 and 1->0 twice each in 4 steps, 1 step long;
        # LSTM: once each in 4 steps, 2 steps long
        cmp = compare([0, 1, 0, 1, 0], [0, 0, 1, 1, 0], metastable_sets=[[0], [1]],
                      msm_simulation=False)
        errors = cmp.rate_error["LSTM"]
        np.testing.assert_allclose(errors["rates"], [[0, -0.5], [-0.5, 0]])
        np.testing.assert_allclose(errors["mfpt"], [[0, 1.0], [1.0, 0]])
        assert errors["mean_rates"] == pytest.approx(0.5)
        assert errors["mean_mfpt"] == pytest.approx(1.0)


# -- held-out path entropy -------------------------------------------------------


def order2_chain(seed, n=3):
    """Random order-2 chain: Q[a, b, c] = p(next c | last two a, b), and its entropy rate."""
    Q = np.random.default_rng(seed).dirichlet(np.full(n, 0.5), size=(n, n))
    pairs = np.zeros((n * n, n * n))  # first-order chain on pairs (a, b) -> (b, c)
    for a in range(n):
        for b in range(n):
            pairs[a * n + b, b * n:(b + 1) * n] = Q[a, b]
    pi = exact_stationary(pairs)
    entropy = -np.sum(pi[:, None] * Q.reshape(n * n, n) * np.log(Q.reshape(n * n, n)))
    return pairs, entropy


def order2_sample(pairs, n_steps, seed, n=3):
    return simulate(pairs, n_steps, seed=seed, start=1) % n


def entropy_rate(P):
    pi = exact_stationary(P)
    return -np.sum(pi[:, None] * P * np.log(P))


class TestMarkovCrossEntropy:
    def test_by_hand(self):
        # counts 0->1: 2, 1->0: 1; p(1 | 0) = (2 + 0.5) / (2 + 2 * 0.5)
        assert markov_cross_entropy([0, 1, 0, 1], [0, 1], 1, 2) == pytest.approx(-np.log(5 / 6))
        # order 0 scores every state; each state has count 2 of 4
        assert markov_cross_entropy([0, 1, 0, 1], [0, 1], 0, 2) == pytest.approx(np.log(2))
        # alpha = 1 (Laplace)
        assert markov_cross_entropy([0, 1, 0, 1], [0, 1], 1, 2, alpha=1.0) == pytest.approx(
            -np.log(3 / 4))

    def test_skip_and_unseen_context(self):
        # skip=2 scores only held_out[2] (1 after 0); an unseen context is uniform
        assert markov_cross_entropy([0, 1, 0, 1], [1, 0, 1], 1, 2, skip=2) == pytest.approx(
            -np.log(5 / 6))
        assert markov_cross_entropy([0, 0, 0], [1, 1], 1, 3) == pytest.approx(np.log(3))

    def test_no_ngram_across_trajectories(self):
        # joined, [0, 1] + [1, 0] would contain 1 -> 1
        value = markov_cross_entropy([[0, 1], [1, 0]], [1, 1], 1, 2)
        assert value == pytest.approx(-np.log(0.5 / 2))

    def test_order2_chain(self):
        pairs, entropy = order2_chain(seed=0)
        train = order2_sample(pairs, 200_000, seed=1)
        held_out = order2_sample(pairs, 100_000, seed=2)
        ce = {k: markov_cross_entropy(train, held_out, k, 3, skip=3) for k in (1, 2, 3)}
        assert ce[2] == pytest.approx(entropy, rel=0.02)
        assert ce[1] > ce[2] + 0.05
        assert ce[3] == pytest.approx(ce[2], abs=0.005)

    def test_order1_chain_ties(self):
        train = simulate(P3, 200_000, seed=3)
        held_out = simulate(P3, 100_000, seed=4)
        ce1 = markov_cross_entropy(train, held_out, 1, 3, skip=2)
        ce2 = markov_cross_entropy(train, held_out, 2, 3, skip=2)
        assert ce1 == pytest.approx(entropy_rate(P3), rel=0.02)
        assert ce2 == pytest.approx(ce1, abs=0.002)

    def test_in_compare(self):
        pairs, _ = order2_chain(seed=0)
        train = order2_sample(pairs, 20_000, seed=1)
        held_out = [order2_sample(pairs, 5_000, seed=s) for s in (2, 3)]
        cmp = compare(train, train, held_out=held_out, train=train, lstm_cross_entropy=0.7,
                      markov_orders=(1, 2), msm_simulation=False, lagtimes=[1])
        assert list(cmp.cross_entropy) == ["LSTM", "Markov order 1", "Markov order 2"]
        assert cmp.cross_entropy["LSTM"] == 0.7
        assert cmp.cross_entropy_skip == 2
        for k in (1, 2):
            assert cmp.cross_entropy[f"Markov order {k}"] == markov_cross_entropy(
                train, held_out, k, 3, skip=2)

    @pytest.mark.parametrize("kwargs, error, match", [
        ({"order": -1}, ValueError, "order must be a non-negative integer"),
        ({"order": 1.0}, TypeError, "order must be a non-negative integer"),
        ({"skip": 0}, ValueError, r"skip must be at least order=1"),
        ({"alpha": 0}, ValueError, "alpha must be a positive"),
        ({"n_states": 1}, ValueError, "train contains state 1"),
        ({"held_out": [0]}, ValueError, "held_out has no state to score"),
        ({"train": [0]}, ValueError, "train has no trajectory longer than order=1"),
        ({"train": [0.5, 1.0]}, TypeError, "train must hold integer"),
        ({"order": 70}, ValueError, "order=70 is too large for n_states=2"),
    ])
    def test_invalid(self, kwargs, error, match):
        args = {"train": [0, 1, 1, 0], "held_out": [0, 1, 0], "order": 1, "n_states": 2,
                **kwargs}
        with pytest.raises(error, match=match):
            markov_cross_entropy(**args)


# -- embeddings and fluxes -------------------------------------------------------


class TestEmbeddingAndFlux:
    def test_embedding_similarity(self):
        vectors = [[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [0.0, 0.0]]
        out = embedding_similarity(vectors)
        h = 1 / np.sqrt(2)
        np.testing.assert_allclose(out["cosine"], [[1, 0, h, 0], [0, 1, h, 0],
                                                   [h, h, 1, 0], [0, 0, 0, 0]])
        assert out["euclidean"].shape == (4, 4)
        assert out["euclidean"][0, 1] == pytest.approx(np.sqrt(5))
        assert out["euclidean"][2, 3] == pytest.approx(np.sqrt(18))
        np.testing.assert_allclose(np.diag(out["euclidean"]), 0)

    @pytest.mark.parametrize("embedding, error, match", [
        ([1.0, 2.0], ValueError, r"embedding must be a non-empty finite 2-D array.*\(2,\)"),
        ([[1.0, np.nan]], ValueError, "embedding must be a non-empty finite"),
        ([["a", "b"]], TypeError, "embedding must be an array of numbers"),
    ])
    def test_embedding_invalid(self, embedding, error, match):
        with pytest.raises(error, match=match):
            embedding_similarity(embedding)

    def test_flux_of_exact_model(self):
        flux = msm_flux(MarkovStateModel(P2))
        np.testing.assert_allclose(flux, [[0, 1 / 30], [1 / 30, 0]])
        np.testing.assert_allclose(msm_flux(MarkovStateModel(P2), net=True), 0, atol=1e-15)
        cycle = np.array([[0.1, 0.9, 0.0], [0.0, 0.1, 0.9], [0.9, 0.0, 0.1]])
        net = msm_flux(MarkovStateModel(cycle), n_states=4, net=True)
        np.testing.assert_allclose(net[:3, :3], [[0, 0.3, 0], [0, 0, 0.3], [0.3, 0, 0]])
        assert np.all(net[3] == 0) and np.all(net[:, 3] == 0)

    def test_flux_of_comparison(self, cmp4):
        flux, msm = cmp4.flux, cmp4.msm["MD"]
        assert flux.shape == (5, 5)
        assert np.all(flux[4] == 0) and np.all(flux[:, 4] == 0) and np.all(np.diag(flux) == 0)
        np.testing.assert_allclose(flux, flux.T, atol=1e-12)  # reversible
        pi, P = msm.stationary_distribution, msm.transition_matrix
        np.testing.assert_allclose(flux[0, 1], pi[0] * P[0, 1])
        np.testing.assert_allclose(flux[:4].sum(axis=1), pi * (1 - np.diag(P)))

    def test_flux_invalid(self):
        with pytest.raises(TypeError, match="msm must be a deeptime MarkovStateModel"):
            msm_flux(P2)
        with pytest.raises(ValueError, match="n_states must exceed the MSM's largest state 1"):
            msm_flux(MarkovStateModel(P2), n_states=1)


# -- verdicts --------------------------------------------------------------------


class TestVerdicts:
    def test_wrong_kinetics_warn(self, two_state):
        ref, _ = two_state
        wrong = np.array([simulate(P2[::-1, ::-1], 25_000, seed=s) for s in (2, 3)])
        rows = {r["quantity"]: r for r in compare(ref, wrong, msm_simulation=False).summary()}
        assert rows["population S0"]["verdict"] == "warn"
        assert rows["MFPT S0->S1"]["verdict"] == "warn"
        # the total switch rate is the same for the mirrored chain
        assert rows["transitions per time"]["verdict"] == "pass"

    def test_tolerances(self):
        assert set(TOLERANCES) == {"population", "mfpt", "timescale", "rate"}
        assert TOLERANCES["population"]["absolute"] == 0.02
        assert TOLERANCES["mfpt"]["relative"] == TOLERANCES["timescale"]["relative"] == 0.2
        assert all(t["n_se"] == 2.0 for t in TOLERANCES.values())


def test_chain_that_never_visits_a_pair_of_sets():
    """A trajectory in neither set of a pair has no passages (and does not crash)."""
    from mdlstm.validate._statistics import _passages
    start, duration = _passages(np.array([2, 2, 2]), 0, 1)
    assert start.size == 0 and duration.size == 0
    start, duration = _passages(np.array([0, 2, 1, 1, 0, 1]), 0, 1)
    np.testing.assert_array_equal(start, [0, 4])
    np.testing.assert_array_equal(duration, [2, 1])
