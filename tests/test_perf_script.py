"""The performance benchmark script (benchmarks/perf.py) runs and prints every row."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "perf.py"

# Row names of `perf.py --quick --threads 1`, in order, and what their result cell holds.
QUICK_ROWS = [
    ("generation, 1,000 chains vs naive loop (1 thread)", "PASS|FAIL"),
    ("generation, 16 chains vs naive loop (1 thread)", "-"),
    ("generation, 3 models x 16 chains together vs one after another (1 thread)", "-"),
    ("generation, 1,000 chains vs deeptime MSM (1 thread)", "-"),
    ("generation, 16 chains vs deeptime MSM (1 thread)", "-"),
    ("generation, best 1,000-chain rate vs target", "PASS|FAIL"),
    ("simulated time per wall second vs OpenMM (1 thread)", "PASS|FAIL"),
    ("generation, transformer 64/1x4/128 vs LSTM 8/64/1, 1,000 chains (1 thread)", "-"),
    ("generation, transformer, 100 chains: last vs first 100 of 300 steps after a full context "
     "(1 thread)", "PASS|FAIL"),
    ("training 8/64/1, batch 64, seq 100, float32 vs float32 matmul peak (1 thread)", "-"),
    ("training 8/64/1, batch 256, seq 100, float32 vs float32 matmul peak (1 thread)",
     "PASS|FAIL"),
    ("training 128/1024/1, batch 4, seq 10, float32 vs float32 matmul peak (1 thread)", "-"),
    ("training 8/64/1, batch 256, seq 100, bfloat16 vs bfloat16 matmul peak (1 thread)", "-"),
    ("training 128/1024/1, batch 4, seq 10, bfloat16 vs bfloat16 matmul peak (1 thread)",
     "-"),
    ("training 2 models 8/64/1 (2 steps of batch 64 each): fit_many, 2 processes x 1 thread "
     "vs in turn", "PASS|FAIL"),
    ("CV extraction, CVSeries vs plain loop (2,000 frames)", "PASS|FAIL"),
    ("CV extraction, multiprocessing 2 workers vs serial", "PASS|FAIL"),
    ("CV extraction, dask 2 workers vs serial", "PASS|FAIL"),
    ("memory, generating 1e6 chars (100 x 10,000), peak RSS", r"n/a \(1e6 chars only\)"),
]
# A positive number followed by the unit of its column.
RATIO = re.compile(r"^\d+(\.\d+)?(e-?\d+)?(x| GB)$|^[+-]?\d+(\.\d+)?%( time)?$")


@pytest.fixture(scope="module")
def perf():
    spec = importlib.util.spec_from_file_location("perf", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_run_prints_every_row(tmp_path):
    out = tmp_path / "perf.md"
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--threads", "1",
                           "--device", "cpu", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = done.stdout
    assert out.read_text() == report
    for fact in ("- CPU: ", "- torch ", "measured at 1; device: cpu", "- OpenMM ",
                 "- load average (1/5/15 min): ",
                 "- Matmul peaks, GFLOP/s (1 thread): float32 torch.matmul "):
        assert fact in report
    lines = [line for line in report.splitlines() if line.startswith("| ")]
    assert lines[0] == "| measurement | mdlstm | baseline | ratio | target | result |"
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]
    assert [row[0] for row in rows] == [name for name, _ in QUICK_ROWS]
    for row, (name, result) in zip(rows, QUICK_ROWS):
        assert len(row) == 6, row
        assert RATIO.match(row[3]), f"{name}: ratio {row[3]!r}"
        assert re.fullmatch(result, row[5]), f"{name}: result {row[5]!r}"
    # the paper's sampler is far slower than 1,000 chains at once, even in a smoke test
    first = rows[0]
    assert float(first[3].rstrip("x")) > 10


def test_training_flops_per_character(perf):
    # 3 x (2*4H(E+H) + 2*H*V): forward matrix products, backward twice as many
    assert perf.train_flops_per_char(8, 64, 1, 20) == 3 * (8 * 64 * 72 + 2 * 64 * 20)
    assert perf.train_flops_per_char(8, 64, 1, 20) == 118_272
    assert perf.train_flops_per_char(128, 1024, 1, 20) == 28_434_432
    # a second layer reads the first layer's H outputs
    assert (perf.train_flops_per_char(8, 64, 2, 20) - perf.train_flops_per_char(8, 64, 1, 20)
            == 3 * 8 * 64 * 128)


def test_matmul_peak_per_library_and_the_best_of_them(perf):
    peaks = perf.matmul_peak([64], torch.device("cpu"), 1)
    expected = {"torch.matmul", "oneDNN"} if torch.backends.mkldnn.is_available() else {
        "torch.matmul"}
    assert set(peaks) == expected and all(rate > 0 for rate in peaks.values())
    assert perf.best_library({"torch.matmul": 1.0, "oneDNN": 2.0}) == ("oneDNN", 2.0)


def test_a_lower_precision_product_does_not_count_as_float32(perf):
    a, b = torch.randn(128, 128), torch.randn(128, 128)
    exact = a @ b
    # float32 products summed in another order differ by rounding only
    perf._check_same_product((a.double() @ b.double()).float(), exact)
    through_bf16 = (a.bfloat16() @ b.bfloat16()).float()
    with pytest.raises(RuntimeError, match="not a product of that precision"):
        perf._check_same_product(through_bf16, exact)
    # in bfloat16 the rounding of bfloat16 passes, a wrong product does not
    perf._check_same_product(exact.bfloat16(), through_bf16.bfloat16())
    with pytest.raises(RuntimeError, match="not a product of that precision"):
        perf._check_same_product((exact * 1.1).bfloat16(), through_bf16.bfloat16())


def test_naive_sampler_is_seeded_and_in_range(perf):
    net = perf.paper_model("cpu").network
    first = perf.naive_generate(net, 50, seed=3)
    assert first.shape == (50,) and first.dtype.name == "uint8"
    assert first.max() < perf.N_STATES
    assert (perf.naive_generate(net, 50, seed=3) == first).all()


@pytest.mark.parametrize("value", ["0", "1,x", ""])
def test_bad_threads_are_refused(perf, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        perf.parse_args(["--threads", value])
    assert exit_info.value.code == 2
    assert "--threads must be positive integers separated by commas" in capsys.readouterr().err
