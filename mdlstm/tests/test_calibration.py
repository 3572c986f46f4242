"""Tests of the calibration of one-step transitions (mdlstm._calibration)."""

import numpy as np
import pytest
import torch
from deeptime.markov.msm import MarkovStateModel

from mdlstm import LSTMModel, _recipe
from mdlstm.model import CharLSTM
from mdlstm.train import LSTMEstimator

from .test_train import P3, SMALL, _transition_matrix

# one pass of 8 updates: a network far from the chain's transition matrix
UNDERTRAINED = dict(SMALL, epochs=1, seed=0, validation_fraction=0.0)


@pytest.fixture(scope="module")
def chain():
    return MarkovStateModel(P3).simulate(30_000, seed=3)


@pytest.fixture(scope="module")
def fits(chain):
    return {calibrate: LSTMEstimator(calibrate=calibrate, **UNDERTRAINED).fit(chain)
            for calibrate in (False, True)}


def _generated_matrix(model, chain):
    chains = model.generate(4000, n_trajectories=64, seed=5)
    return _transition_matrix(chains.astype(int), 3)


def test_calibration_restores_the_datas_transition_probabilities(fits, chain):
    data = _transition_matrix([chain], 3)
    raw = _generated_matrix(fits[False].fetch_model(), chain)
    calibrated = _generated_matrix(fits[True].fetch_model(), chain)
    # the undertrained network is far off; a per-state bias is all a Markov chain needs
    assert np.abs(raw - data).max() > 0.05
    np.testing.assert_allclose(calibrated, data, atol=0.01)


def test_calibration_leaves_the_weights_and_records_its_errors(fits):
    raw, calibrated = (fits[c].fetch_model() for c in (False, True))
    for name, value in raw.network.state_dict().items():
        torch.testing.assert_close(calibrated.network.state_dict()[name], value)
    record = calibrated.metadata["calibration"]
    assert "calibration" not in raw.metadata
    for name in ("population_error", "transition_error"):
        assert len(record[name]) == _recipe.CALIBRATION_ITERATIONS + 1
    # the first row is the network's own chains, the last the kept bias's
    assert record["transition_error"][-1] < 0.3 * record["transition_error"][0]
    full = 20 * 30_000 // 512 * 512
    approach = 20 * 30_000 // 512 // _recipe.CALIBRATION_APPROACH_DIVISOR * 512
    assert record["n_characters"] == [approach] * 4 + [full] * 5
    assert record["time_s"] > 0
    assert fits[True].history["calibration"] == {
        name: record[name] for name in ("population_error", "transition_error")}
    # the held-out score is the network's own
    assert calibrated.score(np.asarray([0, 1, 2, 0])) == raw.score(np.asarray([0, 1, 2, 0]))


def test_calibrated_model_file_samples_the_same_chains(fits, tmp_path):
    model = fits[True].fetch_model()
    model.save(tmp_path / "m.mdlstm")
    loaded = LSTMModel.load(tmp_path / "m.mdlstm")
    assert loaded.metadata["calibration"] == model.metadata["calibration"]
    np.testing.assert_array_equal(loaded.generate(300, n_trajectories=4, seed=1),
                                  model.generate(300, n_trajectories=4, seed=1))


def test_the_bias_applies_under_every_mask():
    torch.manual_seed(0)
    net = CharLSTM(3, 4, 8)
    # forbid 0 -> 1 by the bias alone: no mask, no counts in the metadata
    model = LSTMModel(net, {"calibration": {"bias": [[0, 1, -1e4]]}}, device="cpu")
    chains = model.generate(2000, n_trajectories=8, seed=0, mask=None).astype(int)
    moves = {(a, b) for row in chains for a, b in zip(row[:-1], row[1:])}
    assert (0, 1) not in moves and (0, 2) in moves


@pytest.mark.parametrize("calibration, match", [
    ({"bias": [[0, 3, 1.0]]}, "calibration: entries must be"),
    ({"bias": [[0, 1.5, 1.0]]}, "calibration: entries must be"),
    ({"bias": [[0, 1, float("nan")]]}, "calibration: entries must be"),
    ({"bias": "none"}, "calibration"),
    ({"weights": []}, "calibration"),
])
def test_corrupted_calibration_is_refused(calibration, match):
    with pytest.raises(ValueError, match=f"corrupted mdlstm metadata: {match}"):
        LSTMModel(CharLSTM(3, 4, 8), {"calibration": calibration}, device="cpu")
