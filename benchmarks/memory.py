"""The process's memory, as the benchmarks report it."""

from __future__ import annotations


def rss_now_mb() -> float:
    """The resident set size now (Linux), in MB; 0 where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
