"""mdlstm: learn molecular dynamics with an LSTM language model over CV states.

Tsai, Kuo & Tiwary, Nat. Commun. 11, 5115 (2020), as an MDAnalysis kit::

    from mdlstm import LSTMDynamics, cv
    run = LSTMDynamics(u, cv.Dihedral(u.residues[1].phi_selection())).run()
"""

__version__ = "0.1.0"

from . import cv  # noqa: E402
from .analysis import LSTMDynamics  # noqa: E402
from .discretize import Discretizer  # noqa: E402
from .model import LSTMModel  # noqa: E402
from .train import LSTMEstimator  # noqa: E402
from .validate import Comparison, compare  # noqa: E402

__all__ = ["LSTMDynamics", "cv", "Discretizer", "LSTMEstimator", "LSTMModel", "compare",
           "Comparison", "__version__"]
