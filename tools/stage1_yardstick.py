"""Score stage-1 checkpoints on notebook 06a's yardstick (held-out tiles of both tissues) and write the record that 06a shows.

    python tools/stage1_yardstick.py OUT.json NAME=RUN_DIR_OR_CHECKPOINT ...

Rows: random ViT_256-16 weights (2 blocks, seeds 0-2), the colour histogram, then each NAME=PATH given. A PATH that is a run
folder (hipt_nb pretrain stage1 --keep-every) gives its final teacher (checkpoint.pth) as the row and every kept teacher
(checkpointNNNNNNN.pth, and iteration 0 rebuilt from the run's seed) as its curve; a PATH that is a file is one row.
A run started with `--init` from another run's final checkpoint is given as NAME=DIR@N, N the iterations of that first run:
its curve then counts from N (its own iteration k is plotted at N + k) and has no iteration-0 point.
Paths outside the repository are recorded with their shared folder written as WORK (no machine's own paths in the
record). Each row records the checkpoint's SHA-256, and a run's row its log (iterations, images seen, wall time of the last logged
iteration) and settings. Every score also has `shift top-1 (5 draws)`: shift retrieval averaged over the yardstick's draw
of offsets (seed 0) and four more (seeds 1-4); rows kept from an earlier call get it where their encoder can be rebuilt
(random seeds, the histogram, checkpoints shipped in hipt_nb/assets) and go without it otherwise.
"""
import csv, json, os, re, shlex, sys, time
from pathlib import Path

import numpy as np, torch

from hipt_nb.data import assets_dir, sha256sum
from hipt_nb.dino import read_checkpoint, stage1_models
from hipt_nb.vit import vit256_from_checkpoint
from hipt_nb.yardstick import colour_histogram, random_vit256, shifted_copies, stage1_yardstick, top1, vit_features, yardstick_data

r4 = lambda d: {k: round(v, 4) for k, v in d.items()}

DRAWS, FIVE = range(1, 5), "shift top-1 (5 draws)"                  # draws of shift offsets beside the yardstick's own (seed 0)

def five_draws(features, data, kept:dict|None=None) -> float:
    "Shift top-1 of `features` (tiles → [n, D]) averaged over the yardstick's draw of offsets and those of `data['moved']`; `kept`: the held-out and shift features already computed by `stage1_yardstick`."
    kept = kept or {"held_out": features(data["held_out"]["tiles"]), "shift": features(data["queries"]["shift"])}
    return round(float(np.mean([top1(kept["held_out"], q) for q in [kept["shift"], *map(features, data["moved"])]])), 4)

def score(features, data) -> dict:
    kept = {}; r = r4(stage1_yardstick(features, data, keep=kept))
    return {**r, FIVE: five_draws(features, data, kept)}
def score_vit(vit, data): return score(lambda x: vit_features(vit, x), data)

def rebuilt(name:str, row:dict):
    "The feature function of a kept row, where it can be rebuilt (else None)."
    if name.startswith("random seed "): v = random_vit256(int(name.split()[-1])); return lambda x: vit_features(v, x)
    if name == "colour histogram": return colour_histogram
    p = assets_dir()/row.get("path", "")
    if "curve" not in row and p.is_file() and sha256sum(p) == row.get("sha256"): v = vit256_from_checkpoint(p); return lambda x: vit_features(v, x)

ROOT = Path(__file__).resolve().parents[1]

def work_prefix(args) -> str|None:
    "The folder shared by the absolute paths outside the repository among `args` (OUT and NAME=PATH[@N]), which the record writes as WORK."
    paths = [Path(a.split("=", 1)[-1].partition("@")[0]) for a in args]
    outside = [str(q.parent) for q in paths if q.is_absolute() and not q.resolve().is_relative_to(ROOT)]
    return os.path.commonpath(outside) if outside else None

def as_work(text:str, prefix:str|None) -> str:
    "`text` with the work folder `prefix` written as WORK: the record names no machine's own paths."
    return text.replace(prefix.rstrip("/") + "/", "WORK/") if prefix else text

def run_record(folder:Path, data, start:int=0) -> dict:
    ck = folder/"checkpoint.pth"; a = read_checkpoint(ck)["args"]
    rows = list(csv.DictReader(open(folder/"log.csv")))
    it = start + int(rows[-1]["iteration"])
    rec = dict(path=str(ck), sha256=sha256sum(ck), start=start, iterations=it, images_seen=it*a.batch_size_per_gpu, seconds=float(rows[-1]["seconds"]), settings={k: getattr(a, k, None) for k in ("depth", "global_size", "local_size", "local_crops_number",
               "batch_size_per_gpu", "lr", "max_iters", "precision", "stain_jitter", "seed")}, scores=score_vit(vit256_from_checkpoint(ck), data))
    curve = {} if start else {"0": score_vit(stage1_models(a)[0].eval(), data)}    # iteration 0: the student's initialisation (the teacher is its copy)
    for p in sorted(folder.glob("checkpoint[0-9]*.pth")):
        k = str(start + int(re.search(r"\d+", p.name).group()))
        curve[k] = score_vit(vit256_from_checkpoint(p), data); print(folder.name, p.name, k, curve[k], flush=True)
    rec["curve"] = curve
    return rec

def main(out, *specs):
    "Rows already in OUT (same N) are kept; a NAME given again is scored again."
    t0 = time.time(); data = yardstick_data(); prefix = work_prefix([out, *specs]); out = Path(out)
    data["moved"] = [shifted_copies(data["held_out"], seed=d)[0] for d in DRAWS]
    rec = dict(date=time.strftime("%Y-%m-%d"), torch=torch.__version__, n_held_out=len(data["held_out"]["tiles"]), n_probe=len(data["probe_tiles"]),
               threshold=round(data["threshold"], 4), rows={})
    rec["commands"] = []
    if out.is_file() and (old := json.loads(out.read_text()))["n_held_out"] == rec["n_held_out"]: rec["rows"], rec["commands"] = old["rows"], old.get("commands", [])
    for s in range(3):
        if f"random seed {s}" not in rec["rows"]: rec["rows"][f"random seed {s}"] = dict(scores=score_vit(random_vit256(s), data)); print(s, rec["rows"][f"random seed {s}"], flush=True)
    if "colour histogram" not in rec["rows"]: rec["rows"]["colour histogram"] = dict(scores=score(colour_histogram, data))
    for name, row in rec["rows"].items():
        if FIVE not in row["scores"] and (f := rebuilt(name, row)) is not None: row["scores"][FIVE] = five_draws(f, data); print(name, FIVE, row["scores"][FIVE], flush=True)
    for spec in specs:
        name, path = spec.split("=", 1); path, _, start = path.partition("@"); path = Path(path)
        rec["rows"][name] = run_record(path, data, int(start or 0)) if path.is_dir() else dict(path=path.name, sha256=sha256sum(path), scores=score_vit(vit256_from_checkpoint(path), data))
        if "path" in rec["rows"][name]: rec["rows"][name]["path"] = as_work(rec["rows"][name]["path"], prefix)
        print(name, rec["rows"][name]["scores"], flush=True)
    rec["seconds"], rec["threads"] = round(time.time() - t0, 1), torch.get_num_threads()
    rec["commands"].append(as_work(shlex.join(["python", *sys.argv]), prefix))
    tmp = out.with_name(out.name + ".tmp"); tmp.write_text(json.dumps(rec, indent=1)); tmp.replace(out)

if __name__ == "__main__": main(*sys.argv[1:])
