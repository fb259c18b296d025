"""CPU time of a process tree, read from Linux /proc (shared by the benchmarks that measure
what a browser or the server costs)."""
from __future__ import annotations

import os
from pathlib import Path


def tree_cpu_seconds(root_pid: int, name_part: str = "") -> float:
    """CPU seconds (user + system) used so far by `root_pid` and its descendants whose process
    name contains `name_part`."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent, comm, cpu = {}, {}, {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            raw = (d / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        pid = int(d.name)
        parent[pid], comm[pid] = int(fields[1]), raw[raw.index("(") + 1:raw.rindex(")")]
        cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
    total = 0.0
    for pid, name in comm.items():
        p = pid
        while p not in (0, 1) and p != root_pid and p in parent:
            p = parent[p]
        if p == root_pid and name_part in name:
            total += cpu[pid]
    return total
