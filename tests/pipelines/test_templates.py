"""Every `template:` reference resolves, and passes what the template declares, typed.

Azure resolves a template path relative to the file that names it (a leading `/` means the
repository root) and rejects a run whose template is missing, gets an undeclared parameter,
misses a parameter without a default, or gets a literal of the wrong type. These checks find
the same mistakes before a pipeline is queued, with no schema needed.
"""

import re
from pathlib import Path

import pytest
from support.pipelines import (
    EXPRESSION,
    GROUP_SECRETS,
    MACRO,
    PIPELINES,
    REPO,
    TemplateReference,
    declared_parameters,
    defined_variables,
    expand,
    load,
    missing_parameters,
    mistyped_parameters,
    pipeline_files,
    template_references,
    type_problem,
    unknown_parameters,
    variable_names,
)

FILES = pipeline_files()
REFERENCES = [reference for path in FILES for reference in template_references(path)]
ENTRY_PIPELINES = [PIPELINES / "build-train.yml", PIPELINES / "release.yml"]


def _reference_id(reference: TemplateReference) -> str:
    return f"{reference.source.relative_to(PIPELINES)}->{reference.template}"


def _name(path: Path) -> str:
    return str(path.relative_to(PIPELINES))


def test_the_pipelines_use_templates():
    assert len(REFERENCES) >= 20
    assert {reference.kind for reference in REFERENCES} == {"steps", "jobs", "stages", "variables"}


@pytest.mark.parametrize("reference", REFERENCES, ids=_reference_id)
def test_template_reference_resolves_to_a_file_in_the_pipelines_folder(reference):
    assert reference.target.is_file(), f"{reference.template} is not at {reference.target}"
    assert reference.target.is_relative_to(PIPELINES.resolve())


@pytest.mark.parametrize("reference", REFERENCES, ids=_reference_id)
def test_template_gets_only_parameters_it_declares(reference):
    assert not unknown_parameters(reference)


@pytest.mark.parametrize("reference", REFERENCES, ids=_reference_id)
def test_template_gets_every_parameter_without_a_default(reference):
    assert not missing_parameters(reference)


@pytest.mark.parametrize("reference", REFERENCES, ids=_reference_id)
def test_template_parameter_values_fit_their_declared_types(reference):
    assert not mistyped_parameters(reference)


def test_reference_checks_find_each_kind_of_mistake(tmp_path):
    (tmp_path / "steps.yml").write_text(
        "# A template for this test.\n"
        "parameters:\n"
        "  - name: release\n"
        "    type: string\n"
        "  - name: epochs\n"
        "    type: number\n"
        "    default: 20\n"
        "steps:\n"
        "  - script: echo ${{ parameters.release }}\n",
        encoding="utf-8",
    )
    (tmp_path / "pipeline.yml").write_text(
        "steps:\n"
        "  - template: steps.yml\n"
        "    parameters:\n"
        "      epochs: many\n"
        "      namespace: prod\n"
        "  - template: missing.yml\n",
        encoding="utf-8",
    )
    first, second = template_references(tmp_path / "pipeline.yml")
    assert unknown_parameters(first) == ["namespace"]
    assert missing_parameters(first) == ["release"]
    assert list(mistyped_parameters(first)) == ["epochs"]
    assert not second.target.exists()


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_every_declared_parameter_has_a_type(path):
    untyped = [
        name for name, parameter in declared_parameters(path).items() if "type" not in parameter
    ]
    assert not untyped


@pytest.mark.parametrize("path", ENTRY_PIPELINES, ids=_name)
def test_runtime_parameters_have_defaults_for_triggered_runs(path):
    # A CI, pull request or scheduled run supplies no parameters at all.
    without = [
        name for name, parameter in declared_parameters(path).items() if "default" not in parameter
    ]
    assert not without


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_template_expressions_name_declared_parameters(path):
    declared = set(declared_parameters(path))
    used = {
        name
        for body in EXPRESSION.findall(path.read_text(encoding="utf-8"))
        for name in re.findall(r"parameters\.(\w+)", body)
    }
    assert used <= declared, f"undeclared: {sorted(used - declared)}"


def _variables_set_anywhere() -> set[str]:
    names = set(defined_variables()) | set(GROUP_SECRETS)
    for path in FILES:
        names |= set(re.findall(r"task\.setvariable variable=(\w+)", path.read_text("utf-8")))
        names |= variable_names(expand(load(path)))
    return names


KNOWN_VARIABLES = _variables_set_anywhere()


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_macros_name_variables_that_exist(path):
    # Predefined variables have a dot (Build.BuildNumber, resources.pipeline.x.runName).
    used = {name for name in MACRO.findall(path.read_text(encoding="utf-8")) if "." not in name}
    assert used <= KNOWN_VARIABLES, f"undefined: {sorted(used - KNOWN_VARIABLES)}"


def test_every_template_file_is_used():
    used = {reference.target for reference in REFERENCES}
    unused = [
        _name(path) for path in FILES if path not in ENTRY_PIPELINES and path.resolve() not in used
    ]
    assert not unused


def test_paths_resolve_relative_to_the_referencing_file():
    nested = TemplateReference(
        PIPELINES / "templates" / "jobs" / "x.yml", "steps", "../steps/a.yml", {}
    )
    assert nested.target == (PIPELINES / "templates" / "steps" / "a.yml").resolve()
    rooted = TemplateReference(PIPELINES / "release.yml", "steps", "/azure-pipelines/a.yml", {})
    assert rooted.target == REPO / "azure-pipelines" / "a.yml"


@pytest.mark.parametrize(
    ("declared", "value", "fits"),
    [
        ({"type": "number"}, "20", True),
        ({"type": "number"}, "twenty", False),
        ({"type": "number"}, "${{ parameters.epochs }}", True),
        ({"type": "number"}, "$(epochs)", False),
        ({"type": "boolean"}, "true", True),
        ({"type": "boolean"}, "yes please", False),
        ({"type": "string"}, ["a"], False),
        ({"type": "string", "values": ["warp", "bpr"]}, "warp", True),
        ({"type": "string", "values": ["warp", "bpr"]}, "wrap", False),
        ({"type": "object"}, ["10", "100"], True),
    ],
)
def test_type_check_of_literal_values(declared, value, fits):
    assert (type_problem(declared, value) is None) == fits
