#!/usr/bin/env python
"""Write the shipped tile banks of the course cohorts (hipt_nb/assets/*_bank.npz and cohort_banks.json).

A cohort's bank is the ViT_256-16 CLS feature of every tile variant it draws from (notebook 05a). Computing the three banks
of the course takes about three minutes of one CPU core, on every fresh cache and every test run; shipping them saves that.
`demo_cohort` and `context_cohort` use a shipped bank only if its recipe (`demo_bank_recipe`, `context_bank_recipe`) is the
one they need, its SHA-256 matches, and rows of it recomputed at build time agree (`shipped_bank`); any other recipe is
computed as before. Run this after changing anything a bank depends on (tiles, restaining, embedding, a checkpoint):

    OMP_NUM_THREADS=1 python tools/cohort_banks.py            # the banks and the region features
    OMP_NUM_THREADS=1 python tools/cohort_banks.py regions    # the region features only

It also writes `demo_region_features.h5` (+ `.json`): the extraction of the demo slide `tissue_20x` that the stage-2
examples use (`hipt_nb.dino4k.demo_region_features`, notebook 07), about 50 s of every fresh cache otherwise. It is
used only if its SHA-256 is the one `demo_region_features.json` records, it was made with extraction's default tissue
threshold, this machine's segmentation of the slide gives the same regions, and its first region, embedded again,
agrees (`shipped_region_features`).
"""
import json, shutil, sys, tempfile, time
from pathlib import Path
import h5py
import numpy as np
import torch
from hipt_nb.cohort_features import (BANKS, _demo_bank, context_bank, context_bank_recipe, context_vit256_path, demo_bank_recipe)
from hipt_nb.cohorts import CONTEXT_COHORT, DEMO_COHORT, cohort_tiles
from hipt_nb.data import assets_dir, atomic_path, sha256sum
from hipt_nb.vit import vit256_from_checkpoint

def write(name:str, recipe:dict, arrays:dict, seconds:float, index:dict):
    p = assets_dir()/name
    with atomic_path(p) as tmp: np.savez(tmp, **arrays)
    index[name] = dict(recipe=json.loads(json.dumps(recipe)), sha256=sha256sum(p), shapes={k: list(v.shape) for k, v in arrays.items()},
                       seconds=round(seconds, 1), torch=torch.__version__)
    print(f"{name}: {index[name]['shapes']}, {seconds:.0f} s, sha256 {index[name]['sha256'][:12]}")

def region_features():
    from hipt_nb.dino4k import REGION_RECIPE, SHIPPED_REGIONS, _extract_demo
    name, t0 = "demo_region_features.h5", time.time()
    with tempfile.TemporaryDirectory() as d:
        h5 = Path(d)/name; _extract_demo(h5, **REGION_RECIPE)
        with h5py.File(h5, "r+") as f:                               # no path of this machine in the shipped file (nor in the copy on `coords`)
            for a in (f.attrs, f["coords"].attrs): a["slide_path"] = Path(a["slide_path"]).name
        with atomic_path(assets_dir()/name) as tmp: shutil.copyfile(h5, tmp)
    entry = dict(name=name, recipe=REGION_RECIPE, sha256=sha256sum(assets_dir()/name), seconds=round(time.time() - t0, 1), torch=torch.__version__)
    with atomic_path(assets_dir()/SHIPPED_REGIONS) as tmp: tmp.write_text(json.dumps(entry, indent=1) + "\n")
    print(f"{name}: {entry['seconds']:.0f} s, sha256 {entry['sha256'][:12]}")

def main():
    if sys.argv[1:] not in ([], ["regions"]): sys.exit(f"usage: python tools/cohort_banks.py [regions]; got {' '.join(sys.argv[1:])}")
    region_features()
    if sys.argv[1:] == ["regions"]: return
    index = {}
    v256 = assets_dir()/"course_vit256.pth"
    for name, over in (("demo_bank.npz", {}), ("course_demo_bank.npz", dict(vit256=v256.name, vit256_sha256=sha256sum(v256)))):
        r = {**DEMO_COHORT, **over}; t0 = time.time()
        tiles = cohort_tiles(r["stride"], r["min_tissue"])
        vit = vit256_from_checkpoint(v256) if over else None
        write(name, demo_bank_recipe(**r), {"bank": _demo_bank(tiles, r["stain"], r["depth256"], r["seed"], vit)}, time.time() - t0, index)
    r = {**CONTEXT_COHORT, "vit256_sha256": sha256sum(context_vit256_path())}; t0 = time.time()
    bank = context_bank(r["stain"], r["stride"], r["min_tissue"], vit256_from_checkpoint(context_vit256_path()))
    write("context_bank.npz", context_bank_recipe(**r), bank, time.time() - t0, index)
    with atomic_path(assets_dir()/BANKS) as tmp: tmp.write_text(json.dumps(index, indent=1) + "\n")

if __name__ == "__main__": main()
