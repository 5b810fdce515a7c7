"""Every `mlrelease` command line in a pipeline step parses with the real CLI.

A renamed flag or subcommand would otherwise surface only when a pipeline runs. Template
expressions and macros are replaced with stand-ins first (a parameter's default where it has
one, the value in variables.yml for a variable), so numeric flags get numbers.
"""

from pathlib import Path

import pytest
from support.pipelines import (
    PIPELINES,
    REPO,
    command_lines,
    declared_parameters,
    defined_variables,
    expand,
    load,
    mlrelease_commands,
    pipeline_files,
    script_steps,
    substitute,
    template_references,
)

from mlrelease.cli import build_parser, main
from mlrelease.values import yamlio

COMMANDS = [(path, argv) for path in pipeline_files() for argv in mlrelease_commands(path)]


def _command_id(command: tuple[Path, list[str]]) -> str:
    path, argv = command
    return f"{path.relative_to(PIPELINES)}:{' '.join(argv[:2])}"


def _parses(argv: list[str], capsys: pytest.CaptureFixture) -> str | None:
    """None when the CLI accepts argv, else its error message."""
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        return capsys.readouterr().err.strip()
    return None


@pytest.mark.parametrize("command", COMMANDS, ids=[_command_id(c) for c in COMMANDS])
def test_mlrelease_command_parses_with_the_real_cli(command, capsys):
    path, argv = command
    error = _parses(argv, capsys)
    assert error is None, f"{path.relative_to(PIPELINES)}: mlrelease {' '.join(argv)}\n{error}"


def test_the_pipelines_run_each_step_of_the_release_flow():
    run = {" ".join(argv[:2]) for _, argv in COMMANDS}
    assert {
        "values training",
        "values scoring",
        "traffic plan",
        "traffic baseline",
        "traffic retire",
        "model verify",
    } <= run
    assert {argv[0] for _, argv in COMMANDS} >= {"version", "package", "analyze"}


def test_a_wrong_flag_is_caught(capsys):
    assert _parses(["model", "verify", "az://models/x/v1", "--timeout", "5"], capsys)
    assert _parses(["traffic", "plan", "--version", "v1", "--steps", "ten"], capsys)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("mlrelease version 1", [["mlrelease", "version", "1"]]),
        (
            "mlrelease model verify \\\n  az://m/x/v1 > out.txt",
            [["mlrelease", "model", "verify", "az://m/x/v1"]],
        ),
        (
            'set -e\nid="$(mlrelease version \'2026.1\')"\necho "$id" | tee f',
            [
                ["set", "-e"],
                ["mlrelease", "version", "2026.1"],
                ["id=placeholder"],
                ["echo", "placeholder"],
                ["tee", "f"],
            ],
        ),
        (
            "a && mlrelease traffic plan --steps 10,100",
            [["a"], ["mlrelease", "traffic", "plan", "--steps", "10,100"]],
        ),
    ],
)
def test_command_lines_are_split_as_the_shell_splits_them(script, expected):
    assert command_lines(script) == expected


def test_expressions_and_macros_get_stand_ins():
    parameters = {
        "steps": {"name": "steps", "type": "object", "default": ["10", "100"]},
        "epochs": {"name": "epochs", "type": "number"},
        "name": {"name": "name", "type": "string", "default": "recommender"},
    }
    text = (
        "--steps ${{ join(',', parameters.steps) }} --epochs ${{ parameters.epochs }} "
        "--model-name ${{ parameters.name }} --models-uri $(modelsUri) --build $(Build.BuildNumber)"
    )
    assert substitute(text, parameters, {"modelsUri": "az://models"}) == (
        "--steps 10,100 --epochs 1 --model-name recommender --models-uri az://models "
        "--build 20261127.3"
    )


def test_the_package_job_writes_values_and_charts_with_the_real_charts(tmp_path, monkeypatch):
    """The Values job's commands with the values build-train.yml passes it, run in order from
    the repository root as the agent runs them."""
    build = PIPELINES / "build-train.yml"
    path = PIPELINES / "templates" / "jobs" / "package.yml"
    variables = {
        **defined_variables(),
        "Build.ArtifactStagingDirectory": str(tmp_path),
        "dataPrefix": "2026/11/27",
    }
    (reference,) = [r for r in template_references(build) if r.target == path]
    entry = declared_parameters(build)
    passed = {
        name: {"name": name, "default": substitute(value, entry, variables)}
        for name, value in reference.parameters.items()
    }
    parameters = {**declared_parameters(path), **passed}
    monkeypatch.chdir(REPO)
    for script, env in script_steps(expand(load(path))):
        environment = {k: substitute(str(v), parameters, variables) for k, v in env.items()}
        for argv in command_lines(substitute(script, parameters, variables), environment):
            if argv[0] == "mlrelease" and argv[1] != "version":
                assert main(argv[1:]) == 0, argv

    training = yamlio.load_path(tmp_path / "training-values.yaml")
    assert training["hyperparameters"]["learningRate"] == pytest.approx(0.05)
    assert isinstance(training["evaluation"]["minPrecisionAtK"], float)
    assert training["hyperparameters"]["epochs"] == int(entry["epochs"]["default"])
    assert training["data"]["uri"] == "az://etl/interactions/2026/11/27"
    assert training["image"] == {
        "repository": "mlrelease.azurecr.io/mlrelease/training",
        "tag": "20261127.3",
    }
    assert yamlio.load_path(tmp_path / "scoring-values.yaml")["versionId"] == training["versionId"]
    charts = sorted(archive.name.split("-")[0] for archive in (tmp_path / "charts").glob("*.tgz"))
    assert charts == ["routing", "scoring", "training"]
