"""Start-up time of the `hipt_nb` command: wall time of `info`, `tile`, `--version` and every `--help`, each run as a fresh
subprocess (median of --repeat runs), and whether the run imported torch.

    python bench/startup.py                                   # time the package in this checkout, write bench/startup.json
    python bench/startup.py --root /tmp/old --out /tmp/b.json # time another copy of the package (a folder holding hipt_nb/)
    python bench/startup.py --before /tmp/b.json              # also store that earlier run and the ratios before / after

Run it on an idle machine: the load average at start and end is recorded beside the timings.
"""
import argparse, datetime, json, os, platform, statistics, subprocess, sys, tempfile, time
from pathlib import Path

HELPS = [[], ["info"], ["tile"], ["extract"], ["pretrain"], ["pretrain", "stage1"], ["pretrain", "stage2"], ["train"],
         ["train", "subtype"], ["train", "survival"], ["eval"], ["eval", "knn"], ["eval", "linear"], ["predict"], ["heatmap"]]

# runs main(argv) like the console script, then reports on stderr whether torch was imported (also after SystemExit)
WRAPPER = ("import atexit, sys; atexit.register(lambda: sys.stderr.write(f\"\\nTORCH_IMPORTED={'torch' in sys.modules}\\n\"));"
           "from hipt_nb.cli import main; sys.exit(main(sys.argv[1:]))")

def commands():
    "(name, argv) of every timed command; {out} is a fresh output folder per run."
    cmds = [("info --slide-only", ["info", "--slide-only"]), ("info", ["info"]), ("tile", ["tile", "--out", "{out}"]), ("--version", ["--version"])]
    return cmds + [(" ".join(h + ["--help"]), h + ["--help"]) for h in HELPS]

def time_once(argv, root):
    "Wall seconds of one run, its exit status, and whether it imported torch."
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    with tempfile.TemporaryDirectory() as d:
        argv = [a.replace("{out}", str(Path(d)/"out")) for a in argv]
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-c", WRAPPER, *argv], capture_output=True, text=True, cwd=root, env=env)
        dt = time.perf_counter() - t0
    return dt, r.returncode, "TORCH_IMPORTED=True" in r.stderr

def cpu_facts() -> dict:
    "CPU model, flags, core count (from /proc/cpuinfo) and the torch version installed."
    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            k, _, v = line.partition(":")
            if k.strip() in ("model name", "flags") and k.strip() not in info: info[k.strip()] = v.strip()
    except OSError: pass
    try: import torch; tv = torch.__version__
    except ImportError: tv = None
    return dict(cpu=info.get("model name", platform.processor()), cpu_flags=info.get("flags", ""), cores=os.cpu_count(),
                torch=tv, python=platform.python_version(), omp_num_threads=1)

def measure(root, repeat:int) -> dict:
    "Median wall time per command."
    out = {}
    for name, argv in commands():
        runs = [time_once(argv, root) for _ in range(repeat)]
        out[name] = dict(argv=argv, seconds=[round(r[0], 3) for r in runs], median_s=round(statistics.median(r[0] for r in runs), 3),
                         exit_status=runs[0][1], imported_torch=any(r[2] for r in runs))
        print(f"{name:<28} {out[name]['median_s']:7.2f} s  exit {runs[0][1]}  torch {'yes' if out[name]['imported_torch'] else 'no'}", flush=True)
    return out

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="folder holding the hipt_nb package to time")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent/"startup.json")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before", type=Path, help="a JSON written by this script for the earlier code, stored with the ratios")
    a = ap.parse_args()
    load0 = os.getloadavg()
    timings = measure(a.root.resolve(), a.repeat)
    res = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), **cpu_facts(), repeat=a.repeat,
               load_average_start=[round(v, 2) for v in load0], load_average_end=[round(v, 2) for v in os.getloadavg()],
               root=str(a.root), timings=timings)
    if a.before is not None:
        b = json.loads(a.before.read_text())
        res["before"] = {k: b[k] for k in ("date", "load_average_start", "load_average_end", "root", "timings")}
        res["ratio_before_over_after"] = {k: round(b["timings"][k]["median_s"]/v["median_s"], 2) for k, v in timings.items() if k in b["timings"]}
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {a.out}; load average {res['load_average_start']} → {res['load_average_end']}")

if __name__ == "__main__": main()
