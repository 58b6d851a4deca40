"""Can a ViT_4096-256 learn to see a nest at all? A diagnostic for the context experiment (notebooks 07, 09a).

Supervised, region level: every step draws fresh nest regions and their scattered twins from the context cohort's
tile bank (`bank.npz`: ViT_256-16 features of every real tile, normal and restained), so the data never run out;
a ViT_4096-256 (random init, `depth` blocks) + a linear head on its CLS is trained with binary cross-entropy, AdamW,
linear warm-up then cosine. Every steps/12 iterations it scores the context cohort's 200 nest-pair regions (the
regions of 07's probe) by exact Mann–Whitney AUC, and logs the std of the positional embedding.

    OMP_NUM_THREADS=1 python tools/context_supervised.py STEPS BATCH LR DEPTH OUT.json [INIT.pth] [SEED]
    (the recorded run: 3000 32 5e-4 2 tools/context_supervised.json; its weights go to OUT.pt;
    a second stage continues from the shipped weights: 3000 32 3e-4 2 OUT2.json hipt_nb/assets/context_supervised.pth 1)
    --fixed: steps vs examples. Batches are drawn (with replacement) from the 160 training regions of 07's probe only
    (the 100 x 2 nest-pair regions less the 40 held out), the same regions at every step; the AUC is then taken on the 40
    held-out regions ("auc") and on the 160 training regions ("auc_train").
    --bf16: autocast to bfloat16 (fp32 master weights).
"""
import torch, numpy as np, time, math, sys, json
FIXED, BF16 = "--fixed" in sys.argv, "--bf16" in sys.argv
sys.argv = [a for a in sys.argv if a not in ("--fixed", "--bf16")]
if sys.argv[1] == "ship":        # python tools/context_supervised.py ship STAGE1.json STAGE2.json: the continued weights → hipt_nb/assets
    from hipt_nb.data import assets_dir
    from hipt_nb.dino4k import nest_pairs, region_cls
    from hipt_nb.cohort_features import context_cohort
    from hipt_nb.cohorts import mw_auc
    from hipt_nb.vit4k import vit4k_xs
    rec, c2 = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
    for r in rec["curve"]: r["regions"] = r["it"]*rec["batch"]
    rec["curve"] += [dict(r, it=rec["steps"] + r["it"], regions=(rec["steps"] + r["it"])*rec["batch"], s=rec["wall_seconds"] + r["s"]) for r in c2[1:]]
    ck = torch.load(sys.argv[3].replace(".json", ".pt"), weights_only=True)
    half = {"vit4k": {k: v.half() for k, v in ck["vit4k"].items()}, "head": {k: v.half() for k, v in ck["head"].items()}, "depth": 2}
    torch.save(half, assets_dir()/"context_supervised.pth")
    vit = vit4k_xs(depth=2).eval(); vit.load_state_dict({k: v.float() for k, v in half["vit4k"].items()})
    head = torch.nn.Linear(192, 1); head.load_state_dict({k: v.float() for k, v in half["head"].items()})
    X, y, _ = nest_pairs(context_cohort())
    with torch.inference_mode(): s = head(torch.from_numpy(region_cls(vit, X)))[:, 0].numpy()
    rec.update(continued=dict(command="OMP_NUM_THREADS=1 nice -n 19 python tools/context_supervised.py 3000 32 3e-4 2 OUT2.json hipt_nb/assets/context_supervised.pth 1",
                              steps=c2[-1]["it"], lr=3e-4, seed=1, wall_seconds=c2[-1]["s"],
                              machine="2 cores Intel Xeon (avx512, avx512_bf16, AMX), 1 thread, the other core running another 1-thread job"),
               regions_seen=rec["curve"][-1]["regions"], auc_final_fp32=c2[-1]["auc"], auc_shipped_fp16=round(mw_auc(y, s), 4))
    json.dump(rec, open(assets_dir()/"context_supervised.json", "w"), indent=1); print({k: v for k, v in rec.items() if k != "curve"}); sys.exit()
import torch.nn as nn, torch.nn.functional as F
from hipt_nb.cohort_features import context_cohort
from hipt_nb.cohorts import nest_mask, twin_order, TISSUES, mw_auc
from hipt_nb.dino4k import nest_pairs
from hipt_nb.vit4k import vit4k_xs
from hipt_nb.core import to_grid
torch.set_num_threads(1)
steps, B, lr, depth = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
out = sys.argv[5]
init = sys.argv[6] if len(sys.argv) > 6 else None
seed = int(sys.argv[7]) if len(sys.argv) > 7 else 0
bank = {k: torch.from_numpy(v) for k, v in np.load(context_cohort()/"bank.npz").items()}
Xe, ye, ho = nest_pairs(context_cohort())
if FIXED: Xt, yt, Xe, ye = Xe[~ho], torch.tensor(ye[~ho], dtype=torch.float32), Xe[ho], ye[ho]
rng = np.random.default_rng(123 + seed); torch.manual_seed(seed)
def batch(B):
    if FIXED: i = torch.from_numpy(rng.integers(0, len(Xt), B)); return Xt[i], yt[i]
    X, y = [], []
    for _ in range(B//2):
        t = TISSUES[int(rng.integers(2))]; k = int(rng.integers(12, 33))
        les = nest_mask(k, rng).ravel().astype(np.int64); tiles = rng.integers(0, len(bank[t]), 256)
        perm = twin_order(les, rng)
        X += [bank[t][tiles, les], bank[t][tiles[perm], les[perm]]]; y += [1., 0.]
    return torch.stack(X), torch.tensor(y)
vit = vit4k_xs(depth=depth); head = nn.Linear(192, 1)
if init:                                   # continue from saved weights (fp16 in the package: cast back to fp32)
    ck = torch.load(init, weights_only=True)
    vit.load_state_dict({k: v.float() for k, v in ck["vit4k"].items()}); head.load_state_dict({k: v.float() for k, v in ck["head"].items()})
params = list(vit.parameters()) + list(head.parameters())
opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.05)
warm = max(1, steps//20)
def scores(X):
    with torch.inference_mode(): return torch.cat([head(vit(to_grid(X[i:i+50], 16, 16)))[:, 0] for i in range(0, len(X), 50)]).float().numpy()
def evaluate():
    vit.eval(); a = mw_auc(ye, scores(Xe))
    if FIXED: a = (a, mw_auc(yt.numpy(), scores(Xt)))
    vit.train(); return a
log = []; t0 = time.time()
for it in range(steps + 1):
    if it % max(1, steps//12) == 0:
        a = evaluate(); a, extra = (a if FIXED else (a, None))
        log.append(dict(it=it, auc=a, s=round(time.time()-t0), pos_std=float(vit.pos_embed.std()), **({"auc_train": extra} if FIXED else {})))
        print(json.dumps(log[-1]), flush=True)
        json.dump(log, open(out, "w"))
    if it == steps: break
    g = lr*min(1, (it+1)/warm)*0.5*(1+math.cos(math.pi*max(0, it-warm)/(steps-warm)))
    for p in opt.param_groups: p["lr"] = g
    X, y = batch(B)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=BF16):
        logit = head(vit(to_grid(X, 16, 16)))[:, 0]
    loss = F.binary_cross_entropy_with_logits(logit.float(), y)
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(params, 1.0); opt.step()
    if it % 50 == 0: print(f"it {it} loss {loss.item():.4f} {time.time()-t0:.0f}s", flush=True)
torch.save({"vit4k": vit.state_dict(), "head": head.state_dict(), "log": log}, out.replace(".json", ".pt"))
