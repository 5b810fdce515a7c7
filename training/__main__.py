"""`python -m training`: the training Job's command; configured only by environment variables."""

import logging
import os
import sys

from training.run import main

if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    sys.exit(main(os.environ))
