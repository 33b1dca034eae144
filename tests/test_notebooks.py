"""The teaching notebooks run top to bottom, small and fast, and have what a lesson needs.

Each notebook is executed with nbclient in a fresh kernel, with the small parameters below
injected after its ``parameters`` cell (as papermill does), so that CI runs it in seconds; any
failing cell fails the test. The structure tests check, on the committed file: the first cell
says what the notebook teaches, assumes and leaves out; there is a cell tagged ``parameters``
that assigns every name overridden here; at least one exercise answer is hidden; the committed
outputs come from the committed code (``notebooks/build.py`` records a hash of the code cells)
and contain no error.
"""

from __future__ import annotations

import ast
import hashlib
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

# Small values for CI, per notebook: the same stories, fewer messages and shorter times.
SMALL: dict[str, dict[str, object]] = {
    "01_push_vs_pull": {"RATE": 50, "DURATION": 2.0, "QUIET_DURATION": 2.0},
    "02_fire_and_forget_vs_log": {"RATE": 20, "DURATION": 12.0, "OFFLINE_AT": 3.0,
                                  "OFFLINE_FOR": 3.0, "JOIN_AT": 5.0, "REPLAY_AT": 9.0,
                                  "RETENTION_MS": 2000},
    "03_slow_consumers_and_memory": {"DURATION": 20.0, "OUTPUT_BUFFER_LIMIT": "pubsub 4mb 2mb 5",
                                     "EXERCISE_DURATION": 20.0},
    "04_partitions_and_consumer_groups": {"RATE": 50, "DURATION": 12.0, "JOIN_AT": 4.0,
                                          "CRASH_AT": 7.0},
    "05_delivery_guarantees": {"DURATION": 8.0, "CONSUMER_STARTS_AT": 1.0, "CRASH_AT": 3.3},
    "06_retention_and_compaction": {"DAYS": 10, "RECORD_EVERY": "1h",
                                    "SEGMENT_BYTES": 32 * 1024**2,
                                    "RETENTION_BYTES": 100 * 1024**2, "HOLIDAY": (2, 9),
                                    "EXERCISE_HOLIDAY": (2, 6)},
    "07_choosing": {"RATE": 50, "DURATION": 4.0, "FAN_OUT": 5, "MY_DURATION": "5s",
                    "MY_RATE": 50},
}
BUDGET = 60.0
"""Seconds one small run may take, kernel start included (typically a few seconds; the bound
leaves room for a busy CI machine)."""
FIRST_CELL = ("What you will learn", "What this assumes", "What the model leaves out")


def _load(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _parameters_cell(nb: nbformat.NotebookNode) -> int:
    tagged = [i for i, c in enumerate(nb.cells)
              if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def _code_sha256(nb: nbformat.NotebookNode) -> str:
    """As ``notebooks/build.py`` computes it."""
    digest = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode())
            digest.update(b"\0")
    return digest.hexdigest()


def test_every_notebook_has_small_parameters():
    found = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert found == sorted(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_structure(name: str):
    nb = _load(name)
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    for phrase in FIRST_CELL:
        assert phrase in first.source, f"first cell lacks {phrase!r}"
    params = nb.cells[_parameters_cell(nb)].source
    assigned = {t.id for node in ast.parse(params).body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    missing = set(SMALL[name]) - assigned
    assert not missing, f"the parameters cell does not assign {sorted(missing)}"
    hidden = [c for c in nb.cells
              if "<details>" in c.source or c.metadata.get("jupyter", {}).get("source_hidden")]
    assert hidden, "no hidden answer (a <details> block or a source_hidden cell)"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_committed_outputs_are_current(name: str):
    nb = _load(name)
    recorded = nb.metadata.get("brokersim", {}).get("code_sha256")
    assert recorded == _code_sha256(nb), (
        f"{name}: the code changed since its outputs were made; run "
        f"'python notebooks/build.py {name[:2]}' and commit the result")
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.get("execution_count"), f"{name}: a code cell was not executed"
            errors = [o for o in cell.outputs if o.output_type == "error"]
            assert not errors, f"{name}: committed output holds an error: {errors[0].ename}"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_runs_top_to_bottom_with_small_parameters(name: str, monkeypatch):
    nb = _load(name)
    overrides = "\n".join(f"{key} = {value!r}" for key, value in SMALL[name].items())
    injected = nbformat.v4.new_code_cell(
        "# Parameters injected by tests/test_notebooks.py\n" + overrides,
        metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(_parameters_cell(nb) + 1, injected)
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), path) if p))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    start = time.perf_counter()
    NotebookClient(nb, timeout=int(BUDGET), kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    took = time.perf_counter() - start
    assert took < BUDGET, f"{name} took {took:.1f} s with the small parameters"
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.outputs)
    assert images, f"{name} drew no figure"
