#!/usr/bin/env python
"""HIPT_4K inference speed: the official structure vs hipt_nb's paths, side by side in one process, against this machine's GEMM rate.

Input: real tissue, a 2048² crop (8 x 8 = 64 patches of 256²) of the centre region of the 20x demo slide;
s/region = time x 256/patches (ViT-256 is >99% of the work; a 4096² region has 256 patches).
  naive_fp32      : the official structure: from-scratch ViT-256 with manual attention (full N x N softmax in fp32),
                    all patches in one forward, torch.no_grad, the official crop/unfold/reshape wrapper
  fast_fp32       : hipt_nb HIPT4K under inference_mode (timm blocks, fused SDPA attention) at the best patch batch of
                    the sweep `fp32_batches` (patches per ViT_256-16 forward); fast_fp32_256: one whole 4096² region per forward
  compile_fp32    : the same with torch.compile(vit256) and inductor's freezing (weights folded and prepacked), if it compiles
  bf16_autocast   : torch.autocast(bfloat16) over fp32 weights (cast at every call)
  profile_fp32    : where the time of one fp32 forward of 16 patches goes (torch.profiler), and where its copies are made
  bf16_weights    : weights stored in bf16 (hipt_nb.hipt4k.at_precision), bf16 input: what `extract --precision bf16` runs;
                    with its own batch sweep `bf16_batches` on a CPU with bf16 units, else on 16 patches at batch 16 (it is slow)
Roofline: ViT_256-16's FLOPs per region over this machine's GEMM rate in each precision, measured on matmuls of the MLP's
shape (16 and 64 patches x 257 tokens, 384 -> 1536; the faster counts). Same thread count for all; the load average is
recorded before and after. Writes bench/hipt4k.json. usage: python bench/hipt4k.py [--no-compile] [--reps 2]"""
import argparse, datetime, json, os, time
from collections import Counter
from pathlib import Path
import torch, torch.nn.functional as F
import hipt_nb
from hipt_nb.data import demo_slide
from hipt_nb.extract import BF16_CPU_FLAGS, cpu_flags, cpu_name, vector_flags
from hipt_nb.hipt4k import HIPT4K, at_precision, to_input
from hipt_nb.wsi import WSI

def naive_vit256(sd, img, heads=6, depth=12):
    "The official ViT-S/16 structure (module-free, same ops): conv patch embed, DINO pos-embed, manual attention."
    B = img.shape[0]
    x = F.conv2d(img, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=16)
    gh, gw = x.shape[-2:]; x = x.flatten(2).transpose(1, 2)
    x = torch.cat([sd["cls_token"].expand(B, -1, -1), x], 1)
    pe = sd["pos_embed"]; D = pe.shape[-1]
    g = F.interpolate(pe[:, 1:].reshape(1, 14, 14, D).permute(0, 3, 1, 2), scale_factor=((gh + .1)/14, (gw + .1)/14), mode="bicubic")
    x = x + torch.cat([pe[:, :1], g.permute(0, 2, 3, 1).reshape(1, -1, D)], 1)
    for i in range(depth):
        w = lambda n: (sd[f"blocks.{i}.{n}.weight"], sd[f"blocks.{i}.{n}.bias"])
        h = F.layer_norm(x, (D,), *w("norm1"), eps=1e-6); N = h.shape[1]
        q, k, v = F.linear(h, *w("attn.qkv")).reshape(B, N, 3, heads, D//heads).permute(2, 0, 3, 1, 4)
        a = ((q @ k.transpose(-2, -1))*(D//heads)**-0.5).softmax(-1)
        x = x + F.linear((a @ v).transpose(1, 2).reshape(B, N, D), *w("attn.proj"))
        x = x + F.linear(F.gelu(F.linear(F.layer_norm(x, (D,), *w("norm2"), eps=1e-6), *w("mlp.fc1"))), *w("mlp.fc2"))
    return F.layer_norm(x, (D,), sd["norm.weight"], sd["norm.bias"], eps=1e-6)[:, 0]

def naive_hipt4k(sd, f4k, img):
    H, W = img.shape[-2:]; th, tw = H//256*256, W//256*256
    top, left = int(round((H - th)/2.0)), int(round((W - tw)/2.0)); img = img[:, :, top:top + th, left:left + tw]
    p = img.unfold(2, 256, 256).unfold(3, 256, 256).permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, 256, 256)
    feats = torch.vstack([naive_vit256(sd, mb) for mb in p.split(256)])
    return f4k(feats.reshape(th//256, tw//256, 384).transpose(0, 1).transpose(0, 2).unsqueeze(0))

def timed(f, reps=2):
    f(); best = float("inf")   # warm-up, then best of reps
    for _ in range(reps):
        t = time.perf_counter(); out = f(); best = min(best, time.perf_counter() - t)
    return out, best

BATCHES = (4, 8, 16, 32, 64)

def cmp(a, b): return dict(max_abs_diff=float((a.float() - b.float()).abs().max()), cosine=float(F.cosine_similarity(a.float(), b.float()).min()))

def cmp_features(o, ref) -> dict:
    "Lowest cosine to the fp32 features over the patches' cls256 and the region's cls4k."
    cos = lambda a, b: float(F.cosine_similarity(a.float().flatten(0, -2), b.float().flatten(0, -2)).min())
    return dict(cosine_cls256=cos(o["cls256"], ref["cls256"]), cosine_cls4k=cos(o["cls4k"], ref["cls4k"]))

def sweep(model, x, batches, reps, dtype=None) -> dict:
    "s/region of `model` on `x` for each patch batch."
    out, n = {}, (x.shape[-2]//256)*(x.shape[-1]//256)
    for b in batches:
        model.patch_batch = b
        _, t = timed(lambda: model.forward_features(x if dtype is None else x.to(dtype)), reps)
        out[b] = round(t*256/n, 2); print(f"  batch {b}: {out[b]} s/region", flush=True)
    return out

def op_profile(f) -> dict:
    "Self-CPU share of each op over one call of `f` (those of at least 0.5 %), and which ops the layout copies (aten::copy_) are made in."
    with torch.profiler.profile() as prof: f()
    ops = prof.key_averages(); total = sum(e.self_cpu_time_total for e in ops)
    shares = {e.key: round(e.self_cpu_time_total/total, 3) for e in sorted(ops, key=lambda e: -e.self_cpu_time_total) if e.self_cpu_time_total >= 0.005*total}
    parents = Counter(e.cpu_parent.name if e.cpu_parent is not None else "-" for e in prof.events() if e.name == "aten::copy_")
    return dict(self_cpu_share=shares, copy_made_in=dict(parents))

def gemm_rate(dtype, reps:int=3) -> float:
    "GFLOP/s of the MLP's first matmul (patches x 257 tokens, 384 -> 1536) in `dtype`, the faster of 16 and 64 patches."
    best = 0.
    for n in (16, 64):
        a, w = torch.randn(n*257, 384, dtype=dtype), torch.randn(1536, 384, dtype=dtype)
        _, t = timed(lambda: a @ w.t(), reps); best = max(best, 2*n*257*384*1536/t/1e9)
    return best

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--no-compile", action="store_true"); ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    flags = cpu_flags()
    bf16_units = any(f in flags for f in BF16_CPU_FLAGS)
    torch.manual_seed(0)
    model = HIPT4K().eval()
    sd = {k: v.detach() for k, v in model.vit256.state_dict().items()}
    region = WSI(demo_slide("tissue_20x")).read_region((4096, 4096))
    xfull = to_input(region[None]); x = xfull[:, :, 1024:3072, 1024:3072]      # 2048², 64 patches
    res = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), cpu=cpu_name(),
               cpu_flags=vector_flags(flags), bf16_units=bf16_units, loadavg_before=round(os.getloadavg()[0], 2),
               threads=torch.get_num_threads(), torch=torch.__version__, hipt_nb=hipt_nb.__version__, patches_timed=64, runs={})
    R = res["runs"]
    with torch.no_grad(): ref4k, t = timed(lambda: naive_hipt4k(sd, model.vit4k, x), args.reps)
    R["naive_fp32"] = dict(s_per_region=round(4*t, 2))
    with torch.inference_mode():
        print("fp32 patch batches", flush=True); res["fp32_batches"] = sweep(model, x, BATCHES, args.reps)
        best = min(res["fp32_batches"], key=res["fp32_batches"].get); model.patch_batch = best
        ref = model.forward_features(x)
        R["fast_fp32"] = dict(s_per_region=res["fp32_batches"][best], patch_batch=best, **cmp(ref["cls4k"], ref4k))
        model.patch_batch = 256; t0 = time.perf_counter(); model.forward_features(xfull)          # one pass: ~30 s on 2 AVX2 cores
        R["fast_fp32_256"] = dict(s_per_region=round(time.perf_counter() - t0, 2), patch_batch=256, patches_timed=256, reps=1)
        model.patch_batch = best
        res["profile_fp32"] = op_profile(lambda: model.forward_features(x[:, :, :1024, :1024]))   # 16 patches, one forward at batch 16
    if not args.no_compile:
        try:
            import torch._inductor.config as ic; ic.freezing = True
            cm = HIPT4K(torch.compile(model.vit256), model.vit4k, patch_batch=best)
            with torch.inference_mode():
                t0 = time.perf_counter(); cm.forward_features(x); ct = time.perf_counter() - t0
                out, t = timed(lambda: cm.forward_features(x), args.reps)
            R["compile_fp32"] = dict(s_per_region=round(4*t, 2), patch_batch=best, compile_s=round(ct, 1), **cmp_features(out, ref))
        except Exception as e: R["compile_fp32"] = dict(error=f"{type(e).__name__}: {e}"[:300])
    xs, n16 = (x, 64) if bf16_units else (x[:, :, :1024, :1024], 16)                 # without bf16 units: 16 patches (4 x 4)
    m16 = at_precision(model, torch.bfloat16)
    with torch.inference_mode():
        ref_s = ref if n16 == 64 else model.forward_features(xs)
        if bf16_units:
            print("bf16 patch batches", flush=True); res["bf16_batches"] = sweep(m16, xs, BATCHES, args.reps, torch.bfloat16)
            b16 = min(res["bf16_batches"], key=res["bf16_batches"].get)
        else: b16 = 16
        m16.patch_batch = model.patch_batch = b16
        out, t = timed(lambda: m16.forward_features(xs.bfloat16()), args.reps if bf16_units else 1)
        R["bf16_weights"] = dict(s_per_region=round(t*256/n16, 2), patch_batch=b16, patches_timed=n16, **cmp_features(out, ref_s))
        with torch.autocast("cpu", dtype=torch.bfloat16): out, t = timed(lambda: model.forward_features(xs), args.reps if bf16_units else 1)
        R["bf16_autocast"] = dict(s_per_region=round(t*256/n16, 2), patch_batch=b16, patches_timed=n16, **cmp_features(out, ref_s))
        model.patch_batch = best
    N, D, L = 257, 384, 12
    flops = 256*L*(24*N*D*D + 4*N*N*D)
    rates = {"fp32": gemm_rate(torch.float32), "bf16": gemm_rate(torch.bfloat16)}
    res["roofline"] = dict(vit256_tflop_per_region=round(flops/1e12, 2), **{f"gemm_gflops_{p}": round(r, 1) for p, r in rates.items()},
                           **{f"gemm_bound_s_per_region_{p}": round(flops/(r*1e9), 2) for p, r in rates.items()})
    base = R["naive_fp32"]["s_per_region"]
    for k, r in R.items():
        if "s_per_region" not in r: continue
        r["speedup_vs_naive_fp32"] = round(base/r["s_per_region"], 2)
        r["fraction_of_gemm_bound"] = round(res["roofline"][f"gemm_bound_s_per_region_{'bf16' if k.startswith('bf16') else 'fp32'}"]/r["s_per_region"], 3)
    res["loadavg_after"] = round(os.getloadavg()[0], 2)
    out = Path(__file__).with_name("hipt4k.json"); tmp = out.with_suffix(".tmp"); tmp.write_text(json.dumps(res, indent=1) + "\n"); tmp.replace(out)
    print(json.dumps(res, indent=1))

if __name__ == "__main__": main()
