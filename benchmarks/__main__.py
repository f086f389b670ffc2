import sys

from .fake_tfc_bench import main

sys.exit(main())
