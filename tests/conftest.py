"""Repository-level checks (README, notebooks, docs, benchmarks): one OpenMP thread
per process, as for the package tests (see ``mdlstm/tests/conftest.py``)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
