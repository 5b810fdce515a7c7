"""How long the embedded Helm engine takes to render each chart with its `ci/` values.

Everything the pipelines and the rehearsal do with charts goes through this render, so it
should cost well under a second. Prints the median of repeated renders per chart, after
the chart is loaded (loading happens once per command).

    python bench/chart_render.py [--repeats 50]
"""

import argparse
import statistics
import time
from pathlib import Path

from mlrelease.values import helm

REPO = Path(__file__).resolve().parents[1]
CHARTS = ("training", "scoring", "routing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    total = 0.0
    for name in CHARTS:
        chart = helm.load_chart(REPO / "charts" / name)
        values = helm.load_values_files([REPO / "charts" / name / "ci" / "ci-values.yaml"])
        timings = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            helm.render(chart, values, release=f"{name}-v20261127-3", namespace="ml")
            timings.append(time.perf_counter() - started)
        median = statistics.median(timings)
        total += median
        print(f"{name:<9} median {median * 1000:6.1f} ms  min {min(timings) * 1000:6.1f} ms")
    print(f"all three charts: {total * 1000:.1f} ms (median per render, summed)")


if __name__ == "__main__":
    main()
