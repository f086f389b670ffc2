"""``make bench``: the fake TFC's throughput, then the embedded backend's lifecycle.
``BENCH_ONLY=tfc`` or ``BENCH_ONLY=lifecycle`` runs one part."""

import os
import sys

from . import fake_tfc_bench, lifecycle_bench

only = os.environ.get("BENCH_ONLY", "")
status = 0
if only in ("", "tfc"):
    status |= fake_tfc_bench.main()
    print()
if only in ("", "lifecycle"):
    status |= lifecycle_bench.main()
sys.exit(status)
