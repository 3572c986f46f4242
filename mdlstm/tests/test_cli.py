"""Tests of the mdlstm command (run in-process through mdlstm.cli.main)."""

import json

import MDAnalysis as mda
import numpy as np
import pytest
from deeptime.markov.msm import MarkovStateModel

from mdlstm import LSTMModel, TransformerEstimator
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


def test_architecture_option_trains_a_transformer(files, tmp_path, capsys):
    top, traj, _ = files
    out = tmp_path / "rep"
    assert main(["fit", top, traj, "--cv", "coordinate:all;x", "--out", str(out),
                 "--architecture", "transformer", "--n-models", "1"] + ARGS) == 0
    model = LSTMModel.load(out / "model.mdlstm")
    assert model.architecture == "transformer"
    # the estimator's defaults, not the LSTM's window
    assert model.metadata["training"]["context_length"] == TransformerEstimator().context_length
    assert "1500 frames" in capsys.readouterr().out


@pytest.fixture(scope="module")
def saved_model(files, tmp_path_factory):
    """A one-model fit of the two-state files, written by mdlstm fit."""
    top, traj, _ = files
    out = tmp_path_factory.mktemp("fitted") / "rep"
    assert main(["fit", top, traj, "--cv", "coordinate:all;x", "--out", str(out),
                 "--n-models", "1"] + ARGS) == 0
    return str(out / "model.mdlstm")


MAXCAL = ["--cv", "coordinate:all;x", "--statistic", "population_ratio", "--sets", "0;1",
          "--n-chains", "32", "--n-steps", "400", "--n-select", "8", "--quiet"]


def test_maxcal_writes_a_corrected_model_and_prints_the_verdict(files, saved_model, tmp_path,
                                                                capsys):
    top, traj, states = files
    out = tmp_path / "corrected.mdlstm"
    capsys.readouterr()
    assert main(["maxcal", saved_model, top, traj, "--target", "1.0", "--out", str(out)]
                + MAXCAL) == 0
    printed = capsys.readouterr().out
    assert "maximum-caliber correction on 1500 frames, one model step = 0.5 ps" in printed
    assert "maxcal: mean population_ratio toward 1; dlambda = " in printed
    assert "of 32 chains, 8 selected" in printed
    assert "the rest against the reference (MD)" in printed
    header = next(line for line in printed.splitlines() if line.startswith("quantity"))
    assert header.split() == ["quantity", "unit", "reference", "before", "after", "verdict",
                              "before", "verdict", "after"]
    assert f"written: {out}" in printed
    corrected = LSTMModel.load(out)
    meta = corrected.metadata
    assert corrected.dt == pytest.approx(0.5) and meta["cv"]["type"] == "Coordinate"
    assert meta["maxcal"]["target"] == 1.0 and meta["maxcal"]["sets"] == [[0], [1]]
    assert meta["maxcal"]["n_chains"] == 32 and meta["training"]["n_trajectories"] == 8
    assert meta["maxcal"]["mean_weighted"] == pytest.approx(1.0, rel=1e-9)
    # the reference column is the data's population of state 0
    line = next(t for t in printed.splitlines() if t.startswith("population S0"))
    assert float(line.split()[3]) == pytest.approx(np.mean(states == 0), abs=5e-4)


def test_maxcal_never_overwrites_silently(files, saved_model, tmp_path, capsys):
    top, traj, _ = files
    out = tmp_path / "corrected.mdlstm"
    out.write_text("mine")
    assert main(["maxcal", saved_model, top, traj, "--target", "1.0", "--out", str(out)]
                + MAXCAL) == 2
    assert "exists; choose another --out or pass --overwrite" in capsys.readouterr().err
    assert out.read_text() == "mine"
    assert main(["maxcal", saved_model, top, traj, "--target", "1.0", "--out", saved_model,
                 "--overwrite"] + MAXCAL) == 2
    assert "is the model being corrected" in capsys.readouterr().err
    assert LSTMModel.load(saved_model).n_states == 2


def test_maxcal_refuses_an_unreachable_target(files, saved_model, tmp_path, capsys):
    top, traj, _ = files
    out = tmp_path / "corrected.mdlstm"
    assert main(["maxcal", saved_model, top, traj, "--target", "1000", "--out", str(out)]
                + MAXCAL) == 2
    err = capsys.readouterr().err
    assert "mdlstm: error: target 1000 is unreachable" in err
    assert not out.exists()


@pytest.mark.parametrize("change, match", [
    ({"--statistic": "entropy"}, "argument --statistic: invalid choice: 'entropy'"),
    ({"--sets": None}, "--statistic population_ratio needs --sets"),
    ({"--sets": "0"}, "argument --sets: must be two sets of states separated by ';'"),
    ({"--sets": "0;x"}, "argument --sets: 'x' is not a state or a range"),
    ({"--sets": "0;5"}, r"sets\[1\] holds states outside 0..1: \[5\]"),
    ({"--target": "abc"}, "argument --target: invalid float value: 'abc'"),
    ({"--n-chains": "0"}, "--n-chains must be a positive integer, got 0"),
    ({"--n-select": "0"}, "--n-select must be a positive integer, got 0"),
    ({"--n-select": "x"}, "argument --n-select: invalid int value: 'x'"),
    ({"--cv": "coordinate:all;y"}, "is not the model's CV"),
    ({"--step": "2"}, "the model's step is 0.5 ps: give the --step it was trained with"),
])
def test_maxcal_names_the_bad_argument(files, saved_model, tmp_path, capsys, change, match):
    import re

    top, traj, _ = files
    args = dict(zip(MAXCAL[:-1:2], MAXCAL[1::2]))
    args.update({"--target": "1.0", "--out": str(tmp_path / "c.mdlstm")}, **change)
    argv = ["maxcal", saved_model, top, traj, "--quiet"]
    argv += [item for key, value in args.items() if value is not None for item in (key, value)]
    try:
        code = main(argv)
    except SystemExit as exit_:   # argparse rejects the value itself
        code = exit_.code
    assert code == 2
    assert re.search(match, capsys.readouterr().err)
    assert not (tmp_path / "c.mdlstm").exists()


def test_maxcal_needs_a_model_with_its_metadata(files, tmp_path, capsys):
    from mdlstm import LSTMEstimator

    top, traj, states = files
    bare = tmp_path / "bare.mdlstm"
    LSTMEstimator(embedding_dim=4, hidden_size=8, seq_length=20, epochs=1, device="cpu",
                  seed=0).fit(states).fetch_model().save(bare)
    assert main(["maxcal", str(bare), top, traj, "--target", "1.0",
                 "--out", str(tmp_path / "c.mdlstm")] + MAXCAL) == 2
    assert "lacks the metadata discretizer, cv that maxcal needs" in capsys.readouterr().err
