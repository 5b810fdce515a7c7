"""Every pipeline file validates against the published Azure Pipelines schema, as what it is.

Entry pipelines validate as whole pipelines; a template validates against the schema's
definition for the list that includes it (stepsTemplate, jobsTemplate, stagesTemplate,
variablesTemplate). The other tests prove the validator can fail and that each quirk of the
schema is handled narrowly, not by ignoring errors.
"""

import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator
from support.pipelines import (
    PIPELINES,
    TEMPLATE_KINDS,
    DuplicateKeyError,
    expand,
    load,
    load_text,
    pipeline_files,
    schema_errors,
    template_references,
)

FILES = pipeline_files()


def _name(path: Path) -> str:
    return str(path.relative_to(PIPELINES))


def _inclusions() -> dict[Path, set[str]]:
    kinds: dict[Path, set[str]] = {}
    for path in FILES:
        for reference in template_references(path):
            kinds.setdefault(reference.target, set()).add(reference.kind)
    return kinds


INCLUSIONS = _inclusions()


def _definition(path: Path) -> str | None:
    kinds = INCLUSIONS.get(path.resolve())
    return TEMPLATE_KINDS[next(iter(kinds))] if kinds else None


def _steps_document(step_yaml: str) -> object:
    return expand(load_text("steps:\n" + step_yaml))


def _raw_validator(schema_path: Path, definition: str) -> Draft7Validator:
    schema = json.loads(schema_path.read_text(encoding="utf-8-sig"))
    return Draft7Validator(
        {"definitions": schema["definitions"], "allOf": [{"$ref": f"#/definitions/{definition}"}]}
    )


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_file_validates_against_the_published_schema(path, schema_path):
    errors = schema_errors(expand(load(path)), _definition(path), schema_path)
    assert not errors, f"{_name(path)} as {_definition(path) or 'a pipeline'}:\n" + "\n".join(
        errors
    )


def test_each_template_is_included_as_one_kind_of_template():
    mixed = {_name(path): kinds for path, kinds in INCLUSIONS.items() if len(kinds) > 1}
    assert not mixed


def test_the_entry_pipelines_are_the_files_nothing_includes():
    entries = {_name(path) for path in FILES if path.resolve() not in INCLUSIONS}
    assert entries == {"build-train.yml", "release.yml"}


def test_a_misspelt_step_key_fails(schema_path):
    document = _steps_document("  - script: make test\n    displayname: Test\n")
    assert schema_errors(document, "stepsTemplate", schema_path)


def test_an_unknown_task_input_fails(schema_path):
    document = _steps_document(
        "  - task: Docker@2\n    inputs:\n      command: buildAndPush\n      pushLatest: 'true'\n"
    )
    errors = schema_errors(document, "stepsTemplate", schema_path)
    assert any("pushLatest" in error for error in errors), errors


def test_a_template_fails_as_the_wrong_kind_of_template(schema_path):
    steps_template = expand(load(PIPELINES / "templates" / "steps" / "helm-upgrade.yml"))
    assert not schema_errors(steps_template, "stepsTemplate", schema_path)
    assert schema_errors(steps_template, "jobsTemplate", schema_path)


def test_a_pipeline_with_a_misspelt_trigger_fails(schema_path):
    document = expand(load(PIPELINES / "build-train.yml"))
    document["triggers"] = document.pop("trigger")
    assert any("triggers" in error for error in schema_errors(document, None, schema_path))


def test_a_deployment_job_with_an_unknown_strategy_fails(schema_path):
    document = expand(load(PIPELINES / "templates" / "stages" / "release-environment.yml"))
    document["stages"][0]["jobs"][0]["strategy"] = {"runTwice": {}}
    assert schema_errors(document, "stagesTemplate", schema_path)


def test_every_scalar_loads_as_a_string():
    assert load_text("a: true\nb: 20\nc: 0.05\nd: null\ne: [1, no]\n") == {
        "a": "true",
        "b": "20",
        "c": "0.05",
        "d": "null",
        "e": ["1", "no"],
    }


def test_a_repeated_key_is_an_error():
    with pytest.raises(DuplicateKeyError, match="script"):
        load_text("steps:\n  - script: a\n    script: b\n")


def test_template_expressions_are_spliced_into_their_parent():
    document = load_text(
        "steps:\n"
        "  - script: a\n"
        "  - ${{ if eq(parameters.x, 'y') }}:\n"
        "      - script: b\n"
        "  - ${{ each n in parameters.list }}:\n"
        "      - script: c ${{ n }}\n"
        "variables:\n"
        "  ${{ if true }}:\n"
        "    v: '1'\n"
        "  ${{ else }}:\n"
        "    v: '2'\n"
    )
    assert expand(document) == {
        "steps": [{"script": "a"}, {"script": "b"}, {"script": "c ${{ n }}"}],
        "variables": {"v": "2"},
    }


def test_aliases_are_accepted_where_the_schema_lists_them(schema_path):
    # testRunner is the listed alias of PublishTestResults@2's testResultsFormat.
    alias = _steps_document(
        "  - task: PublishTestResults@2\n    inputs:\n      testRunner: JUnit\n"
    )
    assert not schema_errors(alias, "stepsTemplate", schema_path)
    assert list(_raw_validator(schema_path, "stepsTemplate").iter_errors(alias)), (
        "the raw schema should reject the alias, or this quirk needs no handling"
    )
    not_an_alias = _steps_document(
        "  - task: PublishTestResults@2\n    inputs:\n      testRunnerFormat: JUnit\n"
    )
    assert schema_errors(not_an_alias, "stepsTemplate", schema_path)


def test_an_alias_satisfies_a_required_input(schema_path):
    # HelmDeploy's `save` requires azureSubscriptionForACR, alias azureSubscriptionEndpointForACR.
    document = _steps_document(
        "  - task: HelmDeploy@0\n"
        "    inputs:\n"
        "      command: save\n"
        "      azureSubscriptionEndpointForACR: arm-connection\n"
        "      azureResourceGroupForACR: group\n"
        "      azureContainerRegistry: registry.azurecr.io\n"
        "      chartNameForACR: scoring\n"
        "      chartPathForACR: charts/scoring\n"
    )
    assert not schema_errors(document, "stepsTemplate", schema_path)


HELM_UPGRADE = (
    "  - task: HelmDeploy@0\n"
    "    inputs:\n"
    "      connectionType: Kubernetes Service Connection\n"
    "      kubernetesServiceConnection: aks\n"
    "      namespace: $(namespace)\n"
    "      command: upgrade\n"
    "      chartType: FilePath\n"
    "      chartPath: charts/scoring\n"
    "      releaseName: scoring-v1\n"
    "      valueFile: scoring-values.yaml\n"
)


def test_helm_deploy_does_not_need_acr_inputs_to_upgrade(schema_path):
    document = _steps_document(HELM_UPGRADE)
    assert not schema_errors(document, "stepsTemplate", schema_path)
    raw_errors = list(_raw_validator(schema_path, "stepsTemplate").iter_errors(document))
    assert raw_errors, "the raw schema should demand ACR inputs, or this quirk needs no handling"


def test_helm_deploy_still_needs_acr_inputs_to_save(schema_path):
    document = _steps_document(HELM_UPGRADE.replace("command: upgrade", "command: save"))
    errors = schema_errors(document, "stepsTemplate", schema_path)
    assert any("azureContainerRegistry" in error for error in errors), errors


def test_helm_deploy_still_rejects_unknown_inputs(schema_path):
    document = _steps_document(HELM_UPGRADE + "      valuesFile: typo.yaml\n")
    assert schema_errors(document, "stepsTemplate", schema_path)
