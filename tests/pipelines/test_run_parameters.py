"""Values typed by whoever queues a run reach the shell only through `env:`, never as script text.

Azure Pipelines pastes `${{ parameters.x }}` and `$(variable)` into a script before the shell
reads it, so a free-text run parameter holding `$(...)` or `;` would run as a command. This
follows each free-text parameter of an entry pipeline through the variables and template
parameters it flows into, and fails where one of them is pasted into a `script:` body.
"""

import re
from pathlib import Path

import pytest
from support.pipelines import (
    PIPELINES,
    declared_parameters,
    expand,
    load,
    scripts,
    template_references,
)

ENTRY_PIPELINES = (PIPELINES / "build-train.yml", PIPELINES / "release.yml")


def free_text(parameter: dict) -> bool:
    """A string the person queueing the run may type freely (no list of allowed values)."""
    return parameter.get("type", "string") == "string" and "values" not in parameter


def mentions(text: str, parameters: set[str], variables: set[str]) -> set[str]:
    found = {f"parameters.{p}" for p in parameters if re.search(rf"(?<!\w)parameters\.{p}\b", text)}
    found |= {f"$({v})" for v in variables if f"$({v})" in text}
    return found


def tainted_variables(document: dict, parameters: set[str]) -> set[str]:
    """Pipeline variables whose value comes from a tainted parameter."""
    names = set()

    def visit(node):
        if isinstance(node, dict):
            if (
                "name" in node
                and "value" in node
                and mentions(str(node["value"]), parameters, set())
            ):
                names.add(node["name"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(document.get("variables"))
    return names


def trace(entry: Path) -> dict[Path, tuple[set[str], set[str]]]:
    """{file: (tainted parameter names, tainted variable names)} reachable from an entry file."""
    parameters = {name for name, p in declared_parameters(entry).items() if free_text(p)}
    variables = tainted_variables(load(entry), parameters)
    tainted: dict[Path, tuple[set[str], set[str]]] = {entry: (parameters, variables)}
    queue = [entry]
    while queue:
        path = queue.pop()
        parameters, variables = tainted[path]
        for reference in template_references(path):
            passed = {
                name
                for name, value in reference.parameters.items()
                if mentions(str(value), parameters, variables)
            }
            target = reference.target
            known, known_variables = tainted.get(target, (set(), set()))
            if not passed <= known or not variables <= known_variables:
                tainted[target] = (known | passed, known_variables | variables)
                queue.append(target)
    return tainted


@pytest.mark.parametrize("entry", ENTRY_PIPELINES, ids=lambda p: p.name)
def test_free_text_never_reaches_a_script_body(entry):
    pasted = {}
    for path, (parameters, variables) in trace(entry).items():
        for script in scripts(expand(load(path))):
            if found := mentions(script, parameters, variables):
                pasted[path.relative_to(PIPELINES).as_posix()] = sorted(found)
    assert pasted == {}, f"free-text run values pasted into scripts (pass them via env:): {pasted}"


def test_the_build_pipeline_has_free_text_parameters_to_trace():
    traced = trace(PIPELINES / "build-train.yml")
    entry_parameters, entry_variables = traced[PIPELINES / "build-train.yml"]
    assert {"dataPrefix", "learningRate", "minPrecisionAtK"} <= entry_parameters
    assert "dataPrefix" in entry_variables
    package = PIPELINES / "templates" / "jobs" / "package.yml"
    assert {"dataUri", "learningRate", "minPrecisionAtK"} <= traced[package][0]


def test_the_trace_finds_a_pasted_parameter(tmp_path, monkeypatch):
    script = (
        "mlrelease values training --value x=${{ parameters.learningRate }}; echo $(dataPrefix)"
    )
    assert mentions(script, {"learningRate"}, {"dataPrefix"}) == {
        "parameters.learningRate",
        "$(dataPrefix)",
    }
    assert (
        mentions('--value "x=$TRAINING_LEARNING_RATE"', {"learningRate"}, {"dataPrefix"}) == set()
    )
