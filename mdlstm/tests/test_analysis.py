"""Tests of mdlstm.analysis.LSTMDynamics on in-memory Universes with known dynamics."""

import pickle
import subprocess
import sys

import MDAnalysis as mda
import numpy as np
import pytest
from deeptime.markov.msm import MarkovStateModel

from mdlstm import (CVSeries, Discretizer, LSTMDynamics, LSTMEstimator,
                    TransformerEstimator, cv)
from mdlstm.analysis import DaskClientBackend
from mdlstm.tests.util import make_universe

P = np.array([[0.95, 0.04, 0.01],
              [0.05, 0.90, 0.05],
              [0.02, 0.06, 0.92]])
CENTERS = [-1.0, 0.0, 1.0]
FAST = dict(embedding_dim=4, hidden_size=16, seq_length=20, epochs=3, n_trajectories=8,
            device="cpu", seed=0)


def _universe(states, dt=2.0, seed=0):
    """One atom whose x is the centre of its state plus noise (Angstrom)."""
    rng = np.random.default_rng(seed)
    coords = np.zeros((len(states), 1, 3), dtype=np.float32)
    coords[:, 0, 0] = np.asarray(CENTERS)[states] + rng.uniform(-0.3, 0.3, len(states))
    return make_universe(coords, dt=dt)


@pytest.fixture(scope="module")
def chain():
    return MarkovStateModel(P).simulate(4000, seed=3)


def _finished(chain, backend):
    u = _universe(chain)
    disc = Discretizer(method="centers", centers=CENTERS)
    return LSTMDynamics(u, cv.Coordinate(u.atoms, "x"), discretizer=disc, **FAST).run(
        **backend)


@pytest.fixture(scope="module")
def finished(chain, backend):
    """The whole pipeline, its frame loop on each backend in turn."""
    return _finished(chain, backend)


@pytest.fixture(scope="module")
def serial(chain):
    return _finished(chain, {})


def test_results_are_the_pipeline(finished, chain):
    r = finished.results
    assert r.cv.shape == (4000,) and r.times.shape == (4000,)
    np.testing.assert_array_equal(r.dtraj, chain)  # noise never crosses a cell edge
    assert r.dt == pytest.approx(2.0)
    np.testing.assert_allclose(r.times, np.arange(4000) * 2.0)
    assert r.generated.shape == (8, 4000)
    assert r.model.n_states == 3
    assert r.model.metadata["dt"] == pytest.approx(2.0)
    assert r.model.metadata["discretizer"]["params"]["method"] == "centers"
    assert 1 <= len(r.history["train_loss"]) <= 3
    np.testing.assert_allclose(r.comparison.populations["MD"],
                               np.bincount(chain, minlength=3) / 4000)
    np.testing.assert_array_equal(r.trajectory_starts, [0])


def test_three_models_by_default_share_the_chains(finished):
    r = finished.results
    assert len(r.models) == len(r.histories) == 3 and r.model is r.models[0]
    np.testing.assert_array_equal(r.generated_models, [0, 0, 0, 1, 1, 1, 2, 2])
    seeds = [m.metadata["training"]["seed"] for m in r.models]
    assert seeds[0] == 0 and len(set(seeds)) == 3
    assert r.comparison.n_models == 3
    assert not np.array_equal(r.models[0].embedding, r.models[1].embedding)


def test_generated_populations_close_to_md(finished):
    pops = finished.results.comparison.populations
    np.testing.assert_allclose(pops["LSTM"], pops["MD"], atol=0.08)


def test_random_seed_is_recorded_and_reproduces_the_run(chain):
    u = _universe(chain[:600])
    x = cv.Coordinate(u.atoms, "x")
    first = LSTMDynamics(u, x, n_states=3, **{**FAST, "seed": None, "epochs": 1}).run()
    again = LSTMDynamics(u, x, n_states=3,
                         **{**FAST, "seed": first.results.seed, "epochs": 1}).run()
    np.testing.assert_array_equal(again.results.generated, first.results.generated)


def test_step_sets_the_model_time_step(chain):
    u = _universe(chain[:1000])
    run = LSTMDynamics(u, cv.Coordinate(u.atoms, "x"), n_states=3, **FAST).run(step=2)
    assert run.results.dt == pytest.approx(4.0)
    assert run.results.cv.shape == (500,)
    assert run.results.comparison.dt == pytest.approx(4.0)


def test_every_backend_gives_the_serial_run(finished, serial):
    for name in ("cv", "times", "dtraj", "generated"):
        np.testing.assert_array_equal(finished.results[name], serial.results[name])
    np.testing.assert_array_equal(finished.results.comparison.populations["LSTM"],
                                  serial.results.comparison.populations["LSTM"])


def test_dask_distributed_local_cluster_gives_the_serial_cv(chain):
    distributed = pytest.importorskip("distributed")
    u = _universe(chain[:600])
    x = cv.Coordinate(u.atoms, "x")
    serial = LSTMDynamics(u, x, n_states=3, **{**FAST, "epochs": 1}).run()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        run = LSTMDynamics(u, x, n_states=3, **{**FAST, "epochs": 1})
        run.run(client=client, n_parts=3)
        assert len(client.scheduler_info()["workers"]) == 2
        with pytest.raises(ValueError, match="neither another backend nor n_workers"):
            run.run(client=client, backend="multiprocessing")
    np.testing.assert_array_equal(run.results.cv, serial.results.cv)
    np.testing.assert_array_equal(run.results.dtraj, serial.results.dtraj)
    np.testing.assert_array_equal(run.results.times, serial.results.times)


def test_dask_client_backend_rejects_a_non_client():
    with pytest.raises(TypeError, match="client must be a dask.distributed Client"):
        DaskClientBackend("tcp://localhost:8786")


def test_unpickling_on_a_worker_imports_neither_torch_nor_deeptime(chain):
    """What a dask worker does with the analysis costs MDAnalysis' import only."""
    u = _universe(chain[:300])
    blob = pickle.dumps(LSTMDynamics(u, cv.Coordinate(u.atoms, "x"), n_states=3, **FAST))
    code = ("import pickle, sys; run = pickle.loads(sys.stdin.buffer.read()); "
            "print(type(run).__name__, 'torch' in sys.modules, 'deeptime' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True,
                         check=True)
    assert out.stdout.decode().split() == ["LSTMDynamics", "False", "False"]


def test_several_files_are_independent_trajectories(tmp_path, chain):
    """A Universe of two files: states are split at the file boundary."""
    u = _universe(chain[:300])
    paths = []
    for i, sl in enumerate((slice(0, 150), slice(150, 300))):
        path = tmp_path / f"part{i}.xyz"
        with mda.Writer(str(path), n_atoms=1) as w:
            for _ in u.trajectory[sl]:
                w.write(u.atoms)
        paths.append(str(path))
    multi = mda.Universe(paths[0], paths)
    run = LSTMDynamics(multi, cv.Coordinate(multi.atoms, "x"), n_states=3,
                       **FAST).run()
    np.testing.assert_array_equal(run.results.trajectory_starts, [0, 150])
    counts = run.results.comparison.transition_counts["MD"]
    d = run.results.dtraj
    inside = np.concatenate([np.c_[d[:149], d[1:150]], np.c_[d[150:-1], d[151:]]])
    inside = inside[inside[:, 0] != inside[:, 1]]
    assert counts.sum() == len(inside)


def test_one_run_split_over_files_stays_one_trajectory(tmp_path, chain):
    """continuous=True, or files whose own time goes on: one run; else independent runs."""
    u = _universe(chain[:300])
    paths = []
    for i, sl in enumerate((slice(0, 160), slice(150, 300))):   # 10 frames of overlap
        path = tmp_path / f"part{i}.xtc"
        with mda.Writer(str(path), n_atoms=1) as w:
            for ts in u.trajectory[sl]:
                w.write(u.atoms)
        paths.append(str(path))
    top = tmp_path / "top.pdb"
    u.atoms.write(str(top))
    joined = mda.Universe(str(top), paths, continuous=True)
    series = CVSeries(joined, cv.Coordinate(joined.atoms, "x")).run()
    assert series.results.cv.shape == (300,)
    np.testing.assert_array_equal(series.results.trajectory_starts, [0])
    overlapping = mda.Universe(str(top), paths)   # 310 frames: file 2 starts back in time
    series = CVSeries(overlapping, cv.Coordinate(overlapping.atoms, "x")).run()
    np.testing.assert_array_equal(series.results.trajectory_starts, [0, 160])
    # files whose own times follow on are one run, continuous=True or not
    with mda.Writer(paths[0], n_atoms=1) as w:
        for ts in u.trajectory[:150]:
            w.write(u.atoms)
    for continuous in (True, False):
        split = mda.Universe(str(top), paths, continuous=continuous)
        series = CVSeries(split, cv.Coordinate(split.atoms, "x")).run()
        assert series.results.cv.shape == (300,)
        np.testing.assert_array_equal(series.results.trajectory_starts, [0])


# ------------------------------------------------------------------ bad input
def test_cv_series_is_the_frame_loop_alone(serial, chain, backend):
    u = _universe(chain)
    series = CVSeries(u, cv.Coordinate(u.atoms, "x")).run(step=2, **backend)
    r = series.results
    np.testing.assert_array_equal(r.cv, serial.results.cv[::2])
    assert r.dt == pytest.approx(4.0) and r.times.shape == (2000,)
    np.testing.assert_array_equal(r.trajectory_starts, [0])
    assert "dtraj" not in r and "model" not in r
    with pytest.raises(ValueError, match="has 1 frames; at least 2 are needed"):
        CVSeries(u, cv.Coordinate(u.atoms, "x")).run(stop=1)


def test_the_discretizer_passed_in_is_never_fitted(chain):
    u = _universe(chain)
    disc = Discretizer(n_states=3)
    run = LSTMDynamics(u, cv.Coordinate(u.atoms, "x"), discretizer=disc, n_models=1,
                       **{**FAST, "n_trajectories": 2, "epochs": 1})
    first = run.run(stop=1000).results.discretizer
    assert not hasattr(disc, "n_states_") and first is not disc
    second = run.run(start=2000).results.discretizer
    assert not np.array_equal(first.edges_, second.edges_)   # each run fits its frames
    assert first.get_params() == second.get_params() == disc.get_params()


def test_estimator_shortcuts_are_the_estimators_parameters(chain):
    """One rule: a keyword that is an LSTMEstimator parameter replaces the estimator's."""
    u = _universe(chain[:1500])
    x = cv.Coordinate(u.atoms, "x")
    settings = dict(embedding_dim=4, hidden_size=8, seq_length=20, epochs=2, device="cpu")
    given = LSTMEstimator(**settings, seed=99)
    by_object = LSTMDynamics(u, x, n_states=3, estimator=given, n_models=1, n_trajectories=2,
                             seed=0).run()
    by_keyword = LSTMDynamics(u, x, n_states=3, n_models=1, n_trajectories=2, seed=0,
                              **settings).run()
    np.testing.assert_array_equal(by_object.results.generated, by_keyword.results.generated)
    assert given.seed == 99 and given.fetch_model() is None   # cloned, never fitted
    training = by_object.results.model.metadata["training"]
    assert (training["hidden_size"], training["epochs"], training["seed"]) == (8, 2, 0)
    mixed = LSTMDynamics(u, x, estimator=given, hidden_size=12, n_trajectories=3)
    assert mixed._estimator.hidden_size == 12 and mixed._estimator.epochs == 2
    with pytest.raises(TypeError, match="estimator must be an mdlstm.LSTMEstimator"):
        LSTMDynamics(u, x, estimator={"epochs": 2})
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        LSTMDynamics(u, x, hidden_size=0)
    # the shortcuts are those of the estimator's class
    transformer = LSTMDynamics(u, x, estimator=TransformerEstimator(), d_model=32, epochs=3)
    assert (transformer._estimator.d_model, transformer._estimator.epochs) == (32, 3)
    assert isinstance(transformer._estimator, TransformerEstimator)
    with pytest.raises(TypeError, match="'d_model': not a parameter of LSTMDynamics or "
                                        "LSTMEstimator"):
        LSTMDynamics(u, x, d_model=32)
    with pytest.raises(TypeError, match="'hiden_size': not a parameter of CVSeries"):
        CVSeries(u, x, hiden_size=32)    # AnalysisBase alone would ignore it


def test_metastable_sets_given_or_made_from_the_discretizer(chain):
    u = _universe(chain)
    x = cv.Coordinate(u.atoms, "x")
    given = LSTMDynamics(u, x, n_states=6, metastable_sets=[[0, 1], [4, 5]], **FAST).run()
    assert [s.tolist() for s in given.results.comparison.metastable_sets] == [[0, 1], [4, 5]]

    def halves(disc):
        return [np.flatnonzero(disc.centers_ < disc.centers_.mean()),
                np.flatnonzero(disc.centers_ >= disc.centers_.mean())]

    made = LSTMDynamics(u, x, n_states=6, metastable_sets=halves, **FAST).run()
    assert [s.tolist() for s in made.results.comparison.metastable_sets] == [[0, 1, 2],
                                                                             [3, 4, 5]]


def test_bad_metastable_sets_fail_before_training(chain, monkeypatch):
    import mdlstm.pipeline

    def no_training(*args, **kwargs):
        raise AssertionError("trained despite bad metastable_sets")

    monkeypatch.setattr(mdlstm.pipeline, "learn", no_training)
    u = _universe(chain)
    x = cv.Coordinate(u.atoms, "x")
    with pytest.raises(TypeError, match="metastable_sets must be a list"):
        LSTMDynamics(u, x, metastable_sets="S0", **FAST)
    with pytest.raises(ValueError, match=r"metastable_sets\[1\] contains states outside"):
        LSTMDynamics(u, x, n_states=6, metastable_sets=[[0], [6]], **FAST).run()
    with pytest.raises(ValueError, match="overlap"):
        LSTMDynamics(u, x, n_states=6, metastable_sets=lambda d: [[0, 1], [1]], **FAST).run()


def test_rejects_more_models_than_chains(chain):
    u = _universe(chain)
    with pytest.raises(ValueError, match=r"n_trajectories \(2\) must be at least n_models \(3\)"):
        LSTMDynamics(u, cv.Coordinate(u.atoms, "x"), n_trajectories=2)
    with pytest.raises(ValueError, match="mask must be 'states', 'transitions' or None"):
        LSTMDynamics(u, cv.Coordinate(u.atoms, "x"), mask="all")


def test_rejects_bad_arguments(chain):
    u = _universe(chain[:200])
    other = _universe(chain[:200])
    x = cv.Coordinate(u.atoms, "x")
    with pytest.raises(TypeError, match="atomgroup must be an MDAnalysis Universe"):
        LSTMDynamics(np.zeros(3), x)
    with pytest.raises(TypeError, match="cv must be an mdlstm.cv.CollectiveVariable"):
        LSTMDynamics(u, lambda: 1.0)
    with pytest.raises(ValueError, match="cv is built on atoms of another Universe"):
        LSTMDynamics(other, x)
    with pytest.raises(ValueError, match="n_states"):
        LSTMDynamics(u, x, n_states=1)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        LSTMDynamics(u, x, epochs=0)
    with pytest.raises(ValueError, match="temperature must be a positive"):
        LSTMDynamics(u, x, temperature=-1)
    with pytest.raises(TypeError, match="discretizer must be an mdlstm.Discretizer"):
        LSTMDynamics(u, x, discretizer="uniform")
    with pytest.raises(ValueError, match="lagtimes must be a positive integer, got 0"):
        LSTMDynamics(u, x, lagtimes=[1, 0])


def test_rejects_too_few_frames_before_reading(chain):
    u = _universe(chain[:50])
    with pytest.raises(ValueError,
                       match="50 frames; training needs at least seq_length\\+1 = 101"):
        LSTMDynamics(u, cv.Coordinate(u.atoms, "x")).run()


@pytest.mark.parametrize("frames", [[0, 1, 2, 5, 6] + list(range(7, 200)),
                                    list(range(199, 0, -1))])
def test_rejects_uneven_frame_selection(chain, frames):
    u = _universe(chain[:200])
    with pytest.raises(ValueError, match="frames must be evenly spaced and increasing"):
        LSTMDynamics(u, cv.Coordinate(u.atoms, "x"), **FAST).run(frames=frames)


def test_rejects_nan_coordinates_naming_the_frame(chain):
    u = _universe(chain[:200])
    u.trajectory.coordinate_array[57, 0, 0] = np.nan
    with pytest.raises(ValueError, match="not finite \\(NaN or inf\\) at frame 57"):
        LSTMDynamics(u, cv.Coordinate(u.atoms, "x"), **FAST).run()


def test_rejects_split_serial_run(chain):
    u = _universe(chain[:200])
    with pytest.raises(ValueError, match="n_workers/n_parts > 1 need backend"):
        LSTMDynamics(u, cv.Coordinate(u.atoms, "x"), **FAST).run(n_workers=2)


def test_report_before_run(chain):
    u = _universe(chain[:200])
    with pytest.raises(RuntimeError, match="call run\\(\\) first"):
        LSTMDynamics(u, cv.Coordinate(u.atoms, "x"), **FAST).report("x")


def test_report_of_a_run(finished, tmp_path):
    paths = finished.report(tmp_path / "rep")
    assert paths["training"].exists() and paths["free_energy"].exists()
    assert "CV: Coordinate `x` (Angstrom); one model step = 2 ps." in paths["markdown"].read_text()
    with pytest.raises(FileExistsError, match="rep exists"):
        finished.report(tmp_path / "rep")


def test_warns_when_periodic_cv_meets_non_periodic_discretizer(chain):
    u = _universe(chain[:200])
    angle = cv.Function(lambda ag: float(ag.positions[0, 0]), u.atoms, period=2 * np.pi,
                        name="angle", units="rad")
    with pytest.warns(UserWarning, match="cv 'angle' is periodic .* pass periodic=cv.period"):
        LSTMDynamics(u, angle, discretizer=Discretizer(n_states=3))


# --------------------------------------------------------------------------
# several CVs
# --------------------------------------------------------------------------
def _two_cv_universe(chain, seed=1):
    """x of one atom and y of another follow the chain's state, y on a 100x scale."""
    rng = np.random.default_rng(seed)
    coords = np.zeros((len(chain), 2, 3), dtype=np.float32)
    coords[:, 0, 0] = np.asarray(CENTERS)[chain] + rng.uniform(-0.2, 0.2, len(chain))
    coords[:, 1, 1] = 100 * np.asarray(CENTERS)[chain] + rng.uniform(-20, 20, len(chain))
    return make_universe(coords)


@pytest.fixture(scope="module")
def two_cvs(chain):
    u = _two_cv_universe(chain)
    return u, [cv.Coordinate(u.atoms[[0]], "x"), cv.Coordinate(u.atoms[[1]], "y")]


def test_cv_series_of_several_cvs_is_one_column_each(two_cvs, backend):
    u, cvs = two_cvs
    series = CVSeries(u, cvs).run(step=2, **backend).results
    alone = [CVSeries(u, c).run(step=2).results.cv for c in cvs]
    assert series.cv.shape == (2000, 2)
    np.testing.assert_array_equal(series.cv, np.column_stack(alone))
    assert CVSeries(u, cvs[:1]).run(step=2).results.cv.shape == (2000,)   # a list of one


def test_several_cvs_give_the_same_states_on_every_backend(chain, two_cvs, backend):
    u, cvs = two_cvs
    run = LSTMDynamics(u, cvs, n_states=3, n_models=1, **FAST).run(**backend)
    r = run.results
    assert r.cv.shape == (4000, 2) and r.discretizer.centers_.shape == (3, 2)
    assert r.discretizer.method == "kmeans" and r.discretizer.periodic == [None, None]
    assert sorted(np.round(r.discretizer.centers_[:, 0]).tolist()) == CENTERS
    found = r.discretizer.centers_[r.dtraj, 0]
    np.testing.assert_allclose(found, np.asarray(CENTERS)[chain], atol=0.1)
    assert r.generated.shape == (8, 4000)
    assert r.model.metadata["cv"][1]["name"] == cvs[1].name
    serial = LSTMDynamics(u, cvs, n_states=3, n_models=1, **FAST).run()
    np.testing.assert_array_equal(r.dtraj, serial.results.dtraj)


def test_several_cvs_report(two_cvs, tmp_path):
    u, cvs = two_cvs
    run = LSTMDynamics(u, cvs, n_states=3, n_models=1, **FAST).run(step=4)
    paths = run.report(tmp_path / "report")
    assert paths["free_energy_map"].exists() and "free_energy_map.png" in paths[
        "markdown"].read_text()
    assert "Free energy over the first two CVs" in paths["html"].read_text()


@pytest.mark.parametrize("make, exc, match", [
    (lambda u, o: [cv.Coordinate(u.atoms, "x"), "phi"], TypeError,
     r"cv\[1\] must be an mdlstm.cv.CollectiveVariable"),
    (lambda u, o: [cv.Coordinate(u.atoms, "x"), cv.Coordinate(o.atoms, "x")], ValueError,
     r"cv\[1\] is built on atoms of another Universe"),
    (lambda u, o: [], ValueError, "cv is an empty list"),
])
def test_rejects_bad_cv_lists(chain, make, exc, match):
    u, other = _universe(chain[:50]), _universe(chain[:50])
    with pytest.raises(exc, match=match):
        CVSeries(u, make(u, other))


def test_several_cvs_need_each_period_in_the_discretizer():
    u = make_universe(np.random.default_rng(0).normal(size=(50, 4, 3)))
    angle = cv.Dihedral(u.atoms)
    x = cv.Coordinate(u.atoms, "x")
    grid = Discretizer(n_states=4, method="grid")
    with pytest.raises(ValueError, match="periodic must give one period per CV column"):
        LSTMDynamics(u, [angle, x], discretizer=grid)
    wrong = Discretizer(n_states=4, method="grid", periodic=[None, None])
    with pytest.raises(ValueError, match=r"discretizer.periodic\[0\] is None, but cv"):
        LSTMDynamics(u, [angle, x], discretizer=wrong)
    right = Discretizer(n_states=4, method="grid", periodic=[2 * np.pi, None])
    assert LSTMDynamics(u, [angle, x], discretizer=right)._discretizer is right


def test_nan_in_one_of_several_cvs_names_it():
    coords = np.random.default_rng(0).normal(size=(150, 2, 3))
    u = make_universe(coords)
    bad = cv.Function(lambda ag: np.nan if u.trajectory.frame == 7 else 1.0, u.atoms,
                      name="flaky")
    with pytest.raises(ValueError, match="CV 'flaky' is not finite .* at frame 7"):
        CVSeries(u, [cv.Coordinate(u.atoms, "x"), bad]).run()


def _distances(atomgroup):
    from MDAnalysis.lib.distances import self_distance_array

    return self_distance_array(atomgroup.positions)


def _xy(atomgroup):
    return atomgroup.positions[:, :2].ravel()


def test_features_are_columns_of_the_series(two_cvs, backend):
    # module-level functions: the parallel backends pickle the CVs
    u, cvs = two_cvs
    pair = cv.Features(_distances, u.atoms, n_features=1, name="d")
    both = cv.Features(_xy, u.atoms, n_features=4, name="xy")
    series = CVSeries(u, [cvs[0], both, pair]).run(step=4, **backend).results.cv
    xy = np.array([u.atoms.positions[:, :2].ravel() for _ in u.trajectory[::4]])
    assert series.shape == (1000, 6)
    np.testing.assert_array_equal(series[:, 1:5], xy)
    np.testing.assert_allclose(series[:, 5], np.hypot(xy[:, 0] - xy[:, 2], xy[:, 1] - xy[:, 3]),
                               rtol=1e-5)
    run = LSTMDynamics(u, both, n_states=3, n_models=1, **FAST)
    assert run._discretizer.periodic == [None] * 4


def test_maxcal_corrects_the_runs_models_and_judges_them(serial, chain):
    from mdlstm.maxcal import MaxCalVerdict, path_statistic

    data_ratio = np.mean(chain == 0) / np.mean(chain == 2)
    verdict = serial.maxcal("population_ratio", 0.8 * data_ratio, sets=[[0], [2]],
                            n_chains=48, n_steps=800, n_select=12, seed=1)
    assert isinstance(verdict, MaxCalVerdict) and serial.results.maxcal is verdict
    fix = verdict.correction
    assert fix.n_chains_ == 48 and fix.selected_.shape == (12,)
    assert np.dot(fix.weights_, fix.values_) == pytest.approx(0.8 * data_ratio, rel=1e-9)
    before = verdict.comparisons["before"].trajectories["LSTM"]
    after = verdict.comparisons["after"].trajectories["LSTM"]
    assert len(before) == len(after) == 48 and {len(c) for c in after} == {800}
    np.testing.assert_allclose(path_statistic(before, "population_ratio", [[0], [2]]),
                               fix.values_)
    assert verdict.rows[0]["after"] == pytest.approx(
        path_statistic(after, "population_ratio", [[0], [2]]).mean())
    # the run's sets and data: the reference column is the MD's
    cmp = verdict.comparisons["after"]
    np.testing.assert_allclose(cmp.populations["MD"], np.bincount(chain, minlength=3) / 4000)
    assert [s.tolist() for s in cmp.metastable_sets] == \
        [s.tolist() for s in serial.results.comparison.metastable_sets]
    assert cmp.dt == pytest.approx(2.0)
    meta = fix.fetch_model().metadata
    assert meta["dt"] == pytest.approx(2.0) and meta["cv"]["type"] == "Coordinate"
    assert meta["training"]["n_trajectories"] == 12 and meta["training"]["hidden_size"] == 16
    assert meta["maxcal"]["n_chains"] == 48


def test_maxcal_checks_its_arguments_before_sampling(serial, chain):
    u = _universe(chain[:200])
    with pytest.raises(RuntimeError, match="maxcal\\(\\) needs results"):
        LSTMDynamics(u, cv.Coordinate(u.atoms, "x"), **FAST).maxcal("hop_fraction", 0.1)
    with pytest.raises(ValueError, match="statistic must be one of"):
        serial.maxcal("entropy", 1.0)
    with pytest.raises(ValueError, match="population_ratio needs sets"):
        serial.maxcal("population_ratio", 1.0)
    with pytest.raises(ValueError, match=r"sets\[1\] holds states outside 0..2: \[5\]"):
        serial.maxcal("population_ratio", 1.0, sets=[[0], [5]])
    with pytest.raises(TypeError, match="target must be a number"):
        serial.maxcal("hop_fraction", None)
    with pytest.raises(ValueError, match="n_chains must be a positive"):
        serial.maxcal("hop_fraction", 0.1, n_chains=0)
    with pytest.raises(ValueError, match="n_select must be a positive"):
        serial.maxcal("hop_fraction", 0.1, n_select=0)
