"""Tests of mdlstm.pipeline: learn and evaluate on plain state sequences."""

import numpy as np
import pytest
from deeptime.markov.msm import MarkovStateModel

from mdlstm import LSTMEstimator
from mdlstm.pipeline import Learned, evaluate, learn, model_seeds
from mdlstm.validate import Comparison

P = np.array([[0.95, 0.04, 0.01],
              [0.05, 0.90, 0.05],
              [0.02, 0.06, 0.92]])
SMALL = LSTMEstimator(embedding_dim=4, hidden_size=16, seq_length=20, epochs=4, device="cpu")


@pytest.fixture(scope="module")
def dtrajs():
    return [MarkovStateModel(P).simulate(3000, seed=s) for s in (1, 2)]


@pytest.fixture(scope="module")
def learned(dtrajs):
    return learn(dtrajs, SMALL, n_models=2, n_chains=5, n_steps=700, seed=3, n_workers=1)


def test_learn_trains_every_model_and_shares_the_chains(learned):
    assert isinstance(learned, Learned)
    assert learned.seeds == model_seeds(3, 2) and learned.seeds[0] == 3
    assert [m.metadata["training"]["seed"] for m in learned.models] == learned.seeds
    assert learned.generated.shape == (5, 700)
    np.testing.assert_array_equal(learned.generated_models, [0, 0, 0, 1, 1])
    assert learned.fit_seconds > learned.generation_seconds > 0
    assert SMALL.seed is None and SMALL.fetch_model() is None   # the settings, untouched


def test_learn_is_reproducible(dtrajs, learned):
    again = learn(dtrajs, SMALL, n_models=2, n_chains=5, n_steps=700, seed=3, n_workers=1)
    np.testing.assert_array_equal(again.generated, learned.generated)


def test_evaluate_compares_with_the_data(dtrajs, learned):
    cmp = evaluate(dtrajs, learned, dt=2.0, time_unit="ns")
    assert isinstance(cmp, Comparison) and cmp.n_models == 2 and cmp.dt == 2.0
    assert set(cmp.cross_entropy) == {"LSTM", "Markov order 1", "Markov order 2",
                                      "Markov order 3"}
    # the LSTM entry is the mean of the models' held-out losses on the same characters
    held = [d[-300:][2:] for d in dtrajs]
    assert cmp.cross_entropy["LSTM"] == pytest.approx(
        np.mean([m.score(held) for m in learned.models]))
    np.testing.assert_allclose(cmp.populations["LSTM"],
                               np.bincount(learned.generated.ravel(), minlength=3) / 3500)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"n_models": 4, "n_chains": 3}, ValueError, r"n_chains \(3\) must be at least n_models"),
    ({"estimator": "lstm"}, TypeError, "estimator must be an mdlstm.LSTMEstimator"),
    ({"n_models": 0}, ValueError, "n_models must be a positive integer"),
])
def test_learn_rejects_bad_arguments(dtrajs, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        learn(dtrajs, **kwargs)


def test_evaluate_needs_learned(dtrajs):
    with pytest.raises(TypeError, match="learned must be what mdlstm.pipeline.learn returns"):
        evaluate(dtrajs, {"models": []})


def _first_chains(learned, dtrajs, n_chains, n_steps, seed):
    """The chains correct() draws first: the models' share of prompted chains."""
    from mdlstm.model import generate_together, prompts

    starts = prompts(dtrajs, n_chains, SMALL.seq_length)
    shares = np.array_split(np.arange(n_chains), len(learned.models))
    return np.concatenate(generate_together(learned.models, n_steps,
                                            [starts[rows] for rows in shares], seed=seed))


def test_correct_judges_against_the_uncorrected_chains_or_a_reference(dtrajs, learned):
    from mdlstm.maxcal import MaxCalVerdict, path_statistic
    from mdlstm.pipeline import correct

    before = _first_chains(learned, dtrajs, 20, 300, seed=4)
    target = float(np.median(path_statistic(before, "hop_fraction")))
    verdict = correct(dtrajs, learned.models, SMALL, "hop_fraction", target, n_chains=20,
                      n_steps=300, n_select=5, reference=None, seed=4)
    assert isinstance(verdict, MaxCalVerdict) and verdict.reference is None
    assert list(verdict.comparisons) == ["after"]
    np.testing.assert_array_equal(np.stack(verdict.comparisons["after"].trajectories["MD"]),
                                  before)
    assert np.dot(verdict.correction.weights_, verdict.correction.values_) == \
        pytest.approx(target, rel=1e-9)
    other = [MarkovStateModel(P).simulate(2000, seed=9)]
    judged = correct(dtrajs, learned.models, SMALL, "hop_fraction", target, n_chains=20,
                     n_steps=300, n_select=5, reference=other, seed=4)
    np.testing.assert_allclose(judged.comparisons["before"].populations["MD"],
                               np.bincount(other[0], minlength=3) / 2000)
    with pytest.raises(ValueError, match="reference contains state 7"):
        correct(dtrajs, learned.models, SMALL, "hop_fraction", target, reference=[7, 0, 1])
    with pytest.raises(TypeError, match="models must be an mdlstm.LSTMModel"):
        correct(dtrajs, ["m"], SMALL, "hop_fraction", target)
