#!/usr/bin/env python
"""README.md from nbs/index.ipynb, without Quarto (which `nbdev_readme` needs and these machines lack).

  python .ci/readme.py --write      regenerate README.md
  python .ci/readme.py --check      exit 1 if README.md is not what index.ipynb gives
  python .ci/readme.py --commands   print the two Quick start blocks (setup+main job, tests), one JSON list each
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NB, README = ROOT/"nbs"/"index.ipynb", ROOT/"README.md"
HEADER = "<!-- Generated from nbs/index.ipynb by .ci/readme.py: edit the notebook, not this file. -->\n"

def _src(cell): return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]

def render(nb_path=NB) -> str:
    parts = []
    for cell in json.loads(Path(nb_path).read_text())["cells"]:
        src = _src(cell)
        if cell["cell_type"] == "markdown": parts.append(src.strip()); continue
        if cell["cell_type"] != "code" or re.search(r"^#\|\s*hide", src, re.M): continue
        code = "\n".join(l for l in src.splitlines() if not l.startswith("#|")).strip()
        if re.search(r"^#\|\s*echo:\s*false", src, re.M): code = ""          # the output only, as on the website
        lang = "python"
        if code.startswith("%%sh"): lang, code = "sh", code[len("%%sh"):].strip()      # a shell cell reads as shell
        if code: parts.append(f"```{lang}\n{code}\n```")
        outs = []
        for o in cell.get("outputs", []):                  # a shell cell's output may arrive line by line: one block per stream run
            if o["output_type"] == "stream" and outs and outs[-1]["output_type"] == "stream" and outs[-1]["name"] == o["name"]:
                outs[-1] = {**outs[-1], "text": "".join(outs[-1]["text"]) + "".join(o["text"])}
            else: outs.append(o)
        for o in outs:
            if o["output_type"] == "stream": text = "".join(o["text"])
            elif "text/markdown" in o.get("data", {}): parts.append("".join(o["data"]["text/markdown"]).strip()); continue
            elif "text/plain" in o.get("data", {}): text = "".join(o["data"]["text/plain"])
            else: continue
            parts.append("```\n" + text.rstrip("\n") + "\n```")
    return HEADER + "\n" + "\n\n".join(parts) + "\n"

MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|root|tmp|home/[\w.-]+|Users/[\w.-]+|mnt|scratch)/")

def machine_paths(md:str) -> list[str]:
    "Lines of the README that show a path of the machine that rendered it (a user sees their own paths, or a placeholder)."
    return [l.strip() for l in md.splitlines() if MACHINE_PATH.search(l)]

def quickstart(md:str):
    "The ```sh blocks of the '## Quick start' section: [setup-and-run lines, test lines]."
    m = re.search(r"^## Quick start\n(.*?)(?=^## |\Z)", md, re.S | re.M)
    if not m: sys.exit("README.md has no '## Quick start' section")
    blocks = [b.strip().splitlines() for b in re.findall(r"```sh\n(.*?)```", m.group(1), re.S)]
    if len(blocks) != 2: sys.exit(f"Quick start must have exactly 2 sh blocks (set up and run; test), found {len(blocks)}")
    return blocks

if __name__ == "__main__":
    arg = sys.argv[1] if len(sys.argv) > 1 else "--check"
    if arg == "--write":
        if bad := machine_paths(render()): sys.exit("refusing to write a README that shows a machine path:\n  " + "\n  ".join(bad))
        README.write_text(render()); print("wrote", README)
    elif arg == "--check":
        want, have = render(), README.read_text() if README.exists() else ""
        if want != have:
            import difflib
            sys.stdout.writelines(difflib.unified_diff(have.splitlines(True), want.splitlines(True), "README.md", "from index.ipynb"))
            sys.exit("README.md is out of step with nbs/index.ipynb: run `python .ci/readme.py --write`")
        if bad := machine_paths(want): sys.exit("README.md would show a machine path (rerun the cell through tools/run_nb.py, which redacts them):\n  " + "\n  ".join(bad))
        nb_blocks, rd_blocks = quickstart(render()), quickstart(have)
        assert nb_blocks == rd_blocks
        print("README.md matches nbs/index.ipynb; quick-start commands:", *(" && ".join(b) for b in rd_blocks), sep="\n  ")
    elif arg == "--commands":
        for b in quickstart(README.read_text()): print(json.dumps(b))
    else: sys.exit(__doc__)
