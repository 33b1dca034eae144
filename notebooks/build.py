"""Re-execute the teaching notebooks in place, so that the outputs committed with them are current.

    python notebooks/build.py          # every notebook, with its default parameters
    python notebooks/build.py 03 05    # only those whose file name contains "03" or "05"

Each notebook runs top to bottom in a fresh kernel (nbclient), from the ``notebooks/``
directory, with the repository root on ``PYTHONPATH`` so that ``sim`` and ``models`` import
without installing. The SHA-256 of its code cells is stored in the notebook metadata
(``brokersim.code_sha256``); ``tests/test_notebooks.py`` fails when the code has changed since
the outputs were made, so stale figures are not committed by accident. Runs are seeded, so
re-building unchanged notebooks gives the same numbers and figures.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def code_sha256(nb) -> str:
    """Hash of the notebook's code cells, in order (what the outputs depend on)."""
    digest = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode())
            digest.update(b"\0")
    return digest.hexdigest()


def build(path: Path, timeout: int = 600) -> float:
    """Execute ``path`` in place; returns the wall-clock seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env_path) if p)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(HERE)}}).execute()
    took = time.perf_counter() - start
    nb.metadata["brokersim"] = {"code_sha256": code_sha256(nb)}
    nbformat.write(nb, path)
    return took


def main(argv: list[str]) -> int:
    paths = sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
    if argv:
        paths = [p for p in paths if any(a in p.name for a in argv)]
    if not paths:
        print("no notebook matches", argv, file=sys.stderr)
        return 2
    for path in paths:
        print(f"{path.name}: {build(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
