"""`python -m experiments` is the `rrl` command line."""

import sys

from experiments.cli import main

sys.exit(main())
