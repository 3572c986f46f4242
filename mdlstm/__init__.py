"""mdlstm: learn molecular dynamics with an LSTM language model over CV states.

Tsai, Kuo & Tiwary, Nat. Commun. 11, 5115 (2020), as an MDAnalysis kit::

    from mdlstm import LSTMDynamics, cv
    run = LSTMDynamics(u, cv.Dihedral(u.residues[1].phi_selection())).run()

The names below are imported on first use (PEP 562): ``import mdlstm`` alone
costs MDAnalysis' import, not torch's and deeptime's, which matters for every
dask worker that unpickles an analysis.
"""

import importlib

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {"cv": None, "CVSeries": "analysis", "LSTMDynamics": "analysis",
            "Discretizer": "discretize",
            "LSTMEstimator": "train", "TransformerEstimator": "train",
            "LSTMModel": "model", "compare": "validate",
            "Comparison": "validate"}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mdlstm' has no attribute {name!r}")
    module = importlib.import_module(f".{_EXPORTS[name] or name}", __name__)
    value = module if _EXPORTS[name] is None else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])
