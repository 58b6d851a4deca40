"""Short continuations of the shipped course ViT_256-16, each changing one lever of the stage-1 recipe, to see which
moves shift retrieval on notebook 06a's yardstick. Not shipped; notebook 06a scores them (tools/stage1_yardstick.py).

    python tools/stage1_levers.py WORK [NAME ...]          # default: every run of LEVERS (a finished run is skipped)

Every run starts from WORK/init.pth: the shipped teacher backbone (hipt_nb/assets/course_vit256.pth) with a fresh DINO
head (tools/course_vit256_init.py, seed 0; out_dim 16384 for `out-dim 16384`), trains on the course's 1,100 tiles
(tools/course_vit256.py's write_tiles → WORK/tiles) with BASE (the shipped second run's recipe: 160/64 px crops, stain
jitter σ 1.0, bf16 autocast, one thread; lr 0.001, 30 warm-up iterations) and the run's changes:

- control:          BASE, 300 iterations;
- KoLeo 0.1:        + DINOv2's KoLeo regulariser (Oquab et al. 2023, §4) on the student's CLS of each global view,
                      weight 0.1: -mean log(distance to the nearest other CLS in the batch), features L2-normalised;
- no colour jitter: the RGB colour jitter, grayscale and solarize of the paper's augmentation removed (stain jitter,
                      flips and blur kept);
- out-dim 16384:    a DINO head with 16,384 prototypes instead of 4,096;
- no colour jitter, 2,000 it, and KoLeo 0.1, 2,000 it: the third and the second with the schedule of 2,000 iterations
  (kept every 250), both stopped by hand after iteration 1,000 (the process killed once the log passed 1,000, the log
  trimmed back to 1,000, so checkpoint.pth is checkpoint0001000.pth);
- KoLeo 0.1 + no colour jitter: both, 300 iterations.

KoLeo and the colour-jitter switch are not options of `hipt_nb pretrain`: this tool patches hipt_nb.dino for its own
process (MultiCropModel.forward keeps the student's backbone features; DINOLoss.forward adds the KoLeo term; MultiCrop
drops the colour transforms), so the runs use the library's trainer otherwise unchanged.
"""
import itertools, subprocess, sys, time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision.transforms as T

import hipt_nb.dino as D

sys.path.insert(0, str(Path(__file__).parent))
from course_vit256 import write_tiles

BASE = dict(depth=2, out_dim=4096, global_size=160, local_size=64, local_crops_number=4, batch_size_per_gpu=32, max_iters=300,
            warmup_iters=30, freeze_last_layer_iters=30, lr=0.001, seed=7, precision="bf16", stain_jitter=1.0, save_every=50, keep_every=100)
LEVERS = {"control": {}, "koleo": dict(koleo=0.1), "nocj": dict(no_colour_jitter=True), "od16k": dict(out_dim=16384),
          "nocj2k": dict(no_colour_jitter=True, max_iters=2000, keep_every=250), "koleo2k": dict(koleo=0.1, max_iters=2000, keep_every=250),
          "koleo_nocj": dict(koleo=0.1, no_colour_jitter=True)}
SHIPPED = Path(__file__).parents[1]/"hipt_nb/assets/course_vit256.pth"

def koleo_loss(x:torch.Tensor, eps:float=1e-8) -> torch.Tensor:
    "KoLeo: minus the mean log distance of each L2-normalised row of `x` to its nearest other row."
    x = F.normalize(x.float(), dim=-1, eps=eps)
    with torch.no_grad():
        sim = x @ x.T; sim.fill_diagonal_(-2); nearest = sim.argmax(1)
    return -torch.log((x - x[nearest]).norm(dim=-1) + eps).mean()

def patch(koleo:float, no_colour_jitter:bool):
    "Switch this process's hipt_nb.dino to the run's levers."
    kept = {}
    def forward(self, views):
        if torch.is_tensor(views): views = [views]
        feats = torch.cat([self.backbone(torch.cat(list(g))) for _, g in itertools.groupby(views, key=lambda v: tuple(v.shape[-2:]))])
        if feats.requires_grad: kept["student"] = feats            # the student's pass (the teacher's runs without gradients)
        return self.head(feats)
    D.MultiCropModel.forward = forward
    dino_loss = D.DINOLoss.forward
    def loss(self, s, t, step):
        l = dino_loss(self, s, t, step)
        if koleo: l = l + koleo*sum(koleo_loss(c) for c in kept["student"][:t.shape[0]].chunk(2))   # each global view's batch
        return l
    D.DINOLoss.forward = loss
    if no_colour_jitter:
        init = D.MultiCrop.__init__
        def without(self, *a, **k):
            init(self, *a, **k)
            colour = lambda t: isinstance(t, (T.RandomGrayscale, T.RandomSolarize)) or (isinstance(t, T.RandomApply) and isinstance(t.transforms[0], T.ColorJitter))
            for c in (self.global1, self.global2, self.local): c.transforms = [t for t in c.transforms if not colour(t)]
        D.MultiCrop.__init__ = without

def run(work:Path, name:str):
    lever = dict(LEVERS[name]); koleo, nocj = lever.pop("koleo", 0.), lever.pop("no_colour_jitter", False)
    out = work/name
    if (out/"log.csv").is_file() and int(open(out/"log.csv").read().split()[-1].split(",")[0]) >= {**BASE, **lever}["max_iters"]: return print(name, "done already")
    init = work/("init16k.pth" if lever.get("out_dim") == 16384 else "init.pth")
    if not init.is_file():
        subprocess.run([sys.executable, str(Path(__file__).parent/"course_vit256_init.py"), str(SHIPPED), str(init), "--seed", "0",
                        "--out-dim", str(lever.get("out_dim", 4096))], check=True)
    patch(koleo, nocj)
    torch.set_num_threads(1); t0 = time.time()
    D.train_stage1(D.dino_args(**{**BASE, **lever}), D.ImagePatches(work/"tiles"), out, init=init, progress=False)
    print(name, f"{time.time() - t0:.0f} s")

def main(work, *names):
    work = Path(work); write_tiles(work/"tiles")
    for name in names or LEVERS:           # one run per process: the patches are global
        if len(names) == 1: run(work, name)
        else: subprocess.run([sys.executable, __file__, str(work), name], check=True)

if __name__ == "__main__": main(*sys.argv[1:])
