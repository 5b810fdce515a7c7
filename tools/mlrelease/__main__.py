"""`python -m mlrelease` runs the command line."""

import sys

from mlrelease.cli import main

sys.exit(main())
