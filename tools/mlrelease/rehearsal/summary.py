"""The release summary in Markdown, as a pipeline publishes it with ##vso[task.uploadsummary]."""

from pathlib import Path

import jinja2

from mlrelease.rehearsal.flow import AB_HEADER, AB_VALUE, MODEL_NAME, Build, Rehearsal
from mlrelease.summary.release import PICTURE_FILE

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,  # Markdown, not HTML
)


def render_summary(builds: list[Build], rehearsal: Rehearsal) -> str:
    """Versions, provenance, metrics, weights (configured and observed), each canary's
    verdicts with their numbers, and what was retired, as Markdown."""
    return _TEMPLATES.get_template("summary.md.j2").render(
        model_name=MODEL_NAME,
        builds=builds,
        observations=rehearsal.observations,
        rollouts=rehearsal.rollouts,
        retired=rehearsal.retired,
        pruned=rehearsal.pruned,
        k=builds[0].metrics.get("k", 10),
        ab_header=AB_HEADER,
        ab_value=AB_VALUE,
        picture=PICTURE_FILE,
    )
