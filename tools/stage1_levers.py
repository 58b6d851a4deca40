"""Short continuations of the shipped course ViT_256-16, each changing one lever of the stage-1 recipe, to see which
moves shift retrieval on notebook 06a's yardstick. Not shipped; notebook 06a scores them (tools/stage1_yardstick.py).

    python tools/stage1_levers.py WORK [NAME ...]          # default: every run of LEVERS (a finished run is skipped)

Every run starts from WORK/init.pth: the shipped teacher backbone (hipt_nb/assets/course_vit256.pth) with a fresh DINO
head (tools/course_vit256_init.py, seed 0; out_dim 16384 for `out-dim 16384`), trains on the course's 1,100 tiles
(tools/course_vit256.py's write_tiles → WORK/tiles) with BASE (the shipped second run's crops and augmentation: 160/64 px,
stain jitter σ 1.0, bf16 autocast; then lr 0.001, 30 warm-up and 30 frozen-last-layer iterations, seed 7, one thread) and
the run's changes:

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

The levers are the settings `koleo` and `colour_jitter` of hipt_nb.dino.dino_args (`hipt_nb pretrain stage1 --koleo 0.1
--no-colour-jitter`; `--out-dim 16384`). The runs of notebook 06a were made before those options existed, by this tool
patching hipt_nb.dino in its own process; the options reproduce the patched runs bit for bit on a 3-iteration check (KoLeo
0.1 without colour jitter: the same losses and the same teacher weights), but not over a whole run: the shipped third run
of tools/course_vit256.py (the last lever's recipe, with the options) ends with slightly different scores from the
lever's row (notebook 06a).
"""
import subprocess, sys, time
from pathlib import Path

import torch

import hipt_nb.dino as D

sys.path.insert(0, str(Path(__file__).parent))
from course_vit256 import write_tiles

BASE = dict(depth=2, out_dim=4096, global_size=160, local_size=64, local_crops_number=4, batch_size_per_gpu=32, max_iters=300,
            warmup_iters=30, freeze_last_layer_iters=30, lr=0.001, seed=7, precision="bf16", stain_jitter=1.0, save_every=50, keep_every=100)
LEVERS = {"control": {}, "koleo": dict(koleo=0.1), "nocj": dict(no_colour_jitter=True), "od16k": dict(out_dim=16384),
          "nocj2k": dict(no_colour_jitter=True, max_iters=2000, keep_every=250), "koleo2k": dict(koleo=0.1, max_iters=2000, keep_every=250),
          "koleo_nocj": dict(koleo=0.1, no_colour_jitter=True)}
SHIPPED = Path(__file__).parents[1]/"hipt_nb/assets/course_vit256.pth"

def run(work:Path, name:str):
    lever = dict(LEVERS[name]); lever["colour_jitter"] = not lever.pop("no_colour_jitter", False)
    out = work/name
    if (out/"log.csv").is_file() and int(open(out/"log.csv").read().split()[-1].split(",")[0]) >= {**BASE, **lever}["max_iters"]: return print(name, "done already")
    init = work/("init16k.pth" if lever.get("out_dim") == 16384 else "init.pth")
    if not init.is_file():
        subprocess.run([sys.executable, str(Path(__file__).parent/"course_vit256_init.py"), str(SHIPPED), str(init), "--seed", "0",
                        "--out-dim", str(lever.get("out_dim", 4096))], check=True)
    torch.set_num_threads(1); t0 = time.time()
    D.train_stage1(D.dino_args(**{**BASE, **lever}), D.ImagePatches(work/"tiles"), out, init=init, progress=False)
    print(name, f"{time.time() - t0:.0f} s")

def main(work, *names):
    work = Path(work); write_tiles(work/"tiles")
    for name in names or LEVERS: run(work, name)

if __name__ == "__main__": main(*sys.argv[1:])
