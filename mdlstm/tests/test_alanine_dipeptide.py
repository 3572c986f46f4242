"""Tests of the bundled alanine dipeptide data and of its generator."""
import importlib.util
import os
import sys

import numpy as np
import pytest
from MDAnalysis.analysis.dihedrals import Ramachandran
from numpy.testing import assert_allclose, assert_array_equal

from mdlstm.systems import alanine_dipeptide as ala

# Measured on the bundled files (see the module docstring).
N_TRANSITIONS = 94
FRACTION_PHI_POSITIVE = 0.07777
SIZE_BUDGET = 4_000_000  # bytes, topology and trajectory together
CORES = ((-180.0, -30.0), (30.0, 120.0))  # phi core sets (degrees)

HAS_OPENMM = importlib.util.find_spec("openmm") is not None


def core_transitions(phi):
    """Switches between the two phi cores; the last core is kept between them."""
    core = np.full(phi.shape, -1)
    for label, (low, high) in enumerate(CORES):
        core[(phi > low) & (phi < high)] = label
    visited = core[core >= 0]
    return int(np.count_nonzero(visited[1:] != visited[:-1]))


@pytest.fixture(scope="module")
def universe():
    return ala.universe()


@pytest.fixture(scope="module")
def phi(universe):
    return Ramachandran(universe.select_atoms("resname ALA")).run().results.angles[:, 0, 0]


def test_files_are_bundled_within_budget():
    topology, trajectory = ala.files()
    assert os.path.basename(topology) == "alanine_dipeptide.pdb"
    assert os.path.basename(trajectory) == "alanine_dipeptide.xtc"
    assert os.path.getsize(topology) + os.path.getsize(trajectory) <= SIZE_BUDGET


def test_topology(universe):
    assert universe.atoms.n_atoms == 22
    assert_array_equal(universe.residues.resnames, ["ACE", "ALA", "NME"])
    assert np.count_nonzero(universe.atoms.elements == "H") == 12


def test_frames_and_uniform_times(universe):
    assert universe.trajectory.n_frames == ala.N_FRAMES
    assert universe.trajectory.dt == pytest.approx(ala.FRAME_INTERVAL)
    times = np.array([ts.time for ts in universe.trajectory])
    assert_allclose(times, np.arange(ala.N_FRAMES) * ala.FRAME_INTERVAL)


def test_phi_visits_both_basins(phi):
    assert phi.shape == (ala.N_FRAMES,)
    assert np.mean(phi > 0) == pytest.approx(FRACTION_PHI_POSITIVE, abs=1e-4)
    assert core_transitions(phi) >= N_TRANSITIONS


def test_core_transitions_ignore_recrossings():
    # -90 -> 0 (barrier) -> -90 is no transition; 60 -> 0 -> 60 neither.
    phi = np.array([-90.0, 0.0, -90.0, 60.0, 0.0, 60.0, 150.0, -100.0])
    assert core_transitions(phi) == 2


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_frames": 0}, ValueError, "n_frames must be at least 1"),
    ({"n_frames": 2.0}, TypeError, "n_frames must be an int"),
    ({"seed": -1}, ValueError, "seed must be a non-negative int"),
    ({"threads": 0}, ValueError, "threads must be at least 1"),
    ({"temperature": 0.0}, ValueError, r"temperature must be positive \(K\)"),
    ({"frame_interval": 0.003}, ValueError, "frame_interval must be a positive multiple"),
    ({"frame_interval": 0.0}, ValueError, "frame_interval must be a positive multiple"),
    ({"frame_interval": "1"}, TypeError, "frame_interval must be a real number"),
    ({"platform": None}, TypeError, "platform must be a str"),
    ({"out_dir": None}, TypeError, "out_dir must be a str or os.PathLike"),
])
def test_simulate_rejects_bad_arguments(tmp_path, kwargs, error, match):
    arguments = {"n_frames": 10, "out_dir": tmp_path, **kwargs}
    with pytest.raises(error, match=match):
        ala.simulate(**arguments)


@pytest.mark.skipif(not HAS_OPENMM, reason="needs OpenMM")
def test_simulate_rejects_unknown_platform(tmp_path):
    with pytest.raises(ValueError, match=r"platform must be one of \[.*'Reference'"):
        ala.simulate(10, tmp_path, platform="Abacus")
    assert not (tmp_path / "alanine_dipeptide.pdb").exists()


def test_simulate_refuses_existing_files(tmp_path):
    existing = tmp_path / "alanine_dipeptide.xtc"
    existing.write_bytes(b"")
    with pytest.raises(FileExistsError, match="alanine_dipeptide.xtc exists"):
        ala.simulate(10, tmp_path)


def test_simulate_without_openmm_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openmm", None)  # makes `import openmm` fail
    with pytest.raises(ImportError, match=r'pip install "mdlstm\[md\]"'):
        ala.simulate(10, tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_OPENMM, reason="needs OpenMM")
def test_simulate_writes_loadable_reproducible_files(tmp_path):
    import MDAnalysis as mda

    first = ala.simulate(20, tmp_path / "a", frame_interval=0.1, progress=False)
    ala._main(["--frames", "20", "--frame-interval", "0.1", "--out", str(tmp_path / "b"),
               "--quiet"])
    u = mda.Universe(*first)
    assert u.atoms.n_atoms == 22
    assert u.trajectory.n_frames == 20
    assert u.trajectory.dt == pytest.approx(0.1)
    assert u.trajectory[-1].time == pytest.approx(1.9)
    # The PDB holds frame 0; XTC rounds to 0.01 Angstrom.
    assert_allclose(mda.Universe(first[0]).atoms.positions, u.trajectory[0].positions,
                    atol=0.006)
    again = mda.Universe(str(tmp_path / "b" / "alanine_dipeptide.pdb"),
                         str(tmp_path / "b" / "alanine_dipeptide.xtc"))
    assert_array_equal(again.trajectory.timeseries(), u.trajectory.timeseries())


@pytest.mark.slow
@pytest.mark.skipif(not HAS_OPENMM, reason="needs OpenMM")
def test_simulate_reproduces_bundled_frames(tmp_path, universe):
    # Same defaults and seed as the bundled data: the first frames agree bit for bit.
    import MDAnalysis as mda

    u = mda.Universe(*ala.simulate(30, tmp_path, progress=False))
    assert_array_equal(u.trajectory.timeseries(),
                       universe.trajectory.timeseries(stop=30))
