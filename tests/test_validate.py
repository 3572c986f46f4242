"""Tests for mdlstm.validate: statistics checked against exact Markov chains."""

import json

import numpy as np
import pytest
from deeptime.markov.msm import MarkovStateModel

from mdlstm.validate import DEFAULT_LAGTIMES, Comparison, compare, estimate_msm

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


def simulate(P, n_steps, seed):
    return MarkovStateModel(P).simulate(n_steps, seed=seed)


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
        assert all(set(r) == {"quantity", "unit", "MD", "LSTM", "MSM"} for r in rows)
        assert all(isinstance(r[s], float) for r in rows for s in cmp2.sources)
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
        assert mfpt_line.split()[-3:] == [f"{cmp2.mfpt[s][0, 1]:.4g}" for s in cmp2.sources]
        table = lines[4:]
        assert len({len(line) for line in table}) == 1  # aligned, right-justified

    def test_to_dict_is_json(self, cmp2):
        data = json.loads(json.dumps(cmp2.to_dict(), allow_nan=False))
        assert data["sources"] == ["MD", "LSTM", "MSM"]
        assert data["populations"]["MD"] == pytest.approx(cmp2.populations["MD"].tolist())
        assert data["mfpt_events"]["MSM"] == cmp2.mfpt_events["MSM"].tolist()
        assert len(data["summary"]) == 6
        assert "msm" not in data


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
        assert all(set(row) == {"quantity", "unit", "MD", "LSTM"} for row in cmp3.summary())
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
])
def test_invalid_arguments(kwargs, error, match):
    args = {"reference": GOOD, "generated": GOOD, **kwargs}
    with pytest.raises(error, match=match):
        compare(**args)


def test_pcca_needs_enough_connected_states():
    # only states 0 and 1 are connected; state 2 is entered once and never left
    with pytest.raises(ValueError, match="n_metastable=3 is larger than the 2 states"):
        compare([0, 1, 0, 1, 2], [0, 1, 0, 1], n_metastable=3)
