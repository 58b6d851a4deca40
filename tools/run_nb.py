"""Re-run a notebook in place with real outputs, keeping the stored outputs of `#| slow` cells.

    OMP_NUM_THREADS=1 python tools/run_nb.py nbs/02_vit256.ipynb [--timeout 1800] [--run-slow | --slow-cells ID,ID]

Cells marked `#| slow` are long experiments (up to an hour on 2 cores). By default they are not
executed: their stored outputs from their last full run are kept, and the cells after them must
not depend on their variables (the course keeps it that way). `--run-slow` executes them too; `--slow-cells ID,ID`
executes only the slow cells with those cell ids (new experiments whose cells do not use an earlier slow cell's variables).
The notebook is then cleaned with `nbdev_clean`. Run `nbdev_export` afterwards if exported code changed.
"""
import argparse, re, subprocess, sys
from pathlib import Path
import nbformat
from nbconvert.preprocessors import ExecutePreprocessor

SLOW = re.compile(r"^#\|\s*slow\b", re.M)

class KeepSlow(ExecutePreprocessor):
    run_slow = False
    slow_cells = ()
    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and not self.run_slow and SLOW.search(cell.source) and cell.get("id") not in self.slow_cells:
            return cell, resources          # keep the outputs of the last full run
        return super().preprocess_cell(cell, resources, index)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook", type=Path)
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--run-slow", action="store_true")
    ap.add_argument("--slow-cells", default="", help="comma-separated ids of the slow cells to execute")
    ap.add_argument("--allow-errors", action="store_true", help="exploratory run: record failing cells' errors and go on (never commit such a run)")
    a = ap.parse_args()
    nb = nbformat.read(a.notebook, as_version=4)
    ep = KeepSlow(timeout=a.timeout, kernel_name="python3", allow_errors=a.allow_errors)
    ep.run_slow, ep.slow_cells = a.run_slow, tuple(filter(None, a.slow_cells.split(",")))
    ep.preprocess(nb, {"metadata": {"path": str(a.notebook.parent)}})
    nbformat.write(nb, a.notebook)
    subprocess.run([sys.executable, str(Path(__file__).parent/"redact_paths.py"), str(a.notebook)], check=True)
    subprocess.run(["nbdev_clean", "--fname", str(a.notebook)], check=True)
    print(f"{a.notebook}: re-run" + ("" if a.run_slow else ", slow cells kept"), file=sys.stderr)

if __name__ == "__main__":
    main()
