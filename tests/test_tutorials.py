"""The tutorial notebooks are committed clean and run top to bottom.

The fast tests read the notebooks only: each starts with a markdown cell that
says what it shows and how long it takes, reads ``MDLSTM_TUTORIAL_QUICK`` to
choose its size, and is stored without outputs (small diffs, no stale
results). The slow test executes every notebook with nbclient at reduced size
(``MDLSTM_TUTORIAL_QUICK=1``) in a fresh working directory, with the Python
kernel of the interpreter running the tests, and fails on any error.
"""

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
EXPECTED = ["01_alanine_dipeptide.ipynb", "02_four_state_memory.ipynb",
            "03_bring_your_own_data.ipynb", "04_going_big.ipynb", "05_phi_psi.ipynb",
            "06_maxcal.ipynb"]
CELL_TIMEOUT_S = 600

# Facts the text of each notebook states, printed by the notebook at reduced size.
STATED = {
    "01_alanine_dipeptide": ["5500 analysed frames; one model step = 4 ps",
                             "new chains differ from the first run's: True"],
    "02_four_state_memory": ["(4, 25000, 2) = 100,000 frames",
                             "16 chains x 6,250 steps from each model"],
    "03_bring_your_own_data": ["exact     0.571  0.171  0.257      33.33    6.25   25.00"],
    "04_going_big": ["first analysed frame of each file: [   0 1100]",
                     "resumed run identical: True",
                     "structures in their generated state: 100.0%"],
    "05_phi_psi": ["11000 analysed frames of (phi, psi): results.cv has shape (11000, 2); "
                   "one model step = 2 ps",
                   "30 states: beta/C7eq 15, alpha_R 10, alpha_L 4, phi>0, psi~180 1",
                   "Markov order 1  2.938 nats per character"],
    "06_maxcal": ["exact populations [0.25, 0.5, 0.25], pi_0/pi_2 = 1",
                  "short run: 3000 steps, simulation seed 2, pi_0/pi_2 = 1.549",
                  "ValueError: target", "is unreachable"],
}


def _read(path):
    return nbformat.read(path, as_version=4)


def test_the_six_tutorials_are_there():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_starts_with_title_and_timings(path):
    first = _read(path).cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith("# ")
    assert "MDLSTM_TUTORIAL_QUICK" in first.source
    assert "Full size" in first.source and "Reduced size" in first.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nb = _read(path)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, "a tutorial without code"
    assert [cell.outputs for cell in code] == [[]] * len(code)
    assert {cell.execution_count for cell in code} == {None}
    # the raw JSON too: no output kept by a tool that nbformat would drop
    assert '"output_type"' not in path.read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_reads_the_quick_switch_and_ends_with_code(path):
    nb = _read(path)
    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    assert 'os.environ.get("MDLSTM_TUTORIAL_QUICK") == "1"' in code[0]
    # the last cell draws the figure or prints the table the text describes
    assert nb.cells[-1].cell_type == "code"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_at_reduced_size(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MDLSTM_TUTORIAL_QUICK", "1")
    # On a small, shared CI machine one torch thread is several times faster
    # than one per core, and numba's OpenMP threads (the Langevin integrator)
    # would otherwise keep competing with torch in the same kernel.
    for name, value in (("OMP_NUM_THREADS", "1"), ("NUMBA_THREADING_LAYER", "workqueue")):
        monkeypatch.setenv(name, os.environ.get(name, value))
    nb = _read(path)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell

    last = nb.cells[-1].outputs
    kinds = {kind for out in last for kind in out.get("data", {})}
    assert "image/png" in kinds or _text([nb.cells[-1]]).strip(), "the last cell showed nothing"
    printed = _text(nb.cells)
    for fact in STATED[path.stem]:
        assert fact in printed
    if path.stem == "01_alanine_dipeptide":
        trained, reloaded = re.search(r"trained (\S+), reloaded (\S+) nats", printed).groups()
        assert trained == reloaded


def _text(cells):
    """Everything the cells printed (streams and plain-text results)."""
    return "".join(out.get("text", "") + out.get("data", {}).get("text/plain", "")
                   for cell in cells if cell.cell_type == "code" for out in cell.outputs)
