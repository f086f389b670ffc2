"""``make bench``: the fake TFC's throughput, the embedded backend's lifecycle, then the
same lifecycle on the embedded backend and on MiniStack side by side, then a month of churn.
``BENCH_ONLY=tfc``, ``lifecycle``, ``engines`` or ``churn`` runs one part."""

import os
import sys

from . import churn_bench, engines_bench, fake_tfc_bench, lifecycle_bench

only = os.environ.get("BENCH_ONLY", "")
status = 0
if only in ("", "tfc"):
    status |= fake_tfc_bench.main()
    print()
if only in ("", "lifecycle"):
    status |= lifecycle_bench.main()
    print()
if only in ("", "engines"):
    status |= engines_bench.main()
    print()
if only in ("", "churn"):
    status |= churn_bench.main()
sys.exit(status)
