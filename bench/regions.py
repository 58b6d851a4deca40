#!/usr/bin/env python
"""Region reading speed (read + resize to 4096² at 0.5 µm/px), side by side in one process.

Compares, on the 40x demo slide (each region = an 8192² level-0 read, halved) and the 20x demo slide:
  - one_read:   WSI.read_region, one OpenSlide call per region (hipt_nb)
  - naive_256:  the official structure: 256 separate reads of 256² patches (512² at 40x, each resized)
  - DataLoader over all kept regions of both slides with 0 and N workers (batch 1)
Writes bench/regions.json (date, CPU, threads, versions, timings, ratios).
usage: python bench/regions.py [--workers N] [--naive-regions K]"""
import argparse, datetime, json, os, time
from pathlib import Path
import numpy as np, openslide, torch
from PIL import Image
import hipt_nb
from hipt_nb.core import PATCH
from hipt_nb.data import demo_slide
from hipt_nb.extract import cpu_name
from hipt_nb.wsi import WSI, RegionDataset, patch_coords, region_grid, segment_tissue

def naive_region(w, xy):
    "256 reads of one patch each, as the official per-patch pipelines do, assembled into the region."
    out = np.empty((4096, 4096, 3), np.uint8)
    n0 = int(round(PATCH*w.scale))
    for i, (x, y) in enumerate(patch_coords(xy, w.scale)):
        p = w.osr.read_region((int(x), int(y)), 0, (n0, n0)).convert("RGB")
        if n0 != PATCH: p = p.resize((PATCH, PATCH), Image.Resampling.LANCZOS)
        r, c = divmod(i, 16); out[r*PATCH:(r + 1)*PATCH, c*PATCH:(c + 1)*PATCH] = np.asarray(p)
    return out

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--workers", type=int, default=2); ap.add_argument("--naive-regions", type=int, default=2)
    args = ap.parse_args()
    res = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), cpu=cpu_name(), cores=os.cpu_count(),
               torch_threads=torch.get_num_threads(), torch=torch.__version__, openslide=openslide.__library_version__,
               hipt_nb=hipt_nb.__version__, slides={})
    slides, coords = [], []
    for name in ("tissue_40x", "tissue_20x"):
        w = WSI(demo_slide(name)); g = region_grid(w, segment_tissue(w))
        slides.append(w); coords.append(g.coords)
        w.read_region(g.coords[0])  # warm-up (file cache, decoder)
        t = time.perf_counter(); imgs = [w.read_region(xy) for xy in g.coords]; one = (time.perf_counter() - t)/len(g)
        k = min(args.naive_regions, len(g))
        t = time.perf_counter(); naive = [naive_region(w, xy) for xy in g.coords[:k]]; nv = (time.perf_counter() - t)/k
        mad = float(np.mean([np.abs(a.astype(np.int16) - b).mean() for a, b in zip(imgs, naive)]))
        res["slides"][name] = dict(mpp=w.mpp, scale=w.scale, regions=len(g), region_level0=g.size_level0,
                                   one_read_s_per_region=round(one, 3), naive_256_s_per_region=round(nv, 3),
                                   naive_over_one_read=round(nv/one, 2), regions_per_s_one_read=round(1/one, 3),
                                   mean_abs_diff_one_vs_naive=round(mad, 3))
    ds = RegionDataset(slides, coords)
    for nw in (0, args.workers):
        dl = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=nw)
        t = time.perf_counter(); n = sum(1 for _ in dl); dt = time.perf_counter() - t
        res[f"dataloader_workers_{nw}"] = dict(regions=n, seconds=round(dt, 2), regions_per_s=round(n/dt, 3))
    res["dataloader_speedup"] = round(res[f"dataloader_workers_{args.workers}"]["regions_per_s"]/res["dataloader_workers_0"]["regions_per_s"], 2)
    out = Path(__file__).with_name("regions.json")
    out.write_text(json.dumps(res, indent=1) + "\n"); print(json.dumps(res, indent=1))

if __name__ == "__main__": main()
