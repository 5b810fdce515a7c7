"""The deployment job's record is written where `mlrelease summary` reads it.

The canary steps write the plan, each step's start and each step's analysis report into the
job's routing folder; the summary step reads them back by the names `mlrelease.summary.release`
owns. This compiles every environment's stage as the service would and fails when a template
writes a name or a folder the summary does not read.
"""

import pytest
from support import agent
from support.agent import MACRO
from support.pipelines import PIPELINES, command_lines, load
from support.releases import compile_variables

from mlrelease.summary import release

STAGE = (PIPELINES / "templates" / "stages" / "release-environment.yml").resolve()


def environments() -> list[dict]:
    rendered = agent.render(load(PIPELINES / "release.yml"), {"variables": compile_variables()})
    return [stage["parameters"] for stage in rendered["stages"]]


def deploy_steps(parameters: dict) -> list[dict]:
    (stage,) = agent.compile_template(STAGE, parameters, compile_variables())["stages"]
    (deployment,) = stage["jobs"]
    steps = deployment["strategy"]["runOnce"]["deploy"]["steps"]
    return agent.job_steps(STAGE, steps, compile_variables())


def named(text: object) -> str:
    """`$(routingFiles)` as `{routingFiles}`: the agent's macros, kept apart from the shell's."""
    return MACRO.sub(r"{\1}", str(text))


def commands(step: dict) -> list[list[str]]:
    """The step's command lines, its `env:` values (macros named) in place of shell variables."""
    script = named(step.get("script") or step.get("bash") or "")
    return command_lines(script, {k: named(v) for k, v in (step.get("env") or {}).items()})


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def mlrelease_step(steps: list[dict], subcommand: tuple[str, ...]) -> list[str]:
    (argv,) = [
        argv
        for step in steps
        for argv in commands(step)
        if argv[0] == "mlrelease" and tuple(argv[1 : 1 + len(subcommand)]) == subcommand
    ]
    return argv


@pytest.mark.parametrize("environment", environments(), ids=lambda e: e["name"])
def test_every_step_records_what_the_summary_reads(environment):
    parameters = {**environment, "analysis": "true"}
    steps = deploy_steps(parameters)
    summary = mlrelease_step(steps, ("summary",))
    record = flag(summary, "--record")

    plan = mlrelease_step(steps, ("traffic", "plan"))
    assert flag(plan, "--out-dir") == f"{record}/{release.PLAN_FOLDER}"
    first = mlrelease_step(steps, ("traffic", "promote"))
    assert flag(first, "--out") == f"{record}/{release.PLAN_FOLDER}/{release.FIRST_ROUTING}"
    saved = next(s for s in steps if s.get("displayName") == "Save the routing values in force")
    assert f"> '{record}/{release.PREVIOUS_ROUTING}'" in named(saved["bash"])

    percents = [str(p) for p in environment.get("canarySteps") or [10, 50, 100]]
    for percent in percents:
        (pause,) = [s for s in steps if s.get("displayName", "").startswith(f"Run {percent}% ")]
        environment_of_pause = {k: named(v) for k, v in pause["env"].items()}
        written = pause["bash"]
        for name, value in environment_of_pause.items():
            written = written.replace(f"${{{name}}}", value)
        assert f'> "{record}/{release.applied_file(percent)}"' in written
        (judged,) = [
            argv
            for s in steps
            if s.get("displayName") == f"Analyse {percent}% on the new version"
            for argv in commands(s)
        ]
        assert flag(judged, "--json") == f"{record}/{release.analysis_file(percent)}"


@pytest.mark.parametrize("environment", environments(), ids=lambda e: e["name"])
def test_the_summary_runs_and_is_published_pass_or_fail(environment):
    steps = deploy_steps(environment)
    names = [step.get("displayName") for step in steps]
    written = names.index("Write the release summary and its traffic picture")
    published = names.index("Publish the release summary")
    # Last, after the retirement, and whatever happened before.
    assert written == len(steps) - 2 and published == len(steps) - 1
    for step in steps[written:]:
        assert step["condition"] == "always()" and agent.truthy(step["continueOnError"])
    summary = mlrelease_step(steps, ("summary",))
    assert named(steps[published]["publish"]) == flag(summary, "--out-dir")
    assert steps[written]["env"]["JOB_STATUS"] == "$(Agent.JobStatus)"
