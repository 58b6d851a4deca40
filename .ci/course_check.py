"""The course's house rules, checked on every notebook (a step of .ci/run).

- no code cell longer than 40 lines or 3,000 characters;
- no mention of files outside the repository or of the project's issues (`hipt.md`, `conventions.md`, `shared/`, "the issue");
- every numbered notebook ends with a `## Questions` section holding collapsed answer callouts and a "Try it";
- no code cell that the docs run (not exported, not `eval: false`) mixes imports with other statements: nbdev's docs
  pre-processing refuses those ("cells containing imports and other code"), and it runs only late in CI.
Prints one line per problem and exits 1 if there is any.
"""
import ast, json, re, sys
from pathlib import Path

FORBIDDEN = re.compile(r"hipt\.md|conventions\.md|clam-tissue\.md|shared/reference|\bthe issue\b", re.I)

def _mixes_imports(src:str) -> bool:
    "nbdev's rule (`processors._do_eval`): a cell the docs execute holds an import and an expression or assignment anywhere."
    if "nbdev_export()" in src: return False                                     # the export cell, which nbdev skips
    directives = {m.group(1) for m in re.finditer(r"^#\|\s*([\w-]+)", src, re.M)}
    if directives & {"export", "exports", "exporti", "exec_doc"} or re.search(r"^#\|\s*eval:\s*false", src, re.M | re.I): return False
    try: tree = ast.parse("\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!"))))
    except SyntaxError: return False
    kinds = {type(n) for n in ast.walk(tree)}
    return bool(kinds & {ast.Import, ast.ImportFrom}) and bool(kinds & {ast.Expr, ast.Assign})

def problems(path:Path):
    cells = json.loads(path.read_text())["cells"]
    for i, c in enumerate(cells):
        src = "".join(c["source"])
        if c["cell_type"] == "code":
            n = len(src.splitlines())
            if n > 40 or len(src) > 3000: yield f"{path.name} cell {i}: {n} lines, {len(src)} characters (limit 40 / 3000)"
            if _mixes_imports(src): yield f"{path.name} cell {i} ({c.get('id')}): imports mixed with other code (move the imports to the notebook's imports cell)"
        m = FORBIDDEN.search(src)
        if m: yield f"{path.name} cell {i}: mentions {m.group(0)!r}"
    if re.match(r"\d", path.name):
        heads = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and re.search(r"^##\s+Questions", "".join(c["source"]), re.M)]
        if not heads: yield f"{path.name}: no '## Questions' section"; return
        rest = cells[heads[-1]:]
        outside = lambda t: re.sub(r"^:::\s*\{.*?^:::\s*$", "", t, flags=re.M | re.S)     # headings inside callouts (## Answer) do not count
        if any(c["cell_type"] == "markdown" and re.search(r"^##\s", outside("".join(c["source"])), re.M) for c in rest[1:]):
            yield f"{path.name}: '## Questions' is not the last section"
        md = "\n".join("".join(c["source"]) for c in rest if c["cell_type"] == "markdown")
        if len(re.findall(r'callout-tip collapse="true"', md)) < 5: yield f"{path.name}: Questions has fewer than 5 collapsed answers"
        if "Try it" not in md or not any(c["cell_type"] == "code" for c in rest): yield f"{path.name}: Questions has no 'Try it' with a code cell"

if __name__ == "__main__":
    found = [p for f in sorted(Path("nbs").glob("*.ipynb")) for p in problems(f)]
    print("\n".join(found) if found else f"course rules: {len(list(Path('nbs').glob('*.ipynb')))} notebooks fine")
    sys.exit(1 if found else 0)
