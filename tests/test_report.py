"""Tests of mdlstm.report: files written, numbers kept, nothing overwritten."""

import json

import numpy as np
import pytest
from deeptime.markov.msm import MarkovStateModel

from mdlstm.report import write_report
from mdlstm.validate import compare

P = np.array([[0.9, 0.1], [0.2, 0.8]])
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def comparison():
    msm = MarkovStateModel(P)
    ref = msm.simulate(3000, seed=0)
    gen = np.stack([msm.simulate(1000, seed=s) for s in (1, 2)])
    return compare(ref, gen, dt=0.5, time_unit="ps", state_values=[-1.0, 1.0],
                   lagtimes=[1, 2])


HISTORY = {"epoch": [1, 2], "train_loss": [0.5, 0.4], "val_loss": [0.45, 0.42],
           "learning_rate": [1e-3, 5e-4], "time_s": [1.0, 1.0]}


def test_report_files(comparison, tmp_path):
    out = tmp_path / "rep"
    paths = write_report(out, comparison, history=HISTORY,
                         cv={"type": "Dihedral", "name": "phi", "units": "rad"})
    assert set(paths) == {"free_energy", "timeseries", "training", "json", "markdown"}
    for key in ("free_energy", "timeseries", "training"):
        assert paths[key].read_bytes()[:8] == PNG
        assert paths[key].stat().st_size > 5000
    numbers = json.loads(paths["json"].read_text())
    np.testing.assert_allclose(numbers["comparison"]["populations"]["MD"],
                               comparison.populations["MD"])
    assert numbers["history"]["val_loss"] == [0.45, 0.42]
    md = paths["markdown"].read_text()
    assert "one model step = 0.5 ps" in md
    assert "0.42000 nats per character (epoch 2)" in md
    assert comparison.format_summary() in md
    assert "![free_energy](free_energy.png)" in md


def test_report_refuses_existing_directory(comparison, tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="rep exists; choose a new directory"):
        write_report(out, comparison)
    assert list(out.iterdir()) == [out / "mine.txt"]
    write_report(out, comparison, overwrite=True)
    assert (out / "mine.txt").read_text() == "keep"
    assert (out / "report.md").exists() and not (out / "training.png").exists()
