"""Shared fixtures of the package tests (``pytest --pyargs mdlstm``).

One OpenMP thread per process: the suite runs several processes at once
(multiprocessing/dask backends, subprocess tests) on small machines, where
torch's spinning OpenMP threads would otherwise slow small LSTM steps by up to
10x (measured on 2 cores). Set before torch is imported; a value chosen by the
caller wins.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402  (after the thread setting, before anything imports torch)


def pytest_configure(config):
    """The slow marker, and its default outside the repository (``pytest --pyargs mdlstm``)."""
    config.addinivalue_line("markers", "slow: longer checks (run with -m slow)")
    if not config.option.markexpr:
        config.option.markexpr = "not slow"


#: The MDAnalysis backends every frame loop is tested on, with their run() keywords
#: (MDAnalysis' own tests do the same with ``params_for_cls``).
BACKENDS = {"serial": {}, "multiprocessing": {"backend": "multiprocessing", "n_workers": 2},
            "dask": {"backend": "dask", "n_workers": 2}}


@pytest.fixture(params=list(BACKENDS), scope="module")
def backend(request):
    """``run()`` keywords of one backend; tests taking it run on all three."""
    return BACKENDS[request.param]
