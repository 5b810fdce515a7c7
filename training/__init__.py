"""The training Job: read the interaction export, fit LightFM, gate on quality, publish.

Run it as `python -m training`; it is configured by environment variables only (see
`training.config`). LightFM is imported only by `training.model`: the CLI, the pipeline
tools and the scoring service install and run without it.

numpy asks the kernel for transparent huge pages for every large array it allocates
(NUMPY_MADVISE_HUGEPAGE, read once when numpy is first imported). Reading an export makes
a few very large arrays and touches each only a few times, so the first touch, when the
kernel finds and zeroes whole 2 MiB pages, is most of their cost: on a virtual machine
reading 20M rows took 13-18 s with huge pages and 8.5-10.6 s without.
The job therefore runs without them unless its environment says otherwise; this must run
before anything imports numpy, which `python -m training` guarantees.
"""

import os

os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
