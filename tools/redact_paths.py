"""Replace this machine's own paths in committed notebook outputs by what they stand for, so readers see no build-machine paths.

    python tools/redact_paths.py nbs/*.ipynb      (tools/run_nb.py calls it on every notebook it re-runs)

The repository root becomes `<clone>` (where you cloned hipt_nb) and the home folder `~`; nothing else in an output changes.
"""
import json, os, sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])

def redact(text:str) -> str:
    return text.replace(ROOT + "/", "<clone>/").replace(os.path.expanduser("~") + "/", "~/")

def redact_notebook(path) -> bool:
    raw = Path(path).read_text()
    nb = json.loads(raw)
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            if "text" in o: o["text"] = [redact(t) for t in o["text"]] if isinstance(o["text"], list) else redact(o["text"])
            for k, v in o.get("data", {}).items():
                if k.startswith("text/"): o["data"][k] = [redact(t) for t in v] if isinstance(v, list) else redact(v)
            if "traceback" in o: o["traceback"] = [redact(t) for t in o["traceback"]]
    new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if new != raw: Path(path).write_text(new)
    return new != raw

if __name__ == "__main__":
    for p in sys.argv[1:]:
        if redact_notebook(p): print(f"{p}: paths redacted")
