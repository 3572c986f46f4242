"""Tests of mdlstm.structures: MD frames standing in for generated states."""

import MDAnalysis as mda
import numpy as np
import pytest

from mdlstm import Discretizer, LSTMDynamics, cv
from mdlstm.structures import representative_frames, write_generated_trajectory
from mdlstm.tests.util import make_universe

CENTERS = [-10.0, 0.0, 10.0]
DISC = Discretizer(method="centers", centers=CENTERS).fit(np.array(CENTERS))


def _universe(n_frames=300, dt=2.0, seed=0):
    """Three atoms; atom 0's x is the centre of a random state plus noise (Angstrom)."""
    rng = np.random.default_rng(seed)
    states = rng.integers(0, 3, n_frames)
    coords = rng.uniform(-3, 3, (n_frames, 3, 3)).astype(np.float32)
    coords[:, 0, 0] += np.asarray(CENTERS, dtype=np.float32)[states]
    return make_universe(coords, dt=dt, names=["A", "B", "C"], masses=[1.0, 1.0, 1.0],
                         dimensions=[40, 40, 40, 90, 90, 90])


def _states_of(universe):
    """State of atom 0's x in every frame of a Universe."""
    return DISC.transform(np.array([universe.atoms.positions[0, 0]
                                    for _ in universe.trajectory]))


def _read(path, n_atoms=3):
    if path.suffix == ".pdb":
        return mda.Universe(str(path))
    written = mda.Universe.empty(n_atoms)
    written.load_new(str(path))
    return written


@pytest.fixture(scope="module")
def md():
    u = _universe()
    return u, _states_of(u)


@pytest.fixture
def chain():
    return np.random.default_rng(7).integers(0, 3, 40)


def test_representative_frames_in_time_order_or_seeded_order():
    dtraj = np.array([2, 0, 2, 1, 0, 2])
    frames = representative_frames(dtraj, 4)
    assert [f.tolist() for f in frames] == [[1, 4], [3], [0, 2, 5], []]
    shuffled = representative_frames(dtraj, 4, seed=3)
    assert [sorted(f.tolist()) for f in shuffled] == [[1, 4], [3], [0, 2, 5], []]
    assert [f.tolist() for f in representative_frames(dtraj, 4, seed=3)] == \
        [f.tolist() for f in shuffled]


@pytest.mark.parametrize("dtraj, n_states, error, message", [
    ([0, 5], 4, ValueError, "dtraj contains state 5, outside the alphabet 0..3"),
    ([[0, 1]], 2, ValueError, r"dtraj must be a non-empty 1-D sequence of states, got shape "
                              r"\(1, 2\)"),
    ([0.5, 1.0], 2, TypeError, "dtraj must hold integer states"),
    ([0, 1], 0, ValueError, "n_states must be a positive integer, got 0"),
])
def test_representative_frames_rejects_bad_input(dtraj, n_states, error, message):
    with pytest.raises(error, match=message):
        representative_frames(dtraj, n_states)


# The minimal topology lacks every PDB field; MDAnalysis warns about each default.
PDB_DEFAULTS = pytest.mark.filterwarnings("ignore::UserWarning",
                                          "ignore::PendingDeprecationWarning")


@pytest.mark.parametrize("extension", ["dcd", "xtc", pytest.param("pdb", marks=PDB_DEFAULTS)])
def test_written_frames_are_in_the_generated_states(md, chain, tmp_path, extension):
    u, dtraj = md
    u.trajectory[5]
    path = tmp_path / f"gen.{extension}"
    source = write_generated_trajectory(u, dtraj, chain, path, seed=1)
    assert u.trajectory.frame == 5  # the user's current frame is restored
    assert source.shape == (40,)
    np.testing.assert_array_equal(dtraj[source], chain)
    written = _read(path)
    assert written.trajectory.n_frames == 40
    np.testing.assert_array_equal(_states_of(written), chain)
    # the written coordinates are those of the drawn MD frames
    written.trajectory[7]
    np.testing.assert_allclose(written.atoms.positions, u.trajectory[source[7]].positions,
                               atol=1e-3)
    if extension != "pdb":  # PDB stores no time
        times = [ts.time for ts in written.trajectory]
        np.testing.assert_allclose(times, np.arange(40) * 2.0, rtol=1e-6)
    assert not list(tmp_path.glob(".partial-*"))  # written under a temporary name


def test_same_seed_same_frames_and_user_frame_restored(md, chain, tmp_path):
    u, dtraj = md
    u.trajectory[11]
    first = write_generated_trajectory(u, dtraj, chain, tmp_path / "a.xtc", seed=4)
    again = write_generated_trajectory(u, dtraj, chain, tmp_path / "b.xtc", seed=4)
    other = write_generated_trajectory(u, dtraj, chain, tmp_path / "c.xtc", seed=5)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert u.trajectory.frame == 11
    assert u.trajectory.time == pytest.approx(22.0)


def test_analysed_subset_of_frames_sets_source_frames_and_time_step(md, chain, tmp_path):
    u, dtraj = md
    frames = np.arange(10, 300, 3)
    path = tmp_path / "sub.dcd"
    source = write_generated_trajectory(u, dtraj[frames], chain, path, frames=frames,
                                        select="name A or name B")
    assert set(source) <= set(frames.tolist())
    np.testing.assert_array_equal(dtraj[source], chain)
    written = _read(path, n_atoms=2)
    assert written.atoms.n_atoms == 2
    assert written.trajectory.dt == pytest.approx(6.0)  # 3 frames of 2 ps per step
    np.testing.assert_array_equal(_states_of(written), chain)


def test_errors_name_the_problem_and_write_nothing(md, tmp_path):
    u, dtraj = md
    path = tmp_path / "gen.dcd"
    only_two = np.where(dtraj == 2, 0, dtraj)
    with pytest.raises(ValueError, match=r"generated_chain contains state\(s\) \[2\] that no "
                                         "analysed MD frame is in"):
        write_generated_trajectory(u, only_two, [0, 2, 1, 2], path)
    with pytest.raises(ValueError, match="filename must end in a trajectory format "
                                         r"MDAnalysis can write \(.dcd, .xtc"):
        write_generated_trajectory(u, dtraj, [0, 1], tmp_path / "gen.txt")
    with pytest.raises(ValueError, match=r"frames must be 300 integer frame indices"):
        write_generated_trajectory(u, dtraj, [0, 1], path, frames=np.arange(10))
    with pytest.raises(ValueError, match=r"frames must lie in \[0, 300\)"):
        write_generated_trajectory(u, dtraj, [0, 1], path, frames=np.arange(1, 301))
    with pytest.raises(ValueError, match="select='name Z' matched no atoms"):
        write_generated_trajectory(u, dtraj, [0, 1], path, select="name Z")
    with pytest.raises(ValueError, match="generated_chain must be a non-empty 1-D"):
        write_generated_trajectory(u, dtraj, [], path)
    with pytest.raises(TypeError, match="universe must be an MDAnalysis Universe or "
                                        "AtomGroup, got ndarray"):
        write_generated_trajectory(u.atoms.positions, dtraj, [0, 1], path)
    with pytest.raises(ValueError, match="dt must be a positive finite number, got -1.0"):
        write_generated_trajectory(u, dtraj, [0, 1], path, dt=-1)
    assert list(tmp_path.iterdir()) == []


def test_unseen_state_written_as_nearest_visited_state(md, tmp_path):
    u, dtraj = md
    only_two = np.where(dtraj == 2, 0, dtraj)     # MD never in state 2
    with pytest.warns(UserWarning, match=r"state\(s\) \[2\] have no MD frame; written as "
                                         r"frames of the nearest visited state\(s\) \[1\]"):
        source = write_generated_trajectory(u, only_two, [0, 2, 1, 2], tmp_path / "g.dcd",
                                            state_values=[-10.0, 0.0, 10.0])
    assert only_two[source].tolist() == [0, 1, 1, 1]
    # on a circle of period 25, state 2 (10) is nearer to state 0 (-10) than to 1 (0)
    with pytest.warns(UserWarning, match=r"nearest visited state\(s\) \[0\]"):
        source = write_generated_trajectory(u, only_two, [2], tmp_path / "h.dcd",
                                            state_values=[-10.0, 0.0, 10.0], period=25.0)
    assert only_two[source].tolist() == [0]
    with pytest.raises(ValueError, match="state_values must give the CV value of all 3"):
        write_generated_trajectory(u, only_two, [2], tmp_path / "i.dcd", state_values=[1.0])


def test_existing_file_is_kept_unless_overwrite(md, tmp_path):
    u, dtraj = md
    path = tmp_path / "gen.xtc"
    path.write_text("mine")
    with pytest.raises(FileExistsError, match="gen.xtc exists; choose a new file name or "
                                              "pass overwrite=True"):
        write_generated_trajectory(u, dtraj, [0, 1, 2], path)
    assert path.read_text() == "mine"
    write_generated_trajectory(u, dtraj, [0, 1, 2], path, overwrite=True, dt=0.5)
    times = [ts.time for ts in _read(path).trajectory]
    np.testing.assert_allclose(times, [0.0, 0.5, 1.0])


def test_lstm_dynamics_writes_a_generated_chain(tmp_path):
    u = _universe(n_frames=400)
    run = LSTMDynamics(u, cv.Coordinate(u.select_atoms("name A"), "x"), discretizer=DISC,
                       embedding_dim=4, hidden_size=8, seq_length=20, epochs=1,
                       n_trajectories=2, n_steps=60, n_models=1, device="cpu", seed=0)
    with pytest.raises(RuntimeError, match=r"write_generated\(\) needs results"):
        run.write_generated(tmp_path / "x.dcd")
    run.run(step=2)
    with pytest.raises(ValueError, match=r"trajectory must be the index of a generated "
                                         r"chain, in \[0, 2\), got 2"):
        run.write_generated(tmp_path / "x.dcd", trajectory=2)
    source = run.write_generated(tmp_path / "lstm.dcd", trajectory=1, n_frames=50)
    chain = run.results.generated[1][:50]
    assert np.all(source % 2 == 0)  # only analysed frames (step=2)
    written = _read(tmp_path / "lstm.dcd")
    assert written.trajectory.n_frames == 50
    assert written.trajectory.dt == pytest.approx(4.0)
    np.testing.assert_array_equal(_states_of(written), chain)


def test_lstm_dynamics_of_two_cvs_writes_frames_of_the_generated_states(tmp_path):
    """Several CVs: every written frame was assigned, in (x, y), the generated state."""
    u = _universe(n_frames=400)
    atom = u.select_atoms("name A")
    run = LSTMDynamics(u, [cv.Coordinate(atom, "x"), cv.Coordinate(atom, "y")], n_states=4,
                       embedding_dim=4, hidden_size=8, seq_length=20, epochs=1,
                       n_trajectories=2, n_steps=60, n_models=1, device="cpu", seed=0).run()
    run.write_generated(tmp_path / "lstm.dcd", trajectory=0)
    written = _read(tmp_path / "lstm.dcd")
    xy = np.array([written.atoms.positions[0, :2] for _ in written.trajectory])
    np.testing.assert_array_equal(run.results.discretizer.transform(xy),
                                  run.results.generated[0])
