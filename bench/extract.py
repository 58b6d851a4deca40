#!/usr/bin/env python
"""End-to-end extraction speed: `extract_slides` (segmentation, region reading, full-size HIPT_4K fp32, h5 writing)
on the 3-region sparse demo slide, with 0 and N DataLoader reader workers, in one process, at the default patch batch
(16 patches per ViT_256-16 forward on a CPU) and, with 0 workers, at 256 (a whole region per forward, as the official code).
Random weights (the FLOPs are those of the official model). The CPU and the load average are recorded.
Writes bench/extract.json. usage: python bench/extract.py [--workers N]"""
import argparse, datetime, json, os, tempfile, time
from pathlib import Path
import torch
import hipt_nb
from hipt_nb.data import demo_slide
from hipt_nb.extract import cpu_name, default_patch_batch, extract_slides

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--workers", type=int, default=2); args = ap.parse_args()
    slide = demo_slide("sparse_20x")
    res = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), cores=os.cpu_count(), torch_threads=torch.get_num_threads(),
               cpu=cpu_name(), loadavg_before=round(os.getloadavg()[0], 2),
               torch=torch.__version__, hipt_nb=hipt_nb.__version__, slide=slide.name, model="HIPT_4K full size, fp32, cpu", runs={})
    for name, w, b in ((f"workers_0", 0, None), (f"workers_{args.workers}", args.workers, None), ("workers_0_batch256", 0, 256)):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter(); rows = extract_slides([slide], d, workers=w, batch_size=b, progress=False); dt = time.perf_counter() - t
        n = rows[0]["n_regions"]
        res["runs"][name] = dict(workers=w, patch_batch=b or default_patch_batch("cpu"), regions=n, seconds=round(dt, 1), s_per_region=round(dt/n, 1),
                                 regions_per_s=round(n/dt, 3))
    res["loadavg_after"] = round(os.getloadavg()[0], 2)
    out = Path(__file__).with_name("extract.json"); out.write_text(json.dumps(res, indent=1) + "\n"); print(json.dumps(res, indent=1))

if __name__ == "__main__": main()
