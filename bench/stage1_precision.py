#!/usr/bin/env python
"""fp32 against bf16 autocast for stage-1 DINO on CPU, with the recipe of the course ViT_256-16 (tools/course_vit256.py:
2 blocks, 4,096 prototypes, 2 x 160² + 4 x 64² crops, batch 32), side by side in one process.

`train_stage1` runs end to end (augmentation in the same process, workers=0) for --iters iterations in each precision,
alternating fp32, bf16, fp32, bf16 so that drift in the machine's load hits both; the first iteration of every run is
left out (allocations). The training FLOPs of one iteration (student forward + backward ~ 3 x forward on all crops, teacher
forward on the 2 global crops, ViT blocks and DINO head) are set against this machine's own matrix-multiply rate
in each precision, measured on a matmul of the MLP's shape. Writes bench/stage1_precision.json.
usage: OMP_NUM_THREADS=1 python bench/stage1_precision.py [--iters 6] [--rounds 2]"""
import argparse, csv, datetime, json, os, tempfile, time
from pathlib import Path
import torch
import hipt_nb
from hipt_nb.data import sample_slide
from hipt_nb.dino import SlidePatches, dino_args, train_stage1
from hipt_nb.extract import cpu_name, vector_flags

RECIPE = dict(depth=2, out_dim=4096, global_size=160, local_size=64, local_crops_number=4, batch_size_per_gpu=32,
              warmup_iters=0, save_every=0, lr=0.001)

def vit_flops(n_tokens:int, depth:int, dim:int=384) -> float:
    "Forward FLOPs of one image through `depth` ViT blocks (QKV, projection, MLP ×4, attention) and the patch embedding."
    return depth*(24*n_tokens*dim*dim + 4*n_tokens*n_tokens*dim) + 2*(n_tokens - 1)*dim*16*16*3

def head_flops(out_dim:int, dim:int=384, hidden:int=2048, bottleneck:int=256) -> float:
    return 2*(dim*hidden + hidden*hidden + hidden*bottleneck + bottleneck*out_dim)

def iteration_flops(a) -> float:
    "Training FLOPs of one iteration: student fwd+bwd (3 x fwd) on all crops, teacher fwd on the global crops."
    g = vit_flops((a.global_size//16)**2 + 1, a.depth) + head_flops(a.out_dim)
    l = vit_flops((a.local_size//16)**2 + 1, a.depth) + head_flops(a.out_dim)
    return a.batch_size_per_gpu*(3*(2*g + a.local_crops_number*l) + 2*g)

def gemm_rate(dtype, reps:int=5) -> float:
    "GFLOP/s of a matmul of the MLP's shape (tokens of a batch of global crops x 384 -> 1536) in `dtype`."
    x, w = torch.randn(32*101, 384, dtype=dtype), torch.randn(1536, 384, dtype=dtype)
    x @ w.t()
    t = time.perf_counter()
    for _ in range(reps): x @ w.t()
    return 2*x.shape[0]*384*1536*reps/(time.perf_counter() - t)/1e9

def seconds_per_iteration(precision:str, patches, iters:int) -> float:
    a = dino_args(**RECIPE, max_iters=iters + 1, precision=precision)
    with tempfile.TemporaryDirectory() as d:
        train_stage1(a, patches, d, progress=False)
        s = [float(r["seconds"]) for r in csv.DictReader(open(Path(d)/"log.csv"))]
    return (s[-1] - s[0])/iters                    # log.csv's seconds are cumulative: iterations 2..n

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--iters", type=int, default=6); ap.add_argument("--rounds", type=int, default=2)
    o = ap.parse_args()
    patches = SlidePatches(sample_slide(), stride=64)
    res = dict(date=datetime.datetime.now().isoformat(timespec="seconds"),
               cpu=cpu_name(),
               cpu_flags=vector_flags(),
               loadavg_before=os.getloadavg()[0], threads=torch.get_num_threads(), torch=torch.__version__, hipt_nb=hipt_nb.__version__,
               recipe=RECIPE, iterations_per_run=o.iters, rounds=o.rounds, runs={"fp32": [], "bf16": []})
    for _ in range(o.rounds):
        for p in ("fp32", "bf16"): res["runs"][p].append(round(seconds_per_iteration(p, patches, o.iters), 3)); print(p, res["runs"][p][-1], flush=True)
    flops = iteration_flops(dino_args(**RECIPE))
    res["gflop_per_iteration"] = round(flops/1e9, 1)
    res["gemm_gflops"] = {"fp32": round(gemm_rate(torch.float32), 1), "bf16": round(gemm_rate(torch.bfloat16), 1)}
    res["summary"] = {}
    for p, ts in res["runs"].items():
        t = min(ts)
        res["summary"][p] = dict(s_per_iteration=t, achieved_gflops=round(flops/t/1e9, 1),
                                 fraction_of_gemm_rate=round(flops/t/1e9/res["gemm_gflops"][p], 3),
                                 fraction_of_fp32_gemm_rate=round(flops/t/1e9/res["gemm_gflops"]["fp32"], 3))
    res["bf16_speedup"] = round(res["summary"]["fp32"]["s_per_iteration"]/res["summary"]["bf16"]["s_per_iteration"], 2)
    res["loadavg_after"] = os.getloadavg()[0]
    out = Path(__file__).with_name("stage1_precision.json"); out.write_text(json.dumps(res, indent=1) + "\n"); print(json.dumps(res, indent=1))

if __name__ == "__main__": main()
