#!/usr/bin/env python
"""Does bf16 extraction change a downstream result? Notebook 09's subtyping AUC (HIPT, the course DINO encoders, 100 % of the
training cases, 10 folds) on the demonstration cohort embedded in fp32 and in bf16 (both encoders' weights stored in bf16, as
`extract --precision bf16`), with the same splits and seeds; and how far the two cohorts' features are apart (lowest cosine).
The bf16 difference of the mean test AUC is set against the standard deviation over the folds.
Writes bench/precision_downstream.json. usage: OMP_NUM_THREADS=1 python bench/precision_downstream.py"""
import datetime, json, os, tempfile, time
from pathlib import Path
import h5py, torch, torch.nn.functional as F
import hipt_nb
from hipt_nb.cohort_features import course_demo_cohort
from hipt_nb.data import assets_dir, sha256sum
from hipt_nb.extract import cpu_flags, cpu_name, vector_flags
from hipt_nb.train import mean_std, train_subtype

def lowest_cosine(a:Path, b:Path, key:str) -> float:
    "Lowest cosine between the rows of dataset `key` of the same slides in cohort folders `a` and `b`."
    low = 1.0
    for f in sorted((a/"h5_files").glob("*.h5")):
        with h5py.File(f) as fa, h5py.File(b/"h5_files"/f.name) as fb:
            x, y = (torch.from_numpy(h[key][:]).reshape(-1, h[key].shape[-1]) for h in (fa, fb))
            low = min(low, float(F.cosine_similarity(x, y).min()))
    return low

def main():
    flags = cpu_flags()
    res = dict(date=datetime.datetime.now().isoformat(timespec="seconds"),
               cpu=cpu_name(),
               cpu_flags=vector_flags(flags), threads=torch.get_num_threads(),
               torch=torch.__version__, hipt_nb=hipt_nb.__version__, loadavg_before=round(os.getloadavg()[0], 2),
               setting="HIPT_LGP_FC, course DINO encoders (frozen ViT_4096-256), standardised, 100 % of training cases, 10 folds",
               encoders={n: sha256sum(assets_dir()/n) for n in ("course_vit256.pth", "course_vit4k.pth")}, runs={})     # which checkpoints it measured
    cohorts = {}
    for p in ("fp32", "bf16"):
        t0 = time.time(); c = cohorts[p] = course_demo_cohort(**({} if p == "fp32" else dict(precision="bf16"))); built = time.time() - t0
        with tempfile.TemporaryDirectory() as d:
            t0 = time.time()
            rows = train_subtype(c/"subtype.csv", c, Path(d)/"full", label_map="normal:0,lesion:1", vit4k=c/"vit4k.pth", standardize=True, progress=False)
        test, val = [r["test_auc"] for r in rows], [r["val_auc"] for r in rows]
        res["runs"][p] = dict(cohort_s=round(built, 1), train_s=round(time.time() - t0, 1), test_auc=test, test_auc_mean_std=mean_std(test),
                              val_auc_mean_std=mean_std(val))
        print(p, res["runs"][p], flush=True)
    res["lowest_cosine"] = {k: lowest_cosine(cohorts["fp32"], cohorts["bf16"], f"features_{k}") for k in ("cls256", "cls4k")}
    d = res["runs"]["bf16"]["test_auc_mean_std"][0] - res["runs"]["fp32"]["test_auc_mean_std"][0]
    sd = min(res["runs"][p]["test_auc_mean_std"][1] for p in ("fp32", "bf16"))
    res["test_auc_difference"] = d; res["within_fold_sd"] = abs(d) <= sd
    res["loadavg_after"] = round(os.getloadavg()[0], 2)
    out = Path(__file__).with_name("precision_downstream.json"); tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(res, indent=1) + "\n"); tmp.replace(out)
    print(json.dumps({k: res[k] for k in ("lowest_cosine", "test_auc_difference", "within_fold_sd")}, indent=1))

if __name__ == "__main__": main()
