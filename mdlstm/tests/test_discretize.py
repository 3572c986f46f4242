"""Tests for mdlstm.discretize: states, preprocessing, round trips, errors."""
import json

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from threadpoolctl import threadpool_limits

from mdlstm.discretize import Discretizer, remove_short_visits, running_mean

PI = np.pi
PAPER_CENTERS = [2.0, 0.5, -0.5, -2.0]


@pytest.fixture(autouse=True, scope="module")
def one_openmp_thread():
    """k-means on a few hundred points: OpenMP threads only add spin-waiting
    (seconds per fit on a busy shared CI machine)."""
    import sklearn.cluster  # noqa: F401  (threadpoolctl limits loaded libraries only)

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def paper_disc(**kwargs):
    return Discretizer(method="centers", centers=PAPER_CENTERS, **kwargs)


# ---------------------------------------------------------------- uniform
def test_uniform_exact_states_edges_and_centres():
    x = np.arange(10.0)                     # bins of width 1.8 over [0, 9]
    disc = Discretizer(n_states=5).fit(x)
    assert disc.n_states_ == 5
    assert_allclose(disc.edges_, [0.0, 1.8, 3.6, 5.4, 7.2, 9.0])
    assert_allclose(disc.centers_, [0.9, 2.7, 4.5, 6.3, 8.1])
    dtraj = disc.transform(x)
    assert dtraj.dtype == np.int64
    assert_array_equal(dtraj, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])


def test_out_of_range_goes_to_edge_states():
    disc = Discretizer(n_states=4, range=(0.0, 4.0)).fit([1.0, 2.0])
    assert_array_equal(disc.transform([-100.0, -0.01, 0.0, 3.999, 4.0, 1e9]),
                       [0, 0, 0, 3, 3, 3])
    assert_allclose(disc.inverse_transform([0, 1, 2, 3]), [0.5, 1.5, 2.5, 3.5])


def test_uniform_constant_with_range_is_fine():
    disc = Discretizer(n_states=2, range=(0.0, 2.0)).fit(np.ones(5))
    assert_array_equal(disc.transform(np.ones(5)), np.ones(5, dtype=int))


# ---------------------------------------------------------------- periodic
def test_periodic_bins_cover_period_whatever_the_data():
    disc = Discretizer(n_states=4, periodic=2 * PI).fit(np.linspace(0.0, 1.0, 50))
    assert_allclose(disc.edges_, [-PI, -PI / 2, 0.0, PI / 2, PI])
    assert_allclose(disc.centers_, [-0.75 * PI, -0.25 * PI, 0.25 * PI, 0.75 * PI])
    # -pi and pi are one point; 3*pi/4 + 2*pi wraps back into bin 3.
    assert_array_equal(disc.transform([-PI, PI, 0.75 * PI + 2 * PI, -0.1, 0.1]),
                       [0, 0, 3, 1, 2])
    # The default phase puts an edge at +-pi: its two sides are different bins.
    assert_array_equal(disc.transform([PI - 1e-6, -PI + 1e-6]), [3, 0])


def test_periodic_values_either_side_of_pi_share_a_bin_without_edge_there():
    width = 2 * PI / 8
    disc = Discretizer(n_states=8, periodic=2 * PI,
                       range=(-PI - width / 2, PI - width / 2)).fit([0.0])
    states = disc.transform([PI - 0.1, -PI + 0.1, PI, -PI])
    assert_array_equal(states, [0, 0, 0, 0])
    assert_allclose(disc.inverse_transform(0), -PI)


def test_periodic_centres_wrap_into_half_open_period():
    disc = Discretizer(method="centers", centers=[-PI, 0.0], periodic=2 * PI).fit([0.0])
    assert_allclose(disc.centers_, [PI, 0.0])
    assert_allclose(disc.inverse_transform([0, 1]), [PI, 0.0])
    # Nearest centre on the circle: 3.0 and -3.0 are both near +-pi.
    assert_array_equal(disc.transform([3.0, -3.0, 1.5, -1.5]), [0, 0, 1, 1])


# ---------------------------------------------------------------- quantile
def test_quantile_equal_counts():
    x = np.random.default_rng(1).exponential(size=1000)
    disc = Discretizer(n_states=4, method="quantile").fit(x)
    assert_array_equal(np.bincount(disc.transform(x)), [250, 250, 250, 250])
    assert_allclose(disc.centers_, 0.5 * (disc.edges_[:-1] + disc.edges_[1:]))


# ---------------------------------------------------------------- kmeans
@pytest.fixture(scope="module")
def three_clusters():
    rng = np.random.default_rng(0)
    means = [5.0, -3.0, 0.0]                # deliberately not sorted
    x = np.concatenate([rng.normal(m, 0.1, 200) for m in means])
    return x, np.repeat([2, 0, 1], 200)


def test_kmeans_recovers_clusters_in_order(three_clusters):
    x, truth = three_clusters
    disc = Discretizer(n_states=3, method="kmeans", seed=0).fit(x)
    assert_allclose(disc.centers_, [-3.0, 0.0, 5.0], atol=0.02)
    assert disc.edges_ is None
    assert_array_equal(disc.transform(x), truth)
    again = Discretizer(n_states=3, method="kmeans", seed=0).fit(x)
    assert_array_equal(again.centers_, disc.centers_)


def test_kmeans_periodic_keeps_a_cluster_across_pi():
    rng = np.random.default_rng(2)
    x = np.concatenate([np.angle(np.exp(1j * rng.normal(PI, 0.1, 200))),
                        rng.normal(0.0, 0.1, 200)])
    disc = Discretizer(n_states=2, method="kmeans", periodic=2 * PI, seed=0).fit(x)
    assert_allclose(np.abs(disc.centers_), [0.0, PI], atol=0.03)
    assert_array_equal(np.bincount(disc.transform(x)), [200, 200])


# ---------------------------------------------------------------- centers
def test_centers_paper_order():
    disc = paper_disc().fit([0.0])
    assert disc.n_states_ == 4
    assert_array_equal(disc.transform([1.9, -1.9, 0.1, -0.1, 1.3, 1.2, -1.3, 9.0]),
                       [0, 3, 1, 2, 0, 1, 3, 0])
    assert_allclose(disc.inverse_transform([0, 1, 2, 3]), PAPER_CENTERS)


# ---------------------------------------------------------------- smoothing
@pytest.mark.parametrize("window", [1, 4, 5])
def test_running_mean_matches_convolve_valid_inside(window):
    x = np.random.default_rng(3).normal(size=40)
    smooth = running_mean(x, window)
    valid = np.convolve(x, np.ones(window) / window, mode="valid")
    assert smooth.shape == x.shape
    half = window // 2
    assert_allclose(smooth[half:half + valid.size], valid, rtol=0, atol=1e-12)
    # Ends average what exists of the window.
    assert_allclose(smooth[0], x[:window - half].mean())
    assert_allclose(smooth[-1], x[-(half + 1):].mean())


def test_running_mean_small_example():
    assert_allclose(running_mean(np.array([0.0, 0.0, 3.0, 0.0, 0.0]), 3),
                    [0.0, 1.0, 1.0, 1.0, 0.0])


def test_periodic_smoothing_straddling_pi():
    x = np.tile([PI - 0.1, -PI + 0.1], 10)
    smooth = running_mean(x, 4, period=2 * PI)
    assert_allclose(np.abs(smooth[2:-1]), PI, atol=1e-9)    # full windows: 2 + 2 values
    assert np.all(np.abs(smooth) > PI - 0.05)              # cut windows: near pi too
    assert_allclose(running_mean(x, 4)[2:-1], 0.0, atol=1e-9)   # the naive mean
    # In the discretizer: a bin centred on +-pi catches them, not the bin at 0.
    width = PI / 2
    disc = Discretizer(n_states=4, periodic=2 * PI, smooth=4,
                       range=(-PI - width / 2, PI - width / 2)).fit(x)
    assert_array_equal(disc.transform(x), np.zeros(x.size, dtype=int))


def test_smooth_in_transform_keeps_length_and_uses_running_mean():
    x = np.random.default_rng(4).normal(size=101)
    disc = Discretizer(n_states=6, range=(-1.0, 1.0), smooth=7).fit(x)
    plain = Discretizer(n_states=6, range=(-1.0, 1.0)).fit(x)
    dtraj = disc.transform(x)
    assert dtraj.shape == (101,)
    assert_array_equal(dtraj, plain.transform(running_mean(x, 7)))


# ---------------------------------------------------------------- min_dwell
@pytest.mark.parametrize("labels, min_dwell, expected", [
    ("000010000", 2, "000000000"),          # a one-frame visit disappears
    ("000112222", 2, "000022222"),          # split at the midpoint: 0 -> 2 jump
    ("0011122", 3, "0000222"),              # odd gap: earlier state gets ceil(3/2)
    ("0012333", 1, "0000333"),              # a chain of one-frame visits collapses
    ("000011100001", 2, "000011100001"),     # 3-frame visit and trailing change kept
    ("0101010", 1, "0000000"),              # recrossings erased
    ("1", 5, "1"),
])
def test_remove_short_visits_worked_examples(labels, min_dwell, expected):
    dtraj = np.array([int(c) for c in labels])
    out = remove_short_visits(dtraj, min_dwell)
    assert "".join(map(str, out)) == expected
    assert "".join(map(str, dtraj)) == labels            # input untouched


def test_min_dwell_in_transform():
    disc = Discretizer(method="centers", centers=[0.0, 1.0, 2.0], min_dwell=2).fit([0.0])
    x = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2], dtype=float)
    assert_array_equal(disc.transform(x), [0, 0, 0, 0, 2, 2, 2, 2, 2])


# ---------------------------------------------------------------- core sets
def test_core_sets_nearest_centres():
    # Cores at f=0.5: state 0 x > 1.625, state 1 [0.25, 0.875],
    # state 2 [-0.875, -0.25], state 3 x < -1.625.
    x = np.array([0.1, 0.5, 1.3, 1.0, 1.7, 0.9, -0.3, 0.1, -1.7, 5.0])
    assert_array_equal(paper_disc().fit(x).transform(x), [1, 1, 0, 1, 0, 1, 2, 1, 3, 0])
    assert_array_equal(paper_disc(core=0.5).fit(x).transform(x),
                       [1, 1, 1, 1, 0, 0, 2, 2, 3, 0])


def test_core_sets_uniform_bins():
    # Bins of width 1 on [0, 3]; cores at f=0.5: [.25, .75], [1.25, 1.75], [2.25, 2.75]
    # with the outer sides of the edge states unbounded.
    disc = Discretizer(n_states=3, range=(0.0, 3.0), core=0.5).fit([0.0])
    x = [0.9, 0.5, 1.1, 1.5, 2.1, 1.9, 2.8, 2.2, 0.6, -4.0, 1.2, 9.0]
    # 0.9 comes before any core visit, so it keeps its own bin.
    assert_array_equal(disc.transform(x), [0, 0, 0, 1, 1, 1, 2, 2, 0, 0, 0, 2])


def test_core_then_min_dwell():
    disc = paper_disc(core=0.5, min_dwell=1).fit([0.0])
    # core: 1 1 0 1 1 ; min_dwell then erases the single 0.
    assert_array_equal(disc.transform([0.5, 1.0, 1.9, 0.5, 0.5]), [1, 1, 1, 1, 1])


def test_core_full_fraction_equals_plain():
    x = np.random.default_rng(5).normal(size=200)
    plain = Discretizer(n_states=5, method="quantile").fit(x)
    full = Discretizer(n_states=5, method="quantile", core=1.0).fit(x)
    assert_array_equal(full.transform(x), plain.transform(x))


# ---------------------------------------------------------------- several trajectories
def test_lists_keep_trajectory_boundaries():
    disc = Discretizer(method="centers", centers=[0.0, 1.0], min_dwell=2, smooth=3)
    out = disc.fit_transform([np.zeros(5), np.ones(5), [0.0, 0.0, 0.0, 1.0]])
    assert isinstance(out, list) and len(out) == 3
    assert_array_equal(out[0], np.zeros(5))             # no smoothing leak from 1s
    assert_array_equal(out[1], np.ones(5))
    # Alone, the last trajectory's final change is not a short visit.
    assert_array_equal(out[2], [0, 0, 0, 1])
    joined = disc.transform(np.concatenate([np.zeros(5), np.ones(5)]))
    assert_array_equal(joined, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])


def test_fit_pools_trajectories_and_containers():
    disc = Discretizer(n_states=2).fit([np.array([0.0, 1.0]), np.array([3.0])])
    assert_allclose(disc.edges_, [0.0, 1.5, 3.0])
    assert isinstance(disc.transform([0.0, 3.0]), np.ndarray)   # list of floats: one
    assert_array_equal(disc.transform((0.0, 3.0)), [0, 1])
    states = np.array([[0, 1, 1], [1, 0, 0]])
    assert_allclose(disc.inverse_transform(states), [[0.75, 2.25, 2.25], [2.25, 0.75, 0.75]])
    back = disc.inverse_transform([np.array([0]), np.array([1, 1])])
    assert isinstance(back, list)
    assert_allclose(back[1], [2.25, 2.25])


def test_fit_transform_equals_fit_then_transform(three_clusters):
    x, _ = three_clusters
    kwargs = dict(n_states=7, smooth=3, min_dwell=2, core=0.8)
    assert_array_equal(Discretizer(**kwargs).fit_transform(x),
                       Discretizer(**kwargs).fit(x).transform(x))


# ---------------------------------------------------------------- serialisation
@pytest.mark.parametrize("kwargs", [
    dict(n_states=5, smooth=3, min_dwell=4, core=0.7),
    dict(n_states=6, periodic=2 * PI, range=(0.0, 2 * PI)),
    dict(n_states=4, method="quantile"),
    dict(n_states=3, method="kmeans", seed=1, periodic=2 * PI),
    dict(method="centers", centers=PAPER_CENTERS, core=0.5, min_dwell=10),
])
def test_to_dict_from_dict_round_trip_through_json(kwargs):
    x = np.random.default_rng(6).uniform(-3, 3, size=300)
    disc = Discretizer(**kwargs).fit(x)
    restored = Discretizer.from_dict(json.loads(json.dumps(disc.to_dict())))
    assert restored.n_states_ == disc.n_states_
    assert_array_equal(restored.centers_, disc.centers_)
    probe = np.random.default_rng(7).uniform(-8, 8, size=500)
    assert_array_equal(restored.transform(probe), disc.transform(probe))
    assert restored.to_dict() == disc.to_dict()


def test_from_dict_rejects_foreign_dicts():
    with pytest.raises(ValueError, match="Discretizer.to_dict"):
        Discretizer.from_dict({"type": "other"})
    good = Discretizer(n_states=2).fit([0.0, 1.0]).to_dict()
    with pytest.raises(ValueError, match="version 99"):
        Discretizer.from_dict({**good, "version": 99})
    with pytest.raises(ValueError, match="lacks the key 'edges_'"):
        Discretizer.from_dict({k: v for k, v in good.items() if k != "edges_"})


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(n_states=1), ValueError, "n_states must be at least 2"),
    (dict(n_states=2.5), TypeError, "n_states must be a positive integer"),
    (dict(n_states=True), TypeError, "n_states must be a positive integer"),
    (dict(), ValueError, "n_states is required for method 'uniform'"),
    (dict(n_states=3, method="bins"), ValueError,
     "method must be one of 'uniform', 'quantile', 'kmeans', 'centers'"),
    (dict(method="centers"), ValueError, "centers is required"),
    (dict(n_states=3, method="centers", centers=[1.0, 2.0]), ValueError,
     r"n_states \(3\) must equal len\(centers\) \(2\)"),
    (dict(method="centers", centers=[1.0, 3.0, 2.0]), ValueError,
     "centers must be sorted"),
    (dict(method="centers", centers=[1.0, 1.0, 2.0]), ValueError,
     "centers must be unique"),
    (dict(method="centers", centers=[1.0]), ValueError, "at least 2 values"),
    (dict(method="centers", centers=[-3.0, 3.5], periodic=2 * PI), ValueError,
     "within one period"),
    (dict(n_states=3, centers=[1.0, 2.0, 3.0]), ValueError,
     "centers is only used by method 'centers'"),
    (dict(n_states=3, range=(2.0, 1.0)), ValueError, "range must be .lo, hi. with lo < hi"),
    (dict(n_states=3, range=(1.0, 1.0)), ValueError, "range must be"),
    (dict(n_states=3, range=(0.0, np.inf)), ValueError, "range contains a non-finite"),
    (dict(n_states=3, method="kmeans", range=(0.0, 1.0)), ValueError,
     "range is only used by method 'uniform'"),
    (dict(n_states=3, periodic=2 * PI, range=(0.0, 3.0)), ValueError,
     "range must span exactly one period"),
    (dict(n_states=3, periodic=0.0), ValueError, "periodic must be a positive"),
    (dict(n_states=3, periodic=-1.0), ValueError, "periodic must be a positive"),
    (dict(n_states=3, method="quantile", periodic=2 * PI), ValueError,
     "'quantile' does not support a periodic CV"),
    (dict(n_states=3, smooth=0), ValueError, "smooth must be a positive integer"),
    (dict(n_states=3, smooth=2.0), TypeError, "smooth must be a positive integer"),
    (dict(n_states=3, min_dwell=0), ValueError, "min_dwell must be a positive integer"),
    (dict(n_states=3, core=0.0), ValueError, "core must be a positive"),
    (dict(n_states=3, core=1.5), ValueError, r"core must be in \(0, 1\]"),
    (dict(n_states=3, seed=-1), TypeError, "seed must be a non-negative integer"),
])
def test_bad_parameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Discretizer(**kwargs)


def test_parameters_rechecked_in_fit():
    disc = Discretizer(n_states=3)
    disc.n_states = 0
    with pytest.raises(ValueError, match="n_states"):
        disc.fit([0.0, 1.0])


@pytest.mark.parametrize("values, exc, match", [
    ([], ValueError, "values is empty"),
    (np.zeros((3, 2, 1)), ValueError, r"values must be 1-D or 2-D \(n_frames, n_cv\), got shape"),
    (np.zeros((3, 2)), ValueError, "method 'uniform' takes one CV; for 2 CV columns"),
    ([np.zeros(3), np.zeros((3, 2))], ValueError, "the same number of CV columns"),
    (np.array([0.0, 1.0, np.nan]), ValueError,
     r"values contains a non-finite value \(nan\) at index 2"),
    ([np.zeros(3), np.array([0.0, np.inf])], ValueError,
     r"values\[1\] contains a non-finite value \(inf\) at index 1"),
    ([np.zeros(3), np.array([])], ValueError, r"values\[1\] is empty"),
    ([np.zeros(3), 1.0], ValueError, r"values\[1\] must be 1-D or 2-D"),
    (["a", "b"], TypeError, "values must be an array of numbers"),
])
def test_bad_values(values, exc, match):
    with pytest.raises(exc, match=match):
        Discretizer(n_states=2).fit(values)


def test_constant_cv_without_range():
    with pytest.raises(ValueError, match="CV is constant"):
        Discretizer(n_states=3).fit(np.full(10, 0.5))


def test_quantile_too_few_distinct_values():
    with pytest.raises(ValueError, match="too few distinct values for n_states=4"):
        Discretizer(n_states=4, method="quantile").fit([0.0, 0.0, 0.0, 0.0, 1.0])


def test_kmeans_more_states_than_distinct_values():
    with pytest.raises(ValueError, match=r"n_states \(4\) exceeds the number of "
                                         r"distinct values \(3\)"):
        Discretizer(n_states=4, method="kmeans").fit([0.0, 1.0, 2.0, 1.0])


def test_transform_before_fit():
    from sklearn.exceptions import NotFittedError

    disc = Discretizer(n_states=3)
    for call in (disc.transform, disc.inverse_transform):
        with pytest.raises(NotFittedError, match="not fitted yet: call fit"):
            call([0])
    with pytest.raises(ValueError, match="not fitted"):
        disc.to_dict()


def test_bad_states_in_inverse_transform():
    disc = Discretizer(n_states=3).fit([0.0, 1.0])
    with pytest.raises(ValueError, match="states contains state 3"):
        disc.inverse_transform([0, 3])
    with pytest.raises(ValueError, match="states contains state -1"):
        disc.inverse_transform([-1])
    with pytest.raises(TypeError, match="states must hold integer states"):
        disc.inverse_transform([0.5])


def test_helper_functions_check_arguments():
    with pytest.raises(ValueError, match="window must be a positive integer"):
        running_mean(np.zeros(3), 0)
    with pytest.raises(ValueError, match=r"x contains a non-finite value \(nan\) at index 0"):
        running_mean([np.nan], 2)
    with pytest.raises(ValueError, match=r"dtraj must be 1-D, got shape \(2, 2\)"):
        remove_short_visits(np.zeros((2, 2), dtype=int), 1)
    with pytest.raises(TypeError, match="min_dwell must be a positive integer"):
        remove_short_visits(np.zeros(3, dtype=int), 1.5)


def test_states_between_picks_centres_inside_the_bounds():
    disc = Discretizer(n_states=4, range=(0.0, 4.0)).fit(np.linspace(0, 4, 100))
    np.testing.assert_array_equal(disc.states_between(1.0, 3.0), [1, 2])  # centres 1.5, 2.5
    np.testing.assert_array_equal(disc.states_between(-np.inf, 1.0), [0])
    with pytest.raises(ValueError, match="low must be below high"):
        disc.states_between(2.0, 1.0)
    with pytest.raises(Exception, match="fit"):
        Discretizer(n_states=4).states_between(0, 1)


# --------------------------------------------------------------------------
# several CV columns
# --------------------------------------------------------------------------
def _two_basins(rng, n=500):
    """(phi, psi) in radians: one basin straddling phi = +-pi, one at phi = 0."""
    phi = np.concatenate([rng.normal(np.pi - 0.05, 0.1, n), rng.normal(0.0, 0.1, n)])
    phi = (phi + np.pi) % (2 * np.pi) - np.pi
    return np.column_stack([phi, rng.normal(0.0, 0.1, 2 * n)])


def test_kmeans_across_the_periodic_boundary():
    x = _two_basins(np.random.default_rng(0))
    # about half of the first basin's frames sit just below -pi + 0.1, half above pi - 0.1
    assert 100 < np.count_nonzero(x[:500, 0] < 0) < 400
    disc = Discretizer(n_states=2, method="kmeans", periodic=[2 * np.pi, None], seed=0)
    states = disc.fit_transform(x)
    assert np.unique(states[:500]).size == 1 and np.unique(states[500:]).size == 1
    assert states[0] != states[-1]
    boundary = disc.centers_[states[0]]
    assert abs(abs(boundary[0]) - np.pi) < 0.1       # the circular mean, not phi = 0
    assert disc.centers_.shape == (2, 2)
    # without the period the straddling basin is cut in two
    flat = Discretizer(n_states=2, method="kmeans", seed=0).fit_transform(x)
    assert np.unique(flat[:500]).size == 2


def test_features_are_standardised_by_default():
    rng = np.random.default_rng(1)
    basin = rng.integers(0, 2, 2000)
    x = np.column_stack([basin + rng.normal(0, 0.05, 2000),     # two basins, small units
                         rng.normal(0, 100.0, 2000)])          # structureless, large units
    found = Discretizer(n_states=2, method="kmeans", seed=0).fit_transform(x)
    agreement = np.mean(found == basin)
    assert max(agreement, 1 - agreement) == 1.0
    raw = Discretizer(n_states=2, method="kmeans", standardize=False, seed=0).fit_transform(x)
    agreement = np.mean(raw == basin)
    assert max(agreement, 1 - agreement) < 0.6


def test_tica_keeps_the_slow_column():
    rng = np.random.default_rng(2)
    slow = np.repeat(rng.integers(0, 2, 40), 100).astype(float)    # switches every 100 frames
    x = np.column_stack([slow + rng.normal(0, 0.3, slow.size), rng.normal(0, 1.0, slow.size)])
    disc = Discretizer(n_states=2, method="kmeans", tica_lag=10, tica_dim=1, seed=0)
    states = disc.fit_transform(x)
    agreement = np.mean(states == slow)
    assert max(agreement, 1 - agreement) > 0.95


def test_grid_states_and_centres():
    disc = Discretizer(n_states=(4, 2), method="grid", periodic=[2 * np.pi, None])
    x = np.array([[-3.1, 0.0], [3.1, 1.0], [0.1, 0.0], [np.pi, 1.0]])
    states = disc.fit_transform(x)
    # phi bins of pi/2 from -pi; the last column varies fastest
    np.testing.assert_array_equal(states, [0, 7, 4, 1])
    np.testing.assert_allclose(disc.inverse_transform([0, 7]),
                               [[-3 * np.pi / 4, 0.25], [3 * np.pi / 4, 0.75]])
    assert disc.n_states_ == 8 and len(disc.edges_) == 2


def test_regspace_centres_are_dmin_apart():
    x = _two_basins(np.random.default_rng(3))
    disc = Discretizer(method="regspace", dmin=0.5, periodic=[2 * np.pi, None]).fit(x)
    y = disc._space(disc.centers_)
    assert disc.n_states_ >= 2
    assert disc.inverse_transform(np.arange(disc.n_states_)).shape == (disc.n_states_, 2)
    gaps = np.linalg.norm(disc._clusters[:, None] - disc._clusters[None], axis=-1)
    assert gaps[~np.eye(disc.n_states_, dtype=bool)].min() >= 0.5
    assert y.shape[1] == 3       # cos phi, sin phi, psi


@pytest.mark.parametrize("disc", [
    Discretizer(n_states=4, method="kmeans", periodic=[2 * np.pi, None], tica_lag=5, seed=0),
    Discretizer(n_states=(3, 2), method="grid", periodic=[2 * np.pi, None], smooth=3),
    Discretizer(method="regspace", dmin=0.7, min_dwell=2),
], ids=["kmeans-tica", "grid", "regspace"])
def test_columns_round_trip_through_json(disc):
    x = [_two_basins(np.random.default_rng(4)), _two_basins(np.random.default_rng(5), 100)]
    states = disc.fit_transform(x)
    back = Discretizer.from_dict(json.loads(json.dumps(disc.to_dict())))
    for a, b in zip(back.transform(x), states):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.centers_, disc.centers_)
    assert back.n_cv_ == 2 and back.get_params() == disc.get_params()


def test_one_column_of_a_matrix_is_one_cv_for_the_column_methods():
    x = np.linspace(0, 1, 50)
    disc = Discretizer(n_states=(5,), method="grid").fit(x)
    np.testing.assert_array_equal(disc.transform(x), disc.transform(x[:, None]))
    assert disc.inverse_transform([0]).shape == (1, 1)


@pytest.mark.parametrize("disc, values, match", [
    (Discretizer(n_states=3, method="kmeans"), np.column_stack([np.zeros(5), np.ones(5)]),
     r"n_states \(3\) exceeds the number of distinct points \(1\)"),
    (Discretizer(n_states=2, method="kmeans", tica_lag=20),
     np.random.default_rng(0).normal(size=(20, 2)),
     r"tica_lag \(20 frames\) must be shorter than the longest trajectory \(20 frames\)"),
    (Discretizer(n_states=2, method="kmeans", periodic=[2 * np.pi, None], tica_lag=2, tica_dim=4),
     np.random.default_rng(0).normal(size=(50, 2)),
     r"tica_dim \(4\) exceeds the number of features \(3"),
    (Discretizer(n_states=2, method="kmeans"), np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 0.0]]),
     r"non-finite value \(nan\) at frame 1, column 0"),
    (Discretizer(n_states=2, method="kmeans", periodic=[2 * np.pi]), np.zeros((4, 2)),
     "periodic has 1 entries, but the values have 2 CV columns"),
    (Discretizer(n_states=2, method="kmeans", periodic=2 * np.pi), np.zeros((4, 2)),
     "periodic must give one period per CV column"),
    (Discretizer(n_states=(2, 2, 2), method="grid"), np.random.default_rng(0).normal(size=(9, 2)),
     "n_states gives bins for 3 columns"),
    (Discretizer(n_states=2, core=0.5, method="kmeans"), np.zeros((4, 2)), "core is for one CV"),
])
def test_bad_columns(disc, values, match):
    with pytest.raises(ValueError, match=match):
        disc.fit(values)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"method": "regspace"}, ValueError, "dmin is required"),
    ({"n_states": 2, "dmin": 0.1}, ValueError, "dmin is only used by method 'regspace'"),
    ({"n_states": 2, "method": "kmeans", "tica_dim": 2}, ValueError, "tica_dim needs tica_lag"),
    ({"n_states": 2, "tica_lag": 2}, ValueError, "tica_lag is used by methods"),
    ({"n_states": 2, "method": "kmeans", "standardize": "yes"}, TypeError, "standardize"),
    ({"n_states": (2, 1), "method": "grid"}, ValueError, r"n_states\[1\] must be at least 2"),
    ({"n_states": 2, "method": "kmeans", "periodic": [2 * np.pi, -1.0]}, ValueError,
     r"periodic\[1\]"),
])
def test_bad_column_parameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Discretizer(**kwargs)


def test_fitted_columns_refuse_other_shapes():
    x = _two_basins(np.random.default_rng(6))
    disc = Discretizer(n_states=2, method="kmeans", seed=0).fit(x)
    with pytest.raises(ValueError, match="values has 3 CV columns, but this Discretizer was "
                                         "fitted to 2"):
        disc.transform(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="states_between is for one CV"):
        disc.states_between(0, 1)
    one = Discretizer(n_states=2).fit(np.arange(5.0))
    with pytest.raises(ValueError, match="fitted to one CV"):
        one.transform(np.zeros((4, 2)))


def test_kmeans_fits_a_strided_subsample_and_assigns_every_frame(monkeypatch):
    from mdlstm import _features

    seen = []
    fit = _features.kmeans_centers
    monkeypatch.setattr(_features, "KMEANS_MAX_FIT_FRAMES", 100)
    monkeypatch.setattr(_features, "kmeans_centers",
                        lambda y, n, seed: seen.append(len(y)) or fit(y, n, seed))
    x = _two_basins(np.random.default_rng(3), n=1000)
    states = Discretizer(n_states=2, method="kmeans", periodic=[2 * np.pi, None],
                         seed=0).fit_transform(x)
    assert seen == [100]                       # 2,000 frames, every 20th fitted
    assert states.shape == (2000,)
    assert np.unique(states[:1000]).size == 1 and np.unique(states[1000:]).size == 1
    assert states[0] != states[-1]
