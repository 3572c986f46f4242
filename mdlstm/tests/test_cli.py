"""Tests of the mdlstm command (run in-process through mdlstm.cli.main)."""

import json

import MDAnalysis as mda
import numpy as np
import pytest
from deeptime.markov.msm import MarkovStateModel

from mdlstm import LSTMModel
from mdlstm.cli import main
from mdlstm.tests.util import make_universe

P = np.array([[0.95, 0.05], [0.05, 0.95]])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A one-atom system hopping between x = -1 and x = +1 Angstrom, 0.5 ps frames."""
    d = tmp_path_factory.mktemp("files")
    states = MarkovStateModel(P).simulate(1500, seed=0)
    coords = np.zeros((len(states), 1, 3), dtype=np.float32)
    coords[:, 0, 0] = 2.0 * states - 1.0
    u = make_universe(coords, dt=0.5, names=["X"], residues=True)
    top, traj = d / "x.pdb", d / "x.xtc"
    u.atoms.write(str(top))
    with mda.Writer(str(traj), n_atoms=1) as w:
        for _ in u.trajectory:
            w.write(u.atoms)
    return str(top), str(traj), states


ARGS = ["--n-states", "2", "--epochs", "2", "--n-trajectories", "4", "--n-steps", "800",
        "--quiet"]


def test_fit_writes_report_and_model(files, tmp_path, capsys):
    top, traj, states = files
    out = tmp_path / "rep"
    assert main(["fit", top, traj, "--cv", "coordinate:all;x", "--out", str(out)] + ARGS) == 0
    printed = capsys.readouterr().out
    assert "1500 frames, one model step = 0.5 ps" in printed
    assert "4 generated chains x 800 steps" in printed
    for name in ("report.md", "results.json", "free_energy.png", "model.mdlstm"):
        assert (out / name).exists() and str(out / name) in printed
    numbers = json.loads((out / "results.json").read_text())
    np.testing.assert_allclose(numbers["comparison"]["populations"]["MD"],
                               np.bincount(states, minlength=2) / len(states))
    model = LSTMModel.load(out / "model.mdlstm")
    assert model.dt == pytest.approx(0.5) and model.metadata["cv"]["type"] == "Coordinate"


def test_fit_takes_several_cvs(files, tmp_path, capsys):
    top, traj, states = files
    out = tmp_path / "rep"
    assert main(["fit", top, traj, "--cv", "coordinate:all;x", "--cv", "coordinate:all;y",
                 "--out", str(out)] + ARGS) == 0
    assert "CV = coordinate:all;x, coordinate:all;y" in capsys.readouterr().out
    model = LSTMModel.load(out / "model.mdlstm")
    assert [c["axis"] for c in model.metadata["cv"]] == ["x", "y"]
    disc = model.metadata["discretizer"]
    assert disc["params"]["method"] == "kmeans" and disc["n_cv_"] == 2


def test_fit_refuses_existing_output(files, tmp_path, capsys):
    top, traj, _ = files
    out = tmp_path / "rep"
    out.mkdir()
    assert main(["fit", top, traj, "--cv", "coordinate:all;x", "--out", str(out)] + ARGS) == 2
    assert "exists; choose another --out or pass --overwrite" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_fit_reports_a_bad_cv_spec(files, tmp_path, capsys):
    top, traj, _ = files
    assert main(["fit", top, traj, "--cv", "angle:1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "mdlstm: error:" in err and "angle:1" in err


def test_step_changes_the_model_time_step(files, tmp_path, capsys):
    top, traj, _ = files
    out = tmp_path / "rep"
    assert main(["fit", top, traj, "--cv", "coordinate:all;x", "--out", str(out),
                 "--step", "2"] + ARGS) == 0
    assert "750 frames, one model step = 1 ps" in capsys.readouterr().out


def test_training_options_reach_the_model(files, tmp_path, capsys):
    top, traj, _ = files
    out = tmp_path / "rep"
    assert main(["fit", top, traj, "--cv", "coordinate:all;x", "--out", str(out),
                 "--validation-fraction", "0", "--precision", "bfloat16"] + ARGS) == 0
    training = LSTMModel.load(out / "model.mdlstm").metadata["training"]
    assert training["validation_fraction"] == 0 and training["precision"] == "bfloat16"
    assert "1500 frames" in capsys.readouterr().out
