"""Pretrain the course's context ViT_4096-256 shipped in hipt_nb/assets (notebooks 07 and 09a) with hipt_nb's own command,
measure what it learned along the way, and record exactly how.

    python tools/context_checkpoint.py WORKDIR

1. the context cohort (hipt_nb.cohort_features.context_cohort, built if absent); its pairs not marked held_out are the
   pretraining set (their unlabeled regions, features_cls256 of the course ViT_256-16);
2. `hipt_nb pretrain stage2` on them (ViT_4096-256 with 2 blocks), a checkpoint kept every 100 iterations
   (a rerun reuses a finished run in WORKDIR/s2);
3. the nest-vs-twin probe (hipt_nb.dino4k.nest_probe, trained on the pretraining pairs, tested on the held-out pairs) of
   every kept teacher, of the cohort's random ViT_4096-256 and of the mean patch embedding: the curve of notebook 07;
4. the final teacher's backbone in fp16, official key names → hipt_nb/assets/context_vit4k.pth, and
   hipt_nb/assets/context_vit4k.json with the command, timing, images seen, the curve and the SHA-256 values.
"""
import json, shlex, subprocess, sys, time
from pathlib import Path

import numpy as np
import torch

from hipt_nb.cohort_features import context_cohort, read_truth
from hipt_nb.core import to_grid
from hipt_nb.data import assets_dir, sha256sum
from hipt_nb.dino4k import nest_pairs, nest_probe, region_cls
from hipt_nb.vit4k import vit4k_from_checkpoint
from course_vit256 import teacher_fp16          # tools/course_vit256.py: the teacher backbone of a DINO checkpoint, fp16, official key names

ITERS, BATCH, KEEP = 1000, 16, 100
STAGE2 = ["hipt_nb", "pretrain", "stage2", "--depth", "2", "--out-dim", "4096", "--batch-size", str(BATCH), "--max-iters", str(ITERS),
          "--warmup-iters", "100", "--freeze-last-layer-iters", "100", "--lr", "0.008", "--seed", "0", "--no-progress",
          "--save-every", str(KEEP), "--keep-every", str(KEEP)]

def diagnostics(v, X) -> dict:
    "What could let ViT_4096-256 see arrangement: the spread of its positional embedding, and how far its CLS attention is from uniform."
    with torch.inference_mode(): a = v.get_last_selfattention(to_grid(X, 16, 16))[:, :, 0, 1:]       # [n, heads, 256]
    a = a/a.sum(-1, keepdim=True)
    rel_entropy = float((-(a*a.clamp_min(1e-12).log()).sum(-1)/np.log(256)).mean())
    return {"pos_embed_std": float(v.pos_embed[0, 1:].std()), "attention_relative_entropy": rel_entropy}

def main(work):
    work = Path(work); work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    ctx = context_cohort(); truth = read_truth(ctx)
    files = [str(ctx/"h5_files"/f"{r['slide_id']}.h5") for r in truth if not r["held_out"]]
    log = work/"s2"/"log.csv"
    if not (log.exists() and int(log.read_text().strip().splitlines()[-1].split(",")[0]) == ITERS):
        cmd = STAGE2 + files + ["--out", str(work/"s2")]
        print("$", shlex.join(cmd[:len(STAGE2)]), f"<{len(files)} h5 files>", "--out", work/"s2", flush=True)
        subprocess.run(cmd, check=True)
    rows = [r.split(",") for r in log.read_text().strip().splitlines()[1:]]
    rec = {"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "cohort": ctx.name, "stage2_seconds": float(rows[-1][-1]),
           "iterations": ITERS, "batch": BATCH, "images_seen": ITERS*BATCH, "pretraining_slides": len(files),
           "loss": {int(r[0]): float(r[2]) for r in rows if int(r[0]) % 25 == 0 or int(r[0]) == 1}}
    X, y, ho = nest_pairs(ctx)
    out = assets_dir()/"context_vit4k.pth"
    torch.save(teacher_fp16(work/"s2"/"checkpoint.pth"), out)
    curve, diag = {}, {}
    for it in range(0, ITERS + 1, KEEP):
        v = vit4k_from_checkpoint(ctx/"vit4k_random.pth" if it == 0 else work/"s2"/f"checkpoint{it:07d}.pth")
        curve[it], diag[it] = nest_probe(region_cls(v, X), y, ho), diagnostics(v, X[ho])
        print(f"iteration {it}: held-out nest probe AUC {curve[it]:.3f}, {diag[it]}", flush=True)
    rec["probe_auc"], rec["diagnostics"] = curve, diag
    rec["probe_auc_shipped_fp16"] = nest_probe(region_cls(vit4k_from_checkpoint(out).float(), X), y, ho)
    rec["probe_auc_mean_patch"] = nest_probe(X.mean(1).numpy(), y, ho)
    rec["held_out_pairs"], rec["pretraining_pairs"] = int(ho.sum()//2), int((~ho).sum()//2)
    rec["context_vit4k.pth"] = {"bytes": out.stat().st_size, "sha256": sha256sum(out)}
    rec["stage2_command"] = shlex.join(STAGE2 + ["COHORT/h5_files/<pairs not held out>.h5", "--out", "WORK/s2"])
    (assets_dir()/"context_vit4k.json").write_text(json.dumps(rec, indent=1))
    print(json.dumps({k: v for k, v in rec.items() if k != "loss"}, indent=1))

if __name__ == "__main__": main(sys.argv[1] if len(sys.argv) > 1 else "context_work")
