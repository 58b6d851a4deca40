"""When does stage-2 DINO learn arrangement without labels? The controlled runs for notebook 07, one change at a time.

Rows: design x variant, the same budget in every row.
  design  nest     one connected nest of k tiles in the positive region (the context cohort of notebook 01a);
          texture  k/4 separate 2 x 2 blocks (`plan_context_cohort(design="texture")`), so most crops see the pattern;
  variant official     the official recipe;
          consistent   position-consistent crops (`crop_positions="consistent"`, notebook 07);
          nodecay      no weight decay on pos_embed (`pos_embed_decay=False`);
          both         consistent + nodecay.
Every row: hipt_nb's `train_stage2` with the settings of the shipped stage-2 runs (2 blocks, out-dim 4096, batch 16,
lr 0.008 per 256, 100 warm-up and frozen-last-layer iterations (a tenth of a shorter run), seed) on fresh, never repeated regions drawn from the
tile bank of the design's cohort (tools/context_dino_fresh.py's FreshRegions), a teacher kept every KEEP iterations.
Every kept teacher is scored on the held-out pairs of the design's cohort: 07's nest-vs-twin probe (`nest_probe`), the
positional-embedding spread, the CLS attention entropy and DINO's collapse check (teacher output entropy); each design also gets the random ViT_4096-256 and the mean
patch. A finished row is not retrained, an unfinished one resumes from its checkpoint (exactly); the record is rewritten
atomically after every row, with the wall time of each row summed over calls.

    OMP_NUM_THREADS=1 python tools/stage2_ablation.py WORK OUT.json [--iters 1500] [--keep 500] [--rows nest:official,texture:both] [--seed 0]
"""
import argparse, json, os, sys, time
from pathlib import Path
import numpy as np, torch
from hipt_nb.cohort_features import context_cohort, read_truth
from hipt_nb.core import to_grid
from hipt_nb.dino import DINOHead, MultiCropModel, read_checkpoint
from hipt_nb.extract import cpu_name
from hipt_nb.dino4k import dino4k_args, nest_pairs, nest_probe, region_cls, train_stage2
from hipt_nb.vit4k import vit4k_from_checkpoint, vit4k_xs
sys.path.insert(0, str(Path(__file__).parent))
from context_checkpoint import diagnostics                  # positional spread, attention entropy
from context_dino_fresh import FreshRegions

VARIANTS = {"official": {}, "consistent": dict(crop_positions="consistent"), "nodecay": dict(pos_embed_decay=False),
            "both": dict(crop_positions="consistent", pos_embed_decay=False)}
ROWS = [f"{d}:{v}" for d in ("nest", "texture") for v in VARIANTS]

def last_iteration(run:Path) -> int:
    log = run/"log.csv"
    return int(log.read_text().strip().splitlines()[-1].split(",")[0]) if log.exists() and len(log.read_text().strip().splitlines()) > 1 else 0

def train_row(row:str, work:Path, iters:int, keep:int, seed:int) -> float:
    "Train (or resume, or skip) one row; the seconds this call spent."
    design, variant = row.split(":"); run = work/f"{design}_{variant}_s{seed}"
    if last_iteration(run) >= iters: return 0.
    ctx = context_cohort(**({} if design == "nest" else {"design": design}))
    bank = {k: torch.from_numpy(v) for k, v in np.load(ctx/"bank.npz").items()}
    args = dino4k_args(depth=2, out_dim=4096, batch_size_per_gpu=16, max_iters=iters, warmup_iters=min(100, iters//10), freeze_last_layer_iters=min(100, iters//10),
                       lr=0.008, seed=seed, save_every=100, keep_every=keep, device="cpu", **VARIANTS[variant])
    t0 = time.time()
    train_stage2(args, FreshRegions(bank, iters*16, seed=seed, design=design), run,
                 resume=run/"checkpoint.pth" if (run/"checkpoint.pth").exists() else None, progress=False)
    return time.time() - t0

def purity(assign:np.ndarray, g:np.ndarray) -> float:
    "Share of regions whose group is the majority group of their prototype (1: the prototypes sort the regions by g)."
    return float(sum(np.unique(g[assign == a], return_counts=True)[1].max() for a in np.unique(assign))/len(g))

def collapse_check(ck_path, X, groups:dict|None=None) -> dict:
    """DINO's collapse check on regions X [n, 256, 384]: entropy of the kept teacher's centred output at temperature 0.04, per region and of the
    mean over regions, over log K; and what the teacher's prototypes sort the regions by: the purity of its argmax prototype for each grouping
    in `groups` (name -> labels), beside the purity of the same grouping shuffled (mean of 200 permutations)."""
    ck = read_checkpoint(ck_path); a = ck["args"]
    m = MultiCropModel(vit4k_xs(depth=a.depth), DINOHead(192, a.out_dim)).eval()
    m.load_state_dict({k.replace("module.", ""): v for k, v in ck["teacher"].items()})
    with torch.inference_mode(): z = (m(to_grid(X, 16, 16)) - ck["dino_loss"]["center"])/a.teacher_temp
    p = torch.softmax(z, -1).double()
    ent = lambda q: -(q*q.clamp_min(1e-300).log()).sum(-1)
    out = {"teacher_entropy_sample": float(ent(p).mean()/np.log(a.out_dim)), "teacher_entropy_mean": float(ent(p.mean(0))/np.log(a.out_dim))}
    if groups:
        assign = z.argmax(-1).numpy(); rng = np.random.default_rng(0); out["prototypes_used"] = int(len(np.unique(assign)))
        for name, g in groups.items():
            g = np.asarray(g); out[f"purity_{name}"] = purity(assign, g)
            out[f"purity_{name}_shuffled"] = float(np.mean([purity(assign, rng.permutation(g)) for _ in range(200)]))
    return out

def score_row(row:str, work:Path, iters:int, keep:int, seed:int) -> dict:
    design, variant = row.split(":"); run = work/f"{design}_{variant}_s{seed}"
    ctx = context_cohort(**({} if design == "nest" else {"design": design})); X, y, ho = nest_pairs(ctx)
    truth = read_truth(ctx); k = np.array([int(r["nest_size"]) for r in truth])        # the rows of nest_pairs, in order
    groups = {"tissue": [r["tissue"] for r in truth], "label": y, "lesion_tiles": k > np.median(k)}
    curve = {}
    for it in range(keep, iters + 1, keep):
        v = vit4k_from_checkpoint(run/f"checkpoint{it:07d}.pth")
        curve[it] = {"probe_auc": nest_probe(region_cls(v, X), y, ho), **diagnostics(v, X[ho]), **collapse_check(run/f"checkpoint{it:07d}.pth", X[ho]),
                     **{f"all_{k}": v for k, v in collapse_check(run/f"checkpoint{it:07d}.pth", X, groups).items() if k.startswith(("purity", "prototypes"))}}
    base = {"random_vit4k_auc": nest_probe(region_cls(vit4k_from_checkpoint(ctx/"vit4k_random.pth"), X), y, ho),
            "mean_patch_auc": nest_probe(X.mean(1).numpy(), y, ho)}
    log = [r.split(",") for r in (run/"log.csv").read_text().strip().splitlines()[1:]]
    loss = [float(r[2]) for r in log]
    return dict(design=design, variant=variant, seed=seed, iterations=iters, regions_seen=iters*16, curve=curve,
                loss_first=loss[0], loss_last100=round(float(np.mean(loss[-100:])), 4),
                train_seconds=round(float(log[-1][-1])), **base)     # log.csv's seconds: training time, summed over resumed calls

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("work", type=Path); ap.add_argument("out", type=Path)
    ap.add_argument("--iters", type=int, default=1500); ap.add_argument("--keep", type=int, default=500)
    ap.add_argument("--rows", default=",".join(ROWS)); ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fixed", type=Path, help="also store the steps-vs-examples run (tools/context_supervised.py --fixed, its OUT.json) in the record")
    a = ap.parse_args(); torch.set_num_threads(1)
    rec = json.loads(a.out.read_text()) if a.out.exists() else {"rows": {}}
    if a.fixed is not None:
        rec["steps_vs_examples"] = dict(command="OMP_NUM_THREADS=1 python tools/context_supervised.py 3000 32 5e-4 2 OUT.json --fixed --bf16",
                                        what="the supervised learner of notebook 07 (2-block ViT_4096-256 + linear head, AdamW, the first run's recipe: "
                                             "3,000 steps of 32 regions, lr 5e-4, seed 0) on the 160 training regions of the probe only, drawn with "
                                             "replacement, bf16 autocast; auc: the 40 held-out regions, auc_train: the 160", curve=json.loads(a.fixed.read_text()))
    for row in a.rows.split(","):
        if row not in ROWS: raise SystemExit(f"unknown row {row!r}; choose from {ROWS}")
        key = f"{row}:s{a.seed}"
        secs = train_row(row, a.work, a.iters, a.keep, a.seed)
        r = score_row(row, a.work, a.iters, a.keep, a.seed)
        r["wall_seconds"] = round(rec["rows"].get(key, {}).get("wall_seconds", 0) + secs)
        rec["rows"][key] = r
        cpu = cpu_name()
        done = ",".join(k.rsplit(":", 1)[0] for k in rec["rows"])       # every row of the record, whichever call trained it
        rec.update(command=f"OMP_NUM_THREADS=1 python tools/stage2_ablation.py WORK OUT.json --iters {a.iters} --keep {a.keep} --seed {a.seed} --rows {done}"
                           + (" --fixed FIXED.json" if "steps_vs_examples" in rec else ""),
                   torch=torch.__version__, machine=f"{cpu}, {os.cpu_count()} cores; one thread per row, two or three rows at a time")
        tmp = a.out.with_suffix(".tmp"); tmp.write_text(json.dumps(rec, indent=1)); tmp.replace(a.out)
        last = r["curve"][str(a.iters)] if str(a.iters) in r["curve"] else r["curve"][a.iters]
        print(key, {k: round(v, 4) for k, v in last.items()}, "random", round(r["random_vit4k_auc"], 3), "mean patch",
              round(r["mean_patch_auc"], 3), f"{r['wall_seconds']} s", flush=True)

if __name__ == "__main__": main()
