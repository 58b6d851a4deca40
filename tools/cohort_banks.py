#!/usr/bin/env python
"""Write the shipped tile banks of the course cohorts (hipt_nb/assets/*_bank.npz and cohort_banks.json).

A cohort's bank is the ViT_256-16 CLS feature of every tile variant it draws from (notebook 05a). Computing the three banks
of the course takes about three minutes of one CPU core, on every fresh cache and every test run; shipping them saves that.
`demo_cohort` and `context_cohort` use a shipped bank only if its recipe (`demo_bank_recipe`, `context_bank_recipe`) is the
one they need, its SHA-256 matches, and rows of it recomputed at build time agree (`shipped_bank`); any other recipe is
computed as before. Run this after changing anything a bank depends on (tiles, restaining, embedding, a checkpoint):

    OMP_NUM_THREADS=1 python tools/cohort_banks.py
"""
import json, time
from pathlib import Path
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

def main():
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
