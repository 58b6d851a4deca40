#!/usr/bin/env python
"""fp32 against bf16 autocast for stage-2 DINO on CPU, with the recipe of the stage-2 ablation rows of notebook 07
(tools/stage2_ablation.py: ViT_4096-256 with 2 blocks, 4,096 prototypes, official 14² + 8 x 6² token crops, batch 16),
side by side in one process, on fresh context regions (tools/context_dino_fresh.py's FreshRegions).

Alternates fp32, bf16, fp32, bf16 so that drift in the machine's load hits both; the first iteration of every run is left
out. The FLOPs of one iteration (student fwd + bwd ~ 3 x fwd on all crops, teacher fwd on the 2 global crops, ViT blocks at
width 192 and the DINO head) are set against this machine's own matrix-multiply rate in each precision, measured on a
matmul of the MLP's shape. Writes bench/stage2_precision.json.
usage: OMP_NUM_THREADS=1 python bench/stage2_precision.py [--iters 10] [--rounds 2]"""
import argparse, csv, datetime, json, os, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
import hipt_nb
from hipt_nb.cohort_features import context_cohort
from hipt_nb.dino4k import dino4k_args, train_stage2
from hipt_nb.extract import cpu_name, vector_flags
sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1]/"tools")]
from stage1_precision import head_flops
from context_dino_fresh import FreshRegions

RECIPE = dict(depth=2, out_dim=4096, batch_size_per_gpu=16, warmup_iters=0, freeze_last_layer_iters=0, save_every=0, lr=0.008, device="cpu")

def vit4k_flops(n_tokens:int, depth:int, dim:int=192) -> float:
    "Forward FLOPs of one region through `depth` ViT_4096-256 blocks (QKV, projection, MLP ×4, attention) and the 384 → 192 embedding."
    return depth*(24*n_tokens*dim*dim + 4*n_tokens*n_tokens*dim) + 2*(n_tokens - 1)*384*dim

def iteration_flops(a) -> float:
    g = vit4k_flops(a.global_size**2 + 1, a.depth) + head_flops(a.out_dim, dim=192)
    l = vit4k_flops(a.local_size**2 + 1, a.depth) + head_flops(a.out_dim, dim=192)
    return a.batch_size_per_gpu*(3*(2*g + a.local_crops_number*l) + 2*g)

def gemm_rate(dtype, reps:int=20) -> float:
    "GFLOP/s of a matmul of the MLP's shape (tokens of a batch of global crops x 192 -> 768) in `dtype`."
    x, w = torch.randn(16*197, 192, dtype=dtype), torch.randn(768, 192, dtype=dtype)
    x @ w.t()
    t = time.perf_counter()
    for _ in range(reps): x @ w.t()
    return 2*x.shape[0]*192*768*reps/(time.perf_counter() - t)/1e9

def seconds_per_iteration(precision:str, regions, iters:int) -> float:
    a = dino4k_args(**RECIPE, max_iters=iters + 1, precision=precision)
    with tempfile.TemporaryDirectory() as d:
        train_stage2(a, regions, d, progress=False)
        s = [float(r["seconds"]) for r in csv.DictReader(open(Path(d)/"log.csv"))]
    return (s[-1] - s[0])/iters

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--iters", type=int, default=10); ap.add_argument("--rounds", type=int, default=2)
    o = ap.parse_args()
    bank = {k: torch.from_numpy(v) for k, v in np.load(context_cohort()/"bank.npz").items()}
    regions = FreshRegions(bank, 16*(o.iters + 1), seed=0)
    res = dict(date=datetime.datetime.now().isoformat(timespec="seconds"),
               cpu=cpu_name(),
               cpu_flags=vector_flags(),
               loadavg_before=os.getloadavg()[0], threads=torch.get_num_threads(), torch=torch.__version__, hipt_nb=hipt_nb.__version__,
               recipe=RECIPE, iterations_per_run=o.iters, rounds=o.rounds, runs={"fp32": [], "bf16": []})
    for _ in range(o.rounds):
        for p in ("fp32", "bf16"): res["runs"][p].append(round(seconds_per_iteration(p, regions, o.iters), 3)); print(p, res["runs"][p][-1], flush=True)
    flops = iteration_flops(dino4k_args(**RECIPE))
    res["gflop_per_iteration"] = round(flops/1e9, 2)
    res["gemm_gflops"] = {"fp32": round(gemm_rate(torch.float32), 1), "bf16": round(gemm_rate(torch.bfloat16), 1)}
    res["summary"] = {}
    for p, ts in res["runs"].items():
        t = min(ts)
        res["summary"][p] = dict(s_per_iteration=t, achieved_gflops=round(flops/t/1e9, 1), fraction_of_gemm_rate=round(flops/t/1e9/res["gemm_gflops"][p], 3))
    res["bf16_speedup"] = round(res["summary"]["fp32"]["s_per_iteration"]/res["summary"]["bf16"]["s_per_iteration"], 2)
    res["loadavg_after"] = os.getloadavg()[0]
    out = Path(__file__).with_name("stage2_precision.json"); out.write_text(json.dumps(res, indent=1) + "\n"); print(json.dumps(res, indent=1))

if __name__ == "__main__": main()
