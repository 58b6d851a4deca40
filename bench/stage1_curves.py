#!/usr/bin/env python
"""Do fp32 and bf16 autocast give the same stage-1 DINO training? 200-iteration loss curves, set against the seed-to-seed noise of fp32.

The recipe is bench/stage1_precision.py's (the course ViT_256-16's: 2 blocks, 4,096 prototypes, 4 local crops, no warm-up)
shrunk so that bf16 finishes on a CPU without bf16 units, where bf16 runs about 13x slower than fp32: batch 8, global crops
96², local crops 48²; the base lr is raised from 0.001 to 0.004 so that the step per iteration (lr x batch/256 = 1.25e-4)
stays the course recipe's. Runs: fp32 with seeds 0, 1, 2 and bf16 with seed 0. The same seed draws the
same initial weights, batches and augmentations, so fp32 seed 0 against bf16 seed 0 differs only in arithmetic;
fp32 seed 0 against seeds 1 and 2 is the noise a curve has anyway. Compared on means over windows of 20 iterations.

usage: OMP_NUM_THREADS=1 python bench/stage1_curves.py [--iters 200] [--runs fp32:0,fp32:1,fp32:2,bf16:0] [--out FILE]
       python bench/stage1_curves.py --merge A.json B.json      (runs made in separate processes → bench/stage1_curves.json)"""
import argparse, csv, datetime, json, os, tempfile, time
from pathlib import Path
import torch
import hipt_nb
from hipt_nb.data import sample_slide
from hipt_nb.extract import cpu_name, vector_flags
from hipt_nb.dino import SlidePatches, dino_args, train_stage1

RECIPE = dict(depth=2, out_dim=4096, global_size=96, local_size=48, local_crops_number=4, batch_size_per_gpu=8,
              warmup_iters=0, save_every=0, lr=0.004)
OUT = Path(__file__).with_name("stage1_curves.json")

def machine() -> dict:
    return dict(cpu=cpu_name(),
                cpu_flags=vector_flags(),
                threads=torch.get_num_threads(), torch=torch.__version__, hipt_nb=hipt_nb.__version__)

def curve(precision:str, seed:int, iters:int, patches) -> dict:
    "One training run's log: losses and teacher entropies per iteration, and its wall time."
    a = dino_args(**RECIPE, max_iters=iters, precision=precision, seed=seed)
    t0, load = time.time(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        train_stage1(a, patches, d, progress=False)
        rows = list(csv.DictReader(open(Path(d)/"log.csv")))
    return dict(precision=precision, seed=seed, wall_s=round(time.time() - t0, 1), loadavg_before=load, loadavg_after=os.getloadavg()[0],
                loss=[float(r["loss"]) for r in rows], teacher_entropy=[float(r["teacher_entropy"]) for r in rows])

def windows(x, w:int=20) -> list[float]: return [sum(x[i:i + w])/len(x[i:i + w]) for i in range(0, len(x), w)]

def summarise(res:dict) -> dict:
    "Largest window-mean gap of bf16 seed 0 to fp32 seed 0, against the largest gap of fp32 seeds 1, 2 to fp32 seed 0."
    runs = {f"{r['precision']}:{r['seed']}": windows(r["loss"]) for r in res["runs"]}
    ref = runs["fp32:0"]
    gap = lambda k: max(abs(a - b) for a, b in zip(runs[k], ref))
    noise = [gap(k) for k in runs if k.startswith("fp32:") and k != "fp32:0"]
    return dict(window=20, bf16_vs_fp32_same_seed=round(gap("bf16:0"), 4) if "bf16:0" in runs else None,
                fp32_seed_to_seed=[round(n, 4) for n in noise], within_noise=("bf16:0" in runs and bool(noise) and gap("bf16:0") <= min(noise)))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=200); ap.add_argument("--runs", default="fp32:0,fp32:1,fp32:2,bf16:0")
    ap.add_argument("--out", type=Path, default=OUT); ap.add_argument("--merge", nargs="+", type=Path)
    o = ap.parse_args()
    if o.merge:
        parts = [json.loads(p.read_text()) for p in o.merge]
        res = {**parts[0], "runs": [r for p in parts for r in p["runs"]]}
    else:
        patches = SlidePatches(sample_slide(), stride=64)
        res = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), **machine(), recipe=RECIPE, iterations=o.iters,
                   data="CMU-1-Small-Region.svs 256² patches (stride 64)", runs=[])
        for spec in o.runs.split(","):
            p, s = spec.split(":"); res["runs"].append(curve(p, int(s), o.iters, patches))
            print(spec, res["runs"][-1]["wall_s"], "s", flush=True)
    res["summary"] = summarise(res) if any(r["precision"] == "fp32" and r["seed"] == 0 for r in res["runs"]) else {}
    out = OUT if o.merge else o.out
    tmp = out.with_suffix(".tmp"); tmp.write_text(json.dumps(res, indent=1) + "\n"); tmp.replace(out)
    print(json.dumps(res["summary"], indent=1))

if __name__ == "__main__": main()
