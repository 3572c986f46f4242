"""The estimator contract every mdlstm estimator keeps (check_estimator, in small)."""

import numpy as np
import pytest

from mdlstm import Discretizer, LSTMEstimator

ESTIMATORS = [
    (LSTMEstimator, {"hidden_size": 16, "seed": 3, "carry_state": False}),
    (Discretizer, {"n_states": 4, "periodic": 2 * np.pi, "seed": 1}),
]


@pytest.mark.parametrize("cls, params", ESTIMATORS, ids=lambda x: getattr(x, "__name__", ""))
def test_parameters_come_from_the_signature(cls, params):
    est = cls(**params)
    got = est.get_params()
    assert list(got) == cls.param_names()
    assert all(got[k] is v for k, v in params.items())   # stored verbatim
    twin = est.clone()
    assert type(twin) is cls and twin is not est and twin.get_params() == got
    assert cls(**got).get_params() == got                # round trip
    ordered = [f"{k}={params[k]!r}" for k in cls.param_names() if k in params]
    assert repr(est) == f"{cls.__name__}({', '.join(ordered)})"   # what differs from defaults
    assert est.set_params(seed=7) is est and est.seed == 7
    with pytest.raises(ValueError, match="has no parameter"):
        est.set_params(colour="red")


def test_unfitted_estimators_say_so():
    assert LSTMEstimator().fetch_model() is None
    with pytest.raises(Exception, match="fit"):
        Discretizer(n_states=3).transform([0.0, 1.0])


def test_clone_is_unfitted():
    disc = Discretizer(n_states=3).fit(np.linspace(0, 1, 50))
    assert hasattr(disc, "n_states_") and not hasattr(disc.clone(), "n_states_")
    assert disc.clone(n_states=5).n_states == 5
