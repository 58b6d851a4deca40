"""Does stage-2 DINO learn arrangement when it is not short of regions? A diagnostic for notebook 07.

The shipped stage-2 checkpoint (tools/context_checkpoint.py) saw the cohort's 324 pretraining regions about 50 times each.
The supervised diagnostic (tools/context_supervised.py) needed about 56,000 distinct nest/twin regions before it left
chance. This run gives DINO the same kind of data: every region is drawn fresh from the context cohort's tile bank
(`bank.npz`, ViT_256-16 features of real tiles, plain and restained): a nest region or its scattered twin with
probability 1/2, unlabeled, never repeated. Same settings as the shipped stage-2 run (hipt_nb's own `train_stage2`,
2 blocks, out-dim 4096, batch 16, lr 0.008 per 256 → 0.0005), only longer; a teacher is kept every KEEP iterations
and scored with 07's held-out nest-vs-twin probe (`nest_probe`), with the positional-embedding spread and the
CLS attention entropy (as tools/context_checkpoint.py).

    OMP_NUM_THREADS=1 python tools/context_dino_fresh.py ITERS KEEP WORKDIR OUT.json
    (the recorded run: 5000 500 WORK OUT.json)
    python tools/context_dino_fresh.py ship WORKDIR OUT.json
    (the final teacher in fp16 → hipt_nb/assets/context_dino_fresh.pth, its probe re-scored; the record → .json beside it)
"""
import json, sys, time
from pathlib import Path
import numpy as np, torch
from hipt_nb.cohort_features import context_cohort
from hipt_nb.cohorts import nest_mask, texture_mask, twin_order, TISSUES
from hipt_nb.dino4k import dino4k_args, train_stage2, nest_pairs, nest_probe, region_cls
from hipt_nb.vit4k import vit4k_from_checkpoint
sys.path.insert(0, str(Path(__file__).parent))
from context_checkpoint import diagnostics, teacher_fp16      # the measures and the fp16 export of the shipped stage-2 run

class FreshRegions(torch.utils.data.Dataset):
    "Item i: a positive region (a nest, or a texture of 2 × 2 blocks) or its twin (coin flip), drawn from the tile bank by a generator seeded with (seed, i); [256, 384]."
    def __init__(self, bank, n, seed=0, design="nest"): self.bank, self.n, self.seed, self.design = bank, n, seed, design
    def __len__(self): return self.n
    def __getitem__(self, i):
        rng = np.random.default_rng([self.seed, i])
        t = TISSUES[int(rng.integers(2))]; k = int(rng.integers(12, 33))
        les = (nest_mask(k, rng) if self.design == "nest" else texture_mask(k//4*4, rng)).ravel().astype(np.int64)
        tiles = rng.integers(0, len(self.bank[t]), 256)
        if rng.random() < 0.5: perm = twin_order(les, rng); tiles, les = tiles[perm], les[perm]
        return self.bank[t][tiles, les].float().clone()

def main(iters, keep, work, out):
    torch.set_num_threads(1)
    ctx = context_cohort(); bank = {k: torch.from_numpy(v) for k, v in np.load(ctx/"bank.npz").items()}
    args = dino4k_args(depth=2, out_dim=4096, batch_size_per_gpu=16, max_iters=iters, warmup_iters=min(100, iters//10), freeze_last_layer_iters=min(100, iters//10),
                       lr=0.008, seed=0, save_every=keep, keep_every=keep, device="cpu")
    ds = FreshRegions(bank, iters*16, seed=0); t0 = time.time()
    if not (Path(work)/f"checkpoint{iters:07d}.pth").exists(): train_stage2(args, ds, work, progress=False)
    secs = time.time() - t0
    X, y, ho = nest_pairs(ctx); curve = {}
    for it in range(0, iters + 1, keep):
        v = vit4k_from_checkpoint(ctx/"vit4k_random.pth" if it == 0 else Path(work)/f"checkpoint{it:07d}.pth")
        curve[it] = {"probe_auc": nest_probe(region_cls(v, X), y, ho), **diagnostics(v, X[ho])}
        print(it, curve[it], flush=True)
    rows = [r.split(",") for r in (Path(work)/"log.csv").read_text().strip().splitlines()[1:]]
    rec = {"command": f"OMP_NUM_THREADS=1 nice -n 19 python tools/context_dino_fresh.py {iters} {keep} WORK OUT.json",
           "iterations": iters, "batch": 16, "regions_seen": iters*16, "distinct_regions": len(ds), "wall_seconds": round(secs),
           "machine": "2 cores Intel Xeon (avx512, avx512_bf16, AMX), 1 thread, the other core busy", "curve": curve,
           "loss": {int(r[0]): float(r[2]) for r in rows if int(r[0]) % 100 == 0 or int(r[0]) == 1},
           "probe_auc_mean_patch": nest_probe(X.mean(1).numpy(), y, ho)}
    Path(out).write_text(json.dumps(rec, indent=1)); print(json.dumps({k: v for k, v in rec.items() if k != "loss"}, indent=1))

def ship(work, rec_path):
    from hipt_nb.data import assets_dir, sha256sum
    rec = json.loads(Path(rec_path).read_text()); last = max(int(k) for k in rec["curve"])
    out = assets_dir()/"context_dino_fresh.pth"; torch.save(teacher_fp16(Path(work)/f"checkpoint{last:07d}.pth"), out)
    X, y, ho = nest_pairs(context_cohort())
    rec["probe_auc_shipped_fp16"] = nest_probe(region_cls(vit4k_from_checkpoint(out).float(), X), y, ho)
    rec["context_dino_fresh.pth"] = {"bytes": out.stat().st_size, "sha256": sha256sum(out), "iteration": last}
    (assets_dir()/"context_dino_fresh.json").write_text(json.dumps(rec, indent=1)); print(rec["probe_auc_shipped_fp16"], rec["context_dino_fresh.pth"])

if __name__ == "__main__":
    if sys.argv[1] == "ship": ship(sys.argv[2], sys.argv[3])
    else: main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
