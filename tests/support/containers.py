"""What the container fixtures and tests share: how the charts run the images, and how the
pipeline's image job runs tools/build_images.sh.

The image job's script steps are read from the pipeline YAML and evaluated the way the service
evaluates them for build-train.yml: each `${{ each image in parameters.images }}` is unrolled
over the images the Images stage passes, `${{ parameters.x }}` takes the value passed,
`${{ variables.x }}` the value in variables.yml, and `$(Build.BuildNumber)` a stand-in build
number. The tests then run those exact scripts with that exact environment.
"""

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.pipelines import (
    PIPELINES,
    declared_parameters,
    defined_variables,
    load,
    substitute,
    template_references,
)

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "build_images.sh"
CONTEXT_DIR = "build/images"
CONTAINER_USER = "10001:10001"
# What the charts' securityContext asks for, as `docker run` flags.
RUN_FLAGS = (
    "--rm",
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--user",
    CONTAINER_USER,
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
)
# A cold build debootstraps a base image and compiles LightFM.
BUILD_TIMEOUT = 2700
BUILD_NUMBER = "20261127.7"
MODEL_NAME = "recommender"

BUILD_PIPELINE = PIPELINES / "build-train.yml"
IMAGES_JOB = PIPELINES / "templates" / "jobs" / "images.yml"

EACH = re.compile(r"\$\{\{\s*each\s+(\w+)\s+in\s+parameters\.(\w+)\s*\}\}")


def script_images() -> dict[str, str]:
    """The images build_images.sh builds: Dockerfile -> default tag, as the script lists them."""
    proc = subprocess.run(
        ["bash", str(SCRIPT), "images"], capture_output=True, text=True, timeout=60, check=True
    )
    return dict(line.split() for line in proc.stdout.splitlines())


@dataclass(frozen=True)
class ScriptStep:
    """One script step of the image job, evaluated for build-train.yml."""

    script: str
    env: dict[str, str]
    display_name: str


def images_job_parameters() -> dict[str, Any]:
    """The parameters build-train.yml passes to the image job, with variables and macros
    replaced by their values (variables.yml) or stand-ins (the build number)."""
    (reference,) = [r for r in template_references(BUILD_PIPELINE) if r.target == IMAGES_JOB]
    declared = declared_parameters(BUILD_PIPELINE)
    variables = defined_variables()

    def value(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: value(item) for key, item in node.items()}
        if isinstance(node, list):
            return [value(item) for item in node]
        return substitute(node, declared, variables)

    return value(reference.parameters)


def _with_item(text: str, name: str, item: dict[str, str]) -> str:
    """Replace `${{ name.field }}` with the loop item's fields."""
    return re.sub(r"\$\{\{\s*" + name + r"\.(\w+)\s*\}\}", lambda match: item[match.group(1)], text)


def _unroll(steps: list, parameters: dict[str, Any]) -> list[tuple[dict, dict | None]]:
    """Steps with `${{ each }}` unrolled: (step, loop item as {name: item} or None)."""
    unrolled: list[tuple[dict, dict | None]] = []
    for step in steps:
        (key,) = step if len(step) == 1 else (None,)
        each = EACH.fullmatch(key.strip()) if isinstance(key, str) else None
        if each:
            name, listed = each.groups()
            for item in parameters[listed]:
                unrolled.extend((inner, {name: item}) for inner in step[key])
        else:
            unrolled.append((step, None))
    return unrolled


def images_job_scripts() -> list[ScriptStep]:
    """Every script step of the image job, in order, as build-train.yml runs it."""
    parameters = images_job_parameters()
    passed = {name: {"name": name, "default": value} for name, value in parameters.items()}
    variables = defined_variables()
    (job,) = load(IMAGES_JOB)["jobs"]
    found = []
    for step, loop in _unroll(job["steps"], parameters):
        if "script" not in step:
            continue

        def evaluate(text: str, loop: dict | None = loop) -> str:
            for name, item in (loop or {}).items():
                text = _with_item(text, name, item)
            return substitute(text, passed, variables)

        found.append(
            ScriptStep(
                script=evaluate(step["script"]),
                env={key: evaluate(value) for key, value in (step.get("env") or {}).items()},
                display_name=evaluate(step.get("displayName", "")),
            )
        )
    return found
