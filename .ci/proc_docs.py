#!/usr/bin/env python
"""nbdev's docs pre-processing without Quarto: what `nbdev_proc_nbs` does after its Quarto install step.
Writes _proc/ (the notebooks as Quarto would render them: show_doc and exports re-run, directives applied)."""
import sys, warnings
from nbdev.config import get_config
from nbdev.doclinks import _build_modidx
from nbdev.quarto import refresh_quarto_yml
from nbdev.serve import proc_nbs

if __name__ == "__main__":  # proc_nbs spawns worker processes, which re-import this file
    refresh_quarto_yml(); _build_modidx()
    with warnings.catch_warnings(record=True) as caught:   # in-process (n_workers=0) so that its warnings reach us
        warnings.simplefilter("always")
        proc_nbs(force=True, n_workers=0)
    mixed = [str(w.message) for w in caught if "imports and other code" in str(w.message)]
    if mixed:  # such cells are executed at docs time, outside the test run: keep imports in cells of their own
        sys.exit("docs pre-processing: cells mix imports and other code:\n" + "\n".join(mixed))
    proc = get_config().config_path/"_proc"
    nbs = sorted(p.name for p in proc.glob("*.ipynb"))
    src = sorted(p.name for p in get_config().nbs_path.glob("*.ipynb") if not p.name.startswith("_"))
    missing = set(src) - set(nbs)
    assert not missing, f"proc_nbs did not process {sorted(missing)}"
    print(f"proc_nbs: {len(nbs)} notebooks processed into {proc}: {', '.join(nbs)}")
