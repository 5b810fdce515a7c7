"""A picture of a release: each version's configured and observed traffic share, step by step.

The Markdown summary says the same in tables; a chart shows at a glance where traffic went,
that what Istio delivered followed what the routing configured, and which canary step the
analysis passed or failed. A step nobody measured (no traffic counted, e.g. with the
analysis off) shows its configured weights only. Drawn with matplotlib's Agg backend, so it
needs no display.

Each step is a mapping: `title`, `configured` ({version: weight %}), `observed` ({version:
requests}), `requests` (their total; 0 when not measured) and `verdict` ("healthy",
"failing" or empty).
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a window

from matplotlib import pyplot

VERDICT_MARKS = {
    "healthy": ("analysis: healthy", "tab:green"),
    "failing": ("analysis: failing", "tab:red"),
}


def draw_release(observations: Sequence[dict[str, Any]], path: Path) -> Path:
    """Write the PNG at `path`: one line per version, configured (dashed) and observed (solid)."""
    versions = sorted({name for step in observations for name in step["configured"]})
    steps = range(1, len(observations) + 1)
    figure, axes = pyplot.subplots(figsize=(10, 5.5), dpi=100)
    try:
        for index, version in enumerate(versions):
            color = f"C{index % 10}"
            configured = [step["configured"].get(version) for step in observations]
            observed = [
                100 * step["observed"].get(version, 0) / step["requests"]
                if version in step["configured"] and step["requests"]
                else None
                for step in observations
            ]
            measured = any(share is not None for share in observed)
            axes.plot(
                steps,
                configured,
                linestyle="--",
                marker="" if measured else "s",
                color=color,
                alpha=0.6 if measured else 0.9,
                label=None if measured else f"{version} (configured only)",
            )
            if measured:
                axes.plot(steps, observed, marker="o", color=color, label=version)
        for number, step in zip(steps, observations, strict=True):
            if step.get("verdict") in VERDICT_MARKS:
                text, color = VERDICT_MARKS[step["verdict"]]
                axes.axvspan(number - 0.3, number + 0.3, color=color, alpha=0.12)
                axes.annotate(text, (number, 103), ha="center", color=color, fontsize=9)
        axes.set_xticks(list(steps), [_label(step["title"]) for step in observations], fontsize=8)
        axes.set_ylim(-3, 110)
        axes.set_ylabel("share of requests (%)")
        axes.set_title("Traffic by step: configured (dashed) and observed (solid)")
        axes.legend(title="version", fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
        axes.grid(axis="y", alpha=0.3)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    finally:
        pyplot.close(figure)
    return path


def _label(title: str) -> str:
    """A step title on two short lines, the version id shortened to its build part."""
    words = title.replace(": routing restored", " (restored)").split()
    short = [
        word.rsplit("-", 1)[0] if word.startswith("v") and "-" in word else word for word in words
    ]
    middle = len(short) // 2
    return " ".join(short[:middle]) + "\n" + " ".join(short[middle:])
