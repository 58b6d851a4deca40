#!/usr/bin/env python
"""HIPT_4K on an NVIDIA GPU: one prepared check of at most 5 minutes, for a machine where a GPU is lent.

    python bench/gpu.py              # on the GPU machine: writes bench/gpu.json
    python bench/gpu.py --dry-run    # anywhere: the same code paths on the CPU with a small 1-block model and a 512² crop, nothing written (the tests run this)

What it measures, side by side in one process, on real tissue (the centre 4096² region of the 20x demo slide):
  fp32           HIPT4K.forward_images under inference_mode: what `hipt_nb extract` runs (the uint8 region on the device,
                 each chunk of patches normalised only when it is embedded)
  bf16           the weights stored in bf16 (hipt_nb.hipt4k.at_precision), so each chunk is normalised into bf16: `extract --precision bf16`
  bf16_autocast  the fp32 model under torch.autocast(bfloat16), for comparison
  bf16_compile   bf16 weights with torch.compile(vit256)
each as regions/s (best of `--reps` after a warm-up), cosine of features_cls256 and features_cls4k to fp32, and peak GPU memory.
Then, with 2 or more GPUs, `hipt_nb extract` of 4 slides in one process and under `torchrun --nproc_per_node 2`: the h5 files
must hold identical datasets (compared array by array; `byte_identical` in the json).
Everything runs on `--device` (cuda by default); no branch is CUDA-only except the memory counters and the GPU count."""
import argparse, datetime, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import h5py, numpy as np, torch, torch.nn.functional as F
import hipt_nb
from hipt_nb.data import demo_slide, sample_slide
from hipt_nb.hipt4k import HIPT4K, at_precision, small_checkpoints
from hipt_nb.wsi import WSI

def sync(device):
    if device.startswith("cuda"): torch.cuda.synchronize(device)

def timed(f, device, reps):
    "Best wall time of `reps` calls of `f` after one warm-up call; (output, seconds)."
    out = f(); sync(device); best = float("inf")
    for _ in range(reps):
        t = time.perf_counter(); out = f(); sync(device); best = min(best, time.perf_counter() - t)
    return out, best

def cosine(a, b) -> float: return float(F.cosine_similarity(a.float().flatten(1), b.float().flatten(1)).min())

def run_precision(model, x, device, name, reps, ref=None):
    "One row: regions/s, cosine to `ref` (fp32) and peak memory for `model` on uint8 regions `x` [B, H, W, 3] under precision `name` (fp32, bf16, bf16_autocast)."
    auto = name == "bf16_autocast"
    if name == "bf16": model = at_precision(model, torch.bfloat16)
    if device.startswith("cuda"): torch.cuda.reset_peak_memory_stats(device)
    def f():
        with torch.inference_mode(), torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=auto):
            return {k: v.float() for k, v in model.forward_images(x).items() if k != "grid"}
    t0 = time.perf_counter(); out, t = timed(f, device, reps); total = time.perf_counter() - t0
    row = dict(s_per_region=round(t, 4), regions_per_s=round(1/t, 3), first_call_and_reps_s=round(total, 1))
    if ref is not None: row.update(cosine_cls256=cosine(out["cls256"], ref["cls256"]), cosine_cls4k=cosine(out["cls4k"], ref["cls4k"]))
    if device.startswith("cuda"): row["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device)/2**30, 2)
    return out, row

def same_h5(a:Path, b:Path) -> tuple[bool, float]:
    "(every dataset identical, max abs difference of the features) between two extraction h5 files."
    with h5py.File(a) as fa, h5py.File(b) as fb:
        same = sorted(fa) == sorted(fb) and all(np.array_equal(fa[k][:], fb[k][:]) for k in fa)
        diff = max(float(np.abs(fa[k][:] - fb[k][:]).max()) for k in ("features_cls256", "features_cls4k"))
    return same, diff

def torchrun_check(device, weights, slides, d:Path, nproc:int=2) -> dict:
    "`hipt_nb extract` of `slides` in one process and under torchrun with `nproc` processes; identical h5 files?"
    base = [*map(str, slides), "--device", device.split(":")[0], "--precision", "fp32", "--no-progress", *weights]
    runs = {"one": ["hipt_nb", "extract", "--out", str(d/"one"), *base],
            "torchrun": ["torchrun", "--standalone", f"--nproc_per_node={nproc}", "--no-python", "hipt_nb", "extract", "--out", str(d/"tr"), *base]}
    res = {}
    for name, cmd in runs.items():
        t = time.perf_counter(); r = subprocess.run(cmd, capture_output=True, text=True); res[f"{name}_s"] = round(time.perf_counter() - t, 1)
        if r.returncode != 0: return dict(error=f"{name}: exit {r.returncode}: {r.stderr.strip()[-500:]}")
    pairs = [same_h5(d/"one"/"h5_files"/f"{s.stem}.h5", d/"tr"/"h5_files"/f"{s.stem}.h5") for s in slides]
    return dict(slides=len(slides), processes=nproc, byte_identical=all(p[0] for p in pairs), max_abs_diff=max(p[1] for p in pairs), **res)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU, small 1-block model, a 512² crop, 2-slide torchrun on the CPU; writes nothing")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("gpu.json"))
    args = ap.parse_args(argv)
    device = "cpu" if args.dry_run else args.device
    if device.startswith("cuda") and not torch.cuda.is_available(): sys.exit("bench/gpu.py: no CUDA device here; use --dry-run to check the script on the CPU")
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if args.dry_run: p256, p4k = small_checkpoints(d); model = HIPT4K.from_checkpoints(p256, p4k); weights = ["--vit256", str(p256), "--vit4k", str(p4k)]
        else: torch.manual_seed(0); model = HIPT4K(); weights = ["--seed", "0"]          # random full-size weights: the official FLOPs
        model = model.eval().to(device)
        region = WSI(demo_slide("tissue_20x")).read_region((4096, 4096))
        x = torch.from_numpy(region[None]).to(device)                 # uint8 [1, 4096, 4096, 3], as extract sends it
        if args.dry_run: x = x[:, :512, :512]                          # 2 x 2 patches
        reps = 1 if args.dry_run else args.reps
        res = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), dry_run=args.dry_run, device=device,
                   gpu=torch.cuda.get_device_name(device) if device.startswith("cuda") else None, gpus=torch.cuda.device_count(),
                   torch=torch.__version__, cuda=torch.version.cuda, hipt_nb=hipt_nb.__version__, input=list(x.shape), runs={})
        ref, res["runs"]["fp32"] = run_precision(model, x, device, "fp32", reps)
        _, res["runs"]["bf16"] = run_precision(model, x, device, "bf16", reps, ref)
        _, res["runs"]["bf16_autocast"] = run_precision(model, x, device, "bf16_autocast", reps, ref)
        if not args.no_compile:
            m16 = at_precision(model, torch.bfloat16)
            try: _, res["runs"]["bf16_compile"] = run_precision(HIPT4K(torch.compile(m16.vit256), m16.vit4k).eval(), x, device, "bf16", reps, ref)
            except Exception as e: res["runs"]["bf16_compile"] = dict(error=f"{type(e).__name__}: {e}"[:300])
        n = 2 if args.dry_run or torch.cuda.device_count() >= 2 else 0
        if n:
            src = sample_slide() if args.dry_run else demo_slide("sparse_20x"); (d/"slides").mkdir()
            slides = [Path(shutil.copy(src, d/"slides"/f"s{k}{src.suffix}")) for k in range(2 if args.dry_run else 4)]
            res["torchrun"] = torchrun_check(device, weights, slides, d/"tr", n)
        else: res["torchrun"] = dict(skipped=f"{torch.cuda.device_count()} GPU(s): the 2-process check needs 2")
    res["wall_s"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(res, indent=1))
    if not args.dry_run: args.out.write_text(json.dumps(res, indent=1) + "\n")
    return res

if __name__ == "__main__": main()
