"""Test-session settings.

One OpenMP thread per process: the suite runs several processes at once
(multiprocessing/dask backends, subprocess tests) on small machines, where
torch's spinning OpenMP threads would otherwise slow small LSTM steps by up to
10x (measured on 2 cores). Set before torch is imported; a value chosen by the
caller wins.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
