"""Train the small course checkpoints shipped in hipt_nb/assets (what the heatmaps of notebook 12 show when the official
weights are absent), with hipt_nb's own commands, and record exactly how.

    python tools/course_checkpoint.py WORKDIR [STAGE1_CHECKPOINT]

With STAGE1_CHECKPOINT (e.g. hipt_nb/assets/course_vit256.pth, made by tools/course_vit256.py), step 1 is skipped and
stages 2–4 run on that ViT_256-16; only course_vit4k.pth is written then.

1. `hipt_nb pretrain stage1` on the bundled slide with the COURSE_DEMO settings of notebook 06 (ViT_256-16, 2 blocks);
2. region features (features_cls256) of the demo slides tissue_20x and sparse_20x with that ViT_256-16;
3. `hipt_nb pretrain stage2` on them (ViT_4K-256, 2 blocks);
4. the two teachers' backbones in fp16, official key names (`teacher` dict, no head) → hipt_nb/assets/course_vit256.pth,
   course_vit4k.pth, and course_checkpoints.json with the commands, settings, sizes and SHA-256 values.
"""
import json, os, shlex, subprocess, sys, tempfile, time
from pathlib import Path

import torch

from hipt_nb.data import assets_dir, demo_slide, sha256sum
from hipt_nb.dino import COURSE_DEMO
from hipt_nb.extract import Weights, extract_slide
from hipt_nb.hipt4k import HIPT4K
from hipt_nb.vit import vit256_from_checkpoint
from hipt_nb.vit4k import vit4k_xs
from course_vit256 import teacher_fp16          # tools/course_vit256.py: the teacher backbone of a DINO checkpoint, fp16, official key names

STAGE1 = ["hipt_nb", "pretrain", "stage1", "--stride", "64", "--depth", "2", "--out-dim", str(COURSE_DEMO["out_dim"]),
          "--global-size", "96", "--local-size", "48", "--local-crops-number", "4", "--batch-size", "32", "--max-iters", "400",
          "--warmup-iters", "40", "--freeze-last-layer-iters", "40", "--lr", "0.001", "--seed", "0", "--no-progress"]
STAGE2 = ["hipt_nb", "pretrain", "stage2", "--depth", "2", "--out-dim", "4096", "--batch-size", "8", "--max-iters", "300",
          "--warmup-iters", "30", "--freeze-last-layer-iters", "30", "--lr", "0.0005", "--seed", "0", "--no-progress"]

def run(cmd):
    print("$", shlex.join(cmd), flush=True); t = time.time()
    subprocess.run(cmd, check=True); return round(time.time() - t, 1)

def main(work, stage1=None):
    work = Path(work); work.mkdir(parents=True, exist_ok=True)
    rec = {"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "threads": torch.get_num_threads()}
    if stage1 is None:
        if not (work/"s1"/"checkpoint.pth").exists(): run(STAGE1 + ["--out", str(work/"s1")])     # a rerun reuses a finished stage 1
        rec["stage1_seconds"] = float(open(work/"s1"/"log.csv").read().strip().splitlines()[-1].split(",")[-1])
        stage1 = work/"s1"/"checkpoint.pth"
    else: rec["stage1"] = f"{Path(stage1).name} (SHA-256 {sha256sum(stage1)}), see course_vit256.json"
    torch.manual_seed(0)
    model = HIPT4K(vit256_from_checkpoint(stage1), vit4k_xs(depth=1)).eval()
    t = time.time(); h5s = []
    for name in ("tissue_20x", "sparse_20x"):
        row = extract_slide(demo_slide(name), work/"features", model, Weights(), progress=False)
        assert row["status"] in ("done", "skipped"), row
        h5s.append(str(work/"features"/"h5_files"/f"{demo_slide(name).stem}.h5"))
    rec["extract_seconds"] = round(time.time() - t, 1)
    rec["stage2_seconds"] = run(STAGE2 + h5s + ["--out", str(work/"s2")])
    out = assets_dir()
    made = [("course_vit4k.pth", work/"s2"/"checkpoint.pth")] + ([("course_vit256.pth", stage1)] if "stage1" not in rec else [])
    for name, ck in made:
        torch.save(teacher_fp16(ck), out/name)
        rec[name] = {"bytes": (out/name).stat().st_size, "sha256": sha256sum(out/name)}
    if "stage1" not in rec: rec["stage1_command"] = shlex.join(STAGE1 + ["--out", "WORK/s1"])
    rec["stage2_command"] = shlex.join(STAGE2 + ["WORK/features/h5_files/*.h5", "--out", "WORK/s2"])
    rec["features"] = f"features_cls256 of demo slides tissue_20x and sparse_20x with the stage-1 teacher {Path(stage1).name} (tools/course_checkpoint.py)"
    (out/"course_checkpoints.json").write_text(json.dumps(rec, indent=1))
    print(json.dumps(rec, indent=1))

if __name__ == "__main__": main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(), sys.argv[2] if len(sys.argv) > 2 else None)
