#!/usr/bin/env python
"""Count notebooks passed/failed from the log of `nbdev_test --do_print`.
usage: count_nbtest.py LOG TOTAL RC   -> prints 'PASSED FAILED'
A notebook passes when it completed and is not in nbdev's failure list; one that never
completed (timeout) or never started counts as failed."""
import re, sys
log, total, rc = open(sys.argv[1], errors="replace").read(), int(sys.argv[2]), int(sys.argv[3])
done = set(re.findall(r"^- Completed (\S+\.ipynb)", log, re.M))
failed = set()
m = re.search(r"Failed On The Following Notebooks:\n=+\n((?:\t.*\n?)*)", log)
if m: failed = {l.strip() for l in m.group(1).splitlines() if l.strip()}
passed = len({d for d in done if d.rsplit("/", 1)[-1] not in failed})
print(passed, total - passed)
