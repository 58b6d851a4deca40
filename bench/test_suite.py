#!/usr/bin/env python
"""Time the whole test suite as CI runs it (`OMP_NUM_THREADS=1 nbdev_test --do_print --timing`, from the repository root) and
write bench/test_suite.json: wall seconds, each notebook's seconds, the machine (CPU name and which of avx2, avx512f, avx512_bf16
and amx_bf16 it has: fewer flags than the other benchmarks' `vector_flags`, to fit the README's line), the load before
and after, whether the cache (HIPT_NB_CACHE or ~/.cache/hipt_nb) was empty at the start, and its size after the run. The record it
replaces moves to `previous` (the last 5 kept, without their per-notebook times), so runs on other machines stay visible.
The README's table (nbs/index.ipynb) prints this file.

    python bench/test_suite.py            # exit status: nbdev_test's
"""
import datetime, json, os, re, subprocess, sys, time
from pathlib import Path
from hipt_nb.extract import cpu_flags, cpu_name

def main():
    root = Path(__file__).resolve().parents[1]
    cache = Path(os.environ.get("HIPT_NB_CACHE", Path.home()/".cache"/"hipt_nb"))
    empty = not cache.exists() or not any(cache.iterdir())
    flags, cpu = cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, cpu_name()
    load0, t0 = os.getloadavg()[0], time.time()
    r = subprocess.run(["nbdev_test", "--do_print", "--timing"], cwd=root, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.time() - t0
    size = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) if cache.exists() else 0
    sys.stdout.write(r.stdout[-3000:]); sys.stderr.write(r.stderr[-3000:])
    times = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+\.ipynb): (\d+) secs$", r.stdout, re.M)}
    rec = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), command="OMP_NUM_THREADS=1 nbdev_test --do_print --timing",
               returncode=r.returncode, wall_seconds=round(wall), cpu=cpu, cpu_flags=sorted(flags), cores=os.cpu_count(), empty_cache=empty,
               loadavg_before=round(load0, 2), loadavg_after=round(os.getloadavg()[0], 2), cache_mb_after=round(size/2**20), notebooks=times)
    out = root/"bench"/"test_suite.json"
    if r.returncode == 0:
        old = json.loads(out.read_text()) if out.exists() else None
        if old: rec["previous"] = (old.pop("previous", []) + [{k: v for k, v in old.items() if k != "notebooks"}])[-5:]
        out.write_text(json.dumps(rec, indent=1) + "\n")
    return r.returncode

if __name__ == "__main__": sys.exit(main())
