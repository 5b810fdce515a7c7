"""Release stages that finish inside their limits, re-run cleanly and never interleave.

Azure Pipelines cuts a job off at `timeoutInMinutes` (60 when unset), so a canary whose
pauses alone outlast it is stopped half way, every time. The template cannot compute the
limit itself (template expressions have no arithmetic), so each environment states it and
this test derives the worst case from the same parameters and fails when the limit is shorter.
"""

import re

import pytest
from support.pipelines import PIPELINES, declared_parameters, expand, load

TEMPLATE = PIPELINES / "templates" / "stages" / "release-environment.yml"
# Checking out, setting up Python and logging in to the cluster, generously.
SETUP_MINUTES = 10


def minutes(duration: str) -> float:
    """A Helm or Prometheus duration (15m, 300s, 1h) in minutes."""
    match = re.fullmatch(r"(\d+)([smh])", duration)
    assert match, f"unsupported duration {duration!r}"
    value, unit = int(match.group(1)), match.group(2)
    return value * {"s": 1 / 60, "m": 1, "h": 60}[unit]


def environments() -> list[dict]:
    defaults = {name: p.get("default") for name, p in declared_parameters(TEMPLATE).items()}
    stages = load(PIPELINES / "release.yml")["stages"]
    return [{**defaults, **stage["parameters"]} for stage in stages]


def worst_case_minutes(environment: dict, helm_timeout: float) -> float:
    """Each step bounded by its own limit: Helm waits, the pause, the analysis window.

    Install: the scoring release (`--wait`) and its `helm test`, one Helm timeout each.
    Each canary step: the routing upgrade (one Helm timeout), the pause, and the analysis,
    which waits up to one window for traffic and then judges over one more.
    Afterwards: retiring old versions (one routing upgrade and the uninstalls).
    """
    # Pipeline YAML is read with every scalar as text, as the service reads it.
    judged = str(environment["analysis"]).lower() == "true"
    analysis = 2 * minutes(environment["analysisInterval"]) if judged else 0
    step = helm_timeout + int(environment["pauseSeconds"]) / 60 + analysis
    install = 2 * helm_timeout
    retire = helm_timeout + 5
    return SETUP_MINUTES + install + len(environment["canarySteps"]) * step + retire


@pytest.mark.parametrize("environment", environments(), ids=lambda e: e["name"])
def test_each_deployment_job_outlasts_its_worst_case(environment):
    helm_timeout = minutes(load(PIPELINES / "variables.yml")["variables"]["helmTimeout"])
    needed = worst_case_minutes(environment, helm_timeout)
    assert int(environment["timeoutInMinutes"]) >= needed, (
        f"{environment['name']}: timeoutInMinutes {environment['timeoutInMinutes']} is shorter "
        f"than the rollout's worst case of {needed:.0f} minutes"
    )


def test_the_deployment_job_takes_the_stated_limit():
    (job,) = expand(load(TEMPLATE))["stages"][0]["jobs"]
    assert job["timeoutInMinutes"] == "${{ parameters.timeoutInMinutes }}"


def test_the_worst_case_grows_with_steps_and_pauses():
    prod = {"analysis": "true", "analysisInterval": "15m", "pauseSeconds": 900}
    short = worst_case_minutes({**prod, "canarySteps": [100]}, 15)
    long = worst_case_minutes({**prod, "canarySteps": [10, 25, 50, 100]}, 15)
    assert long - short == 3 * (15 + 15 + 30)
    # The old prod job: 60 minutes of pauses alone against the 60-minute default limit.
    assert worst_case_minutes({**prod, "canarySteps": [10, 25, 50, 100]}, 15) > 60


def test_releases_into_one_environment_never_interleave():
    (stage,) = expand(load(TEMPLATE))["stages"]
    assert stage["lockBehavior"] == "sequential"


def artifact_names(node) -> list[str]:
    """The artifact names of every publish and `download: current` step under a node."""
    found = []
    if isinstance(node, dict):
        if "publish" in node or node.get("download") == "current":
            found.append(str(node.get("artifact")))
        for value in node.values():
            found.extend(artifact_names(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(artifact_names(item))
    return found


def test_artifacts_a_release_publishes_are_named_per_attempt():
    document = expand(load(TEMPLATE))
    variables = document["stages"][0]["jobs"][0]["variables"]
    names = artifact_names(document)
    assert names and set(names) == {"$(routingArtifact)"}
    assert "$(System.StageAttempt)" in variables["routingArtifact"]
    assert "$(System.JobAttempt)" in variables["routingArtifact"]
