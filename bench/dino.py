#!/usr/bin/env python
"""Stage-1 DINO training speed on this machine, in one process: the official full-size configuration (ViT-S/16, 12 blocks,
DINOHead out_dim 65536, 2x224² + 8x96² crops, fp32) on 256² tissue patches of the bundled slide.
Reports (1) multi-crop augmentation alone, (2) one training step (teacher + student forward, backward, clipping, AdamW,
EMA) on ready views, (3) `train_dino` end to end with workers=0 (both in series), as images/s and the time split.
The same three figures for the reduced CPU demo configuration of notebook 06. Each in fp32 and in bf16 (autocast, fp32 master
weights: `pretrain --precision bf16`); on a CPU without bf16 units (amx_bf16, avx512_bf16), where bf16 is emulated and
about 15x slower, bf16 is timed on --slow-batch images for 1 iteration. The CPU flags and the load average before and after
are recorded. Writes bench/dino.json.
usage: python bench/dino.py [--batch N] [--iters N] [--slow-batch N]"""
import argparse, datetime, json, os, tempfile, time
from pathlib import Path
import torch
import hipt_nb
from hipt_nb.data import sample_slide
from hipt_nb.extract import BF16_CPU_FLAGS, cpu_flags, cpu_name, vector_flags
from hipt_nb.dino import (DINOHead, DINOLoss, MultiCropModel, SlidePatches, clip_gradients, cosine_schedule, dino_args, ema_update,
                          COURSE_DEMO, param_groups, stage1_augment, stage1_models, train_stage1)

def measure(args, patches, batch, iters, precision="fp32"):
    "seconds per image for augmentation, for a training step on ready views, and for train_stage1 end to end."
    aug = stage1_augment(args)
    imgs = [patches[i % len(patches)] for i in range(batch)]
    torch.manual_seed(0); aug(imgs[0])
    t = time.perf_counter(); views = [aug(im) for im in imgs]; t_aug = (time.perf_counter() - t)/batch
    views = [torch.stack(v) for v in zip(*views)]
    s_bb, t_bb = stage1_models(args)
    student = MultiCropModel(s_bb, DINOHead(384, args.out_dim)); teacher = MultiCropModel(t_bb, DINOHead(384, args.out_dim))
    teacher.load_state_dict(student.state_dict()); [p.requires_grad_(False) for p in teacher.parameters()]
    loss_fn = DINOLoss(args.out_dim, 2 + args.local_crops_number); opt = torch.optim.AdamW(param_groups(student), lr=1e-5)
    def step(i):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            t_out = teacher(views[:2]); s_out = student(views); loss = loss_fn(s_out.float(), t_out.float(), i)
        opt.zero_grad(); loss.backward(); clip_gradients(student, 3.0); opt.step(); ema_update(teacher, student, 0.996)
    step(0)                                                     # warm-up (allocations)
    t = time.perf_counter()
    for i in range(iters): step(i + 1)
    t_step = (time.perf_counter() - t)/(iters*batch)
    a = dino_args(**{**vars(args), "batch_size_per_gpu": batch, "max_iters": iters + 1, "warmup_iters": 0, "save_every": 0,
                               "precision": precision})
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter(); train_stage1(a, patches, d, progress=False); t_e2e = (time.perf_counter() - t)/((iters + 1)*batch)
    return dict(precision=precision, batch=batch, iterations=iters, aug_s_per_image=round(t_aug, 4), step_s_per_image=round(t_step, 4),
                end_to_end_s_per_image=round(t_e2e, 4), images_per_s=round(1/t_e2e, 3),
                aug_share=round(t_aug/(t_aug + t_step), 3), fwd_bwd_share=round(t_step/(t_aug + t_step), 3))

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--batch", type=int, default=16); ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--slow-batch", type=int, default=4)
    a = ap.parse_args()
    flags = cpu_flags()
    bf16_units = bool(flags & set(BF16_CPU_FLAGS))
    patches = SlidePatches(sample_slide(), stride=64)
    res = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), cpu=cpu_name(), cores=os.cpu_count(),
               torch_threads=torch.get_num_threads(), torch=torch.__version__, hipt_nb=hipt_nb.__version__, device="cpu",
               cpu_flags=vector_flags(flags), bf16_units=bf16_units,
               loadavg_before=round(os.getloadavg()[0], 2), data=f"{len(patches)} 256² patches of {sample_slide().name} (stride 64)", runs={})
    for name, cfg in [("official_full_size", dict()), ("course_demo", COURSE_DEMO)]:
        args = dino_args(**cfg)
        for p in ("fp32", "bf16"):
            batch, iters = (a.batch, a.iters) if p == "fp32" or bf16_units else (a.slow_batch, 1)
            r = measure(args, patches, batch, iters, p)
            r["config"] = dict(depth=args.depth, out_dim=args.out_dim, global_size=args.global_size, local_size=args.local_size,
                               local_crops_number=args.local_crops_number)
            res["runs"][f"{name}_{p}"] = r; print(name, p, r, flush=True)
        res["runs"][f"{name}_bf16"]["bf16_speedup"] = round(res["runs"][f"{name}_fp32"]["end_to_end_s_per_image"]/res["runs"][f"{name}_bf16"]["end_to_end_s_per_image"], 3)
    res["loadavg_after"] = round(os.getloadavg()[0], 2)
    out = Path(__file__).with_name("dino.json"); out.write_text(json.dumps(res, indent=1) + "\n"); print(json.dumps(res, indent=1))

if __name__ == "__main__": main()
