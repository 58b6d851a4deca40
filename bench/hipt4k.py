#!/usr/bin/env python
"""HIPT_4K inference speed: the official structure vs hipt_nb's paths, side by side in one process.

Input: real tissue, a 2048² crop (8 x 8 = 64 patches of 256²) of the centre region of the 20x demo slide;
s/region = time x 4 (ViT-256 is >99% of the work; a 4096² region has 256 patches).
  naive_fp32  : the official structure: from-scratch ViT-256 with manual attention (full N x N softmax in fp32),
                patch mini-batches of 256, torch.no_grad, the official crop/unfold/reshape wrapper
  fast_fp32   : hipt_nb HIPT4K under inference_mode (timm blocks, fused SDPA attention)
  compile_fp32: the same with torch.compile(vit256) (inductor), if it compiles here
  fast_bf16   : fast path under torch.autocast(bfloat16) (measured on 16 patches when slow)
Same thread count for all. Writes bench/hipt4k.json. usage: python bench/hipt4k.py [--no-compile]"""
import argparse, datetime, json, os, platform, time
from pathlib import Path
import torch, torch.nn.functional as F
import hipt_nb
from hipt_nb.data import demo_slide
from hipt_nb.hipt4k import HIPT4K, to_input
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

def cmp(a, b): return dict(max_abs_diff=float((a - b).abs().max()), cosine=float(F.cosine_similarity(a.float(), b.float()).min()))

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--no-compile", action="store_true"); ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = HIPT4K().eval()
    sd = {k: v.detach() for k, v in model.vit256.state_dict().items()}
    region = WSI(demo_slide("tissue_20x")).read_region((4096, 4096))
    x = to_input(region[None])[:, :, 1024:3072, 1024:3072]       # 2048², 64 patches
    res = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), cpu=next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor()),
               cpu_flags=sorted({f for l in open("/proc/cpuinfo") if l.startswith("flags") for f in l.split() if f.startswith(("avx512", "amx", "avx2"))}),
               threads=torch.get_num_threads(), torch=torch.__version__, hipt_nb=hipt_nb.__version__, patches_timed=64, runs={})
    with torch.no_grad():
        ref, t = timed(lambda: naive_hipt4k(sd, model.vit4k, x), args.reps)
    res["runs"]["naive_fp32"] = dict(s_per_region=round(4*t, 2))
    with torch.inference_mode():
        out, t = timed(lambda: model(x), args.reps)
    res["runs"]["fast_fp32"] = dict(s_per_region=round(4*t, 2), **cmp(out, ref))
    if not args.no_compile:
        try:
            cm = HIPT4K(torch.compile(model.vit256), model.vit4k)
            with torch.inference_mode():
                t0 = time.perf_counter(); cm(x); ct = time.perf_counter() - t0
                out, t = timed(lambda: cm(x), args.reps)
            res["runs"]["compile_fp32"] = dict(s_per_region=round(4*t, 2), compile_s=round(ct, 1), **cmp(out, ref))
        except Exception as e: res["runs"]["compile_fp32"] = dict(error=f"{type(e).__name__}: {e}"[:300])
    xs = x[:, :, :1024, :1024]                                    # bf16 on 16 patches (4 x 4), compared on the same input
    with torch.no_grad(): ref16 = naive_hipt4k(sd, model.vit4k, xs)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out, t = timed(lambda: model(xs).float(), 1)
    res["runs"]["fast_bf16"] = dict(s_per_region=round(16*t, 2), patches_timed=16, **cmp(out, ref16))
    # the roofline: ViT-256 FLOPs per region vs this machine's fp32 GEMM rate on an fc1-sized matmul (64 patches x 257 tokens)
    N, D, L = 257, 384, 12
    flops = 256*L*(24*N*D*D + 4*N*N*D)
    a, w = torch.randn(64*N, D), torch.randn(4*D, D)
    _, tg = timed(lambda: a @ w.t(), 3)
    gflops = 2*64*N*D*4*D/tg/1e9
    res["roofline"] = dict(vit256_tflop_per_region=round(flops/1e12, 2), gemm_gflops_fp32=round(gflops, 1),
                           gemm_bound_s_per_region=round(flops/(gflops*1e9), 1))
    base = res["runs"]["naive_fp32"]["s_per_region"]
    for r in res["runs"].values():
        if "s_per_region" in r: r["speedup_vs_naive_fp32"] = round(base/r["s_per_region"], 2)
    out = Path(__file__).with_name("hipt4k.json"); out.write_text(json.dumps(res, indent=1) + "\n"); print(json.dumps(res, indent=1))

if __name__ == "__main__": main()
