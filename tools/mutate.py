"""Mutation check: plant one-line bugs in exported notebook code, one at a time, and see whether the notebook's tests catch them.

    python tools/mutate.py                 # every mutation; prints a caught/survived table
    python tools/mutate.py --only M03 M07  # some of them
    python tools/mutate.py --list

Each mutation is a plausible one-line change to a detail of the paper or of the official code (an offset, a loss
term, a probability, an ordering, tie handling). For each one the working tree (uncommitted edits included) is
copied to a temporary folder, the line is changed in the notebook (it must occur exactly once), `nbdev_export`
rewrites the package there, and `nbdev_test --path` runs that notebook (or the notebook named as the mutation's
tests, when the code and its tests live apart) with the copy first on `PYTHONPATH`
(subprocesses such as the `hipt_nb` command inherit it). A mutation is *caught* when the tests fail.
Your own tree is never modified. Times are wall times; set OMP_NUM_THREADS to share the machine.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (id, notebook, exact source text, replacement, what the bug is)
MUTATIONS = [
    ("M01", "04_hipt4k", "return x if (h, w) == (H, W) else TF.center_crop(x, [h, w])",
     "return x if (h, w) == (H, W) else x[..., (H - h)//2:(H - h)//2 + h, (W - w)//2:(W - w)//2 + w]",
     "crop_to_patches: floor offsets instead of torchvision's rounding"),
    ("M02", "06_dino", "blur(0.1, global_size/224), *solarize", "blur(1.0, global_size/224), *solarize",
     "MultiCrop: blur probability of the second global view 0.1 → 1.0"),
    ("M03", "08_slide_model", "self.global_transformer(h.unsqueeze(1)).squeeze(1)", "self.global_transformer(h.unsqueeze(0)).squeeze(0)",
     "HIPT_GP_FC: regions fed as a batch, not as one sequence"),
    ("M04", "06_dino", "if v == i: continue                                   # same view", "if v == i and False: continue                         # same view",
     "DINOLoss: keeps the teacher-student pair of the same view"),
    ("M05", "06_dino", "add_(c/n, alpha=1 - self.center_momentum)", "add_(c/n, alpha=self.center_momentum)",
     "DINOLoss: centre EMA weights swapped"),
    ("M06", "06_dino", "np.cos(np.pi*i/len(i))", "np.cos(np.pi*i/(len(i) - 1))",
     "cosine_schedule: off by one step (reaches `final` exactly)"),
    ("M07", "06_dino", "T.RandomResizedCrop(s, scale=sc, interpolation=T.InterpolationMode.BICUBIC)",
     "T.RandomResizedCrop(s, scale=sc, interpolation=T.InterpolationMode.BILINEAR)",
     "MultiCrop: bilinear instead of bicubic crops"),
    ("M08", "02_vit256", "scale_factor=((rows + 0.1)/n, (cols + 0.1)/n)", "scale_factor=(rows/n, cols/n)",
     "interpolate_pos_embed: DINO's +0.1 dropped"),
    ("M09", "02_vit256", "w = (q @ k.transpose(-2, -1) * q.shape[-1]**-0.5).softmax(dim=-1)",
     "w = (q @ k.transpose(-2, -1) * (6*q.shape[-1])**-0.5).softmax(dim=-1)",
     "attention: scaled by 1/√(dim) instead of 1/√(head dim)"),
    ("M10", "00_problem", "return grid.flatten(2).transpose(1, 2)", "return grid.transpose(2, 3).flatten(2).transpose(1, 2)",
     "from_grid: column-major token order"),
    ("M11", "08_slide_model", "A = F.softmax(self.global_attn_pool(h).T, dim=1)", "A = F.softmax(self.global_attn_pool(h).T, dim=0)",
     "HIPT_GP_FC: attention softmax over the wrong axis"),
    ("M12", "10_survival", "+ 0.5*(tied & comparable).sum()", "+ 0.0*(tied & comparable).sum()",
     "concordance_index: tied risks count 0 instead of ½"),
    ("M13", "10_survival", "labels = np.clip(np.searchsorted(edges, times, side=\"right\") - 1, 0, n_bins - 1)",
     "labels = np.clip(np.searchsorted(edges, times, side=\"left\") - 1, 0, n_bins - 1)",
     "survival_bins: intervals (a, b] instead of [a, b)"),
    ("M14", "10_survival", "uncensored = -(1 - c)*(torch.log(S_pad.gather(1, Y).clamp_min(eps))",
     "uncensored = -(1 - c)*(torch.log(S_pad.gather(1, Y + 1).clamp_min(eps))",
     "nll_surv_loss: uncensored term uses S(t) instead of S(t−1)"),
    ("M15", "09_subtyping", "return float(np.mean(v)), float(np.std(v, ddof=1))", "return float(np.mean(v)), float(np.std(v, ddof=0))",
     "mean_std: population instead of sample standard deviation"),
    ("M16", "01_wsi", "s = cv2.medianBlur(s, mthresh)", "s = cv2.GaussianBlur(s, (mthresh, mthresh), 0)",
     "saturation_mask: Gaussian instead of median blur"),
    # extraction's reliability: the code is in 05, its tests in 05b (the sixth field names the notebook whose tests run)
    ("M17", "05_extract", "diff = [k for k, v in ident.items() if f.attrs.get(k) != v]",
     "diff = [k for k, v in ident.items() if k != \"random_seed\" and f.attrs.get(k) != v]",
     "resume: a partial file of another random seed is resumed", "05b_reliability"),
    ("M18", "05_extract", "bad = ~(np.abs(x) <= FEATURE_LIMIT)", "bad = np.abs(x) > FEATURE_LIMIT",
     "feature check: NaN passes (it compares False)", "05b_reliability"),
    ("M19", "05_extract", "want = _identity([], weights, precision, device, seed, wsi)", "want = _identity([], weights, \"fp32\", device, seed, wsi)",
     "stale check: a finished file of another precision is skipped", "05b_reliability"),
    ("M20", "05_extract", "clear_temporaries(out, slide_id)                     # what", "pass                                                 # what",
     "a killed owner's temporary files are left behind", "05b_reliability"),
    ("M21", "06_dino", "koleo*sum(koleo_loss(e) for e in s_emb[:len(t_out)].chunk(2))", "koleo*koleo_loss(s_emb[:len(t_out)])",
     "_train_step: KoLeo over both global views at once, not per view"),
    ("M22", "06_dino", "solarize = [T.RandomSolarize(128, p=0.2)] if colour_jitter else []", "solarize = [T.RandomSolarize(128, p=0.2)]",
     "MultiCrop(colour_jitter=False) keeps the solarize"),
]

def _copy_tree(dst:Path):
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
    for f in filter(None, files):
        s = ROOT/f
        if s.is_file():
            (dst/f).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(s, dst/f)

def _plant(nb_path:Path, old:str, new:str):
    if old == new == "": return                      # the control: no change
    nb = json.loads(nb_path.read_text())
    hits = [(i, c) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and old in "".join(c["source"])]
    n = sum("".join(c["source"]).count(old) for _, c in hits)
    if n != 1: raise SystemExit(f"{nb_path.name}: the line to mutate occurs {n} times, expected once: {old!r}")
    i, c = hits[0]
    c["source"] = "".join(c["source"]).replace(old, new).splitlines(keepends=True)
    nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")

def run_one(mid, nb, old, new, what, tests=None, timeout:int=1500) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"mut_{mid}_") as d:
        d = Path(d); _copy_tree(d)
        _plant(d/"nbs"/f"{nb}.ipynb", old, new)
        env = {**os.environ, "PYTHONPATH": f"{d}{os.pathsep}{os.environ.get('PYTHONPATH', '')}".rstrip(os.pathsep)}
        subprocess.run(["nbdev_export"], cwd=d, env=env, check=True, capture_output=True)
        t0 = time.time()
        try:
            r = subprocess.run(["nbdev_test", "--path", f"nbs/{tests or nb}.ipynb"], cwd=d, env=env, capture_output=True, text=True, timeout=timeout)
            caught, tail = r.returncode != 0, (r.stdout + r.stderr).strip().splitlines()
        except subprocess.TimeoutExpired:
            caught, tail = None, ["timed out"]
        err = next((l for l in reversed(tail) if "Error" in l or "assert" in l.lower()), tail[-1] if tail else "")
        return dict(id=mid, notebook=nb if tests is None else f"{nb} (tests: {tests})", what=what, caught=caught, seconds=round(time.time() - t0), evidence=err[:150], tail=tail[-25:])

def main():
    ap = argparse.ArgumentParser(description="plant one-line bugs and report which the notebooks' tests catch")
    ap.add_argument("--only", nargs="*"); ap.add_argument("--list", action="store_true")
    ap.add_argument("--timeout", type=int, default=1500); ap.add_argument("--json", type=Path)
    ap.add_argument("--control", nargs="*", metavar="NOTEBOOK", help="run these notebooks' tests unchanged in the copy instead")
    a = ap.parse_args()
    todo = [m for m in MUTATIONS if not a.only or m[0] in a.only]
    if a.control: todo = [("C00", nb, "", "", "control: no change (the tests must pass)") for nb in a.control]
    if a.list:
        for m in todo: print(f"{m[0]}  {m[1]:16s} {m[4]}")
        return
    rows = []
    for m in todo:
        r = run_one(*m, timeout=a.timeout); rows.append(r)
        word = ("FAILED  " if r["caught"] else "passed  ") if a.control else ("caught  " if r["caught"] else "SURVIVED")
        print(f"{r['id']}  {r['notebook']:16s} {word if r['caught'] is not None else 'timeout '} "
              f"{r['seconds']:5d} s  {r['what']}", flush=True)
    print(f"\n| id | notebook | planted bug | result | s |\n|---|---|---|---|---|")
    names = ("tests failed", "tests passed") if a.control else ("caught", "survived")
    for r in rows: print(f"| {r['id']} | {r['notebook']} | {r['what']} | {names[0] if r['caught'] else names[1] if r['caught'] is False else 'timeout'} | {r['seconds']} |")
    if not a.control: print(f"\n{sum(bool(r['caught']) for r in rows)} of {len(rows)} caught")
    if a.json: a.json.write_text(json.dumps(rows, indent=1))
    if a.control: print("control:", "all passed" if not any(r["caught"] for r in rows) else "FAILED without a mutation")
    ok = not any(r["caught"] for r in rows) if a.control else all(r["caught"] for r in rows)
    sys.exit(0 if ok else 1)

if __name__ == "__main__":
    main()
