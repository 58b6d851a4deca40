"""A DINO training checkpoint whose student and teacher both start from a stage-1 teacher backbone (e.g. the shipped
course_vit256.pth, which keeps only the teacher backbone), with a fresh DINO head (DINO's initialisation, seed SEED),
the same in both: the `--init` of a continued stage-1 run.

    python tools/course_vit256_init.py BACKBONE.pth OUT.pth [--out-dim 4096] [--seed 0]
"""
import argparse
from pathlib import Path

import torch

from hipt_nb.dino import DINOHead, MultiCropModel
from hipt_nb.data import atomic_path, sha256sum
from hipt_nb.vit import vit256_from_checkpoint

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("backbone"); p.add_argument("out"); p.add_argument("--out-dim", type=int, default=4096); p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    vit = vit256_from_checkpoint(a.backbone).float()
    torch.manual_seed(a.seed)
    head = DINOHead(vit.embed_dim, a.out_dim)
    model = MultiCropModel(vit, head)
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with atomic_path(Path(a.out)) as tmp: torch.save(dict(student={f"module.{k}": v for k, v in sd.items()}, teacher=sd, iteration=0, epoch=0), tmp)
    print(a.out, sha256sum(a.out), "from", a.backbone, sha256sum(a.backbone))

if __name__ == "__main__": main()
