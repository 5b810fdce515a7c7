"""Read Azure Pipelines YAML the way the service does, and find what the checks look at.

The service reads every scalar as a string and only later converts what a field needs, so the
loader here has no implicit resolvers: `true`, `20` and `0.05` stay strings, exactly as the
published schema expects them. Template expressions (`${{ if }}`, `${{ else }}`, `${{ each }}`)
are expanded structurally: their bodies are spliced into the surrounding list or mapping, so
every branch is validated as if it were chosen.

The schema is prepared in two narrow ways before use: properties listed with `aliases` accept
their alias names too (the service does), and HelmDeploy's ACR inputs, which the schema
requires for every command, are required only for `command: save`, the one command that uses
them. Nothing else is relaxed.
"""

import functools
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from support.schemas import AZURE_PIPELINES

REPO = Path(__file__).resolve().parents[2]
PIPELINES = REPO / "azure-pipelines"
SCHEMA_PATH = AZURE_PIPELINES

# Secret variables of the mlrelease-secrets variable group (documented in variables.yml).
GROUP_SECRETS = frozenset({"storageConnectionString"})

# The schema's definition for a file included from each kind of list.
TEMPLATE_KINDS = {
    "steps": "stepsTemplate",
    "jobs": "jobsTemplate",
    "stages": "stagesTemplate",
    "variables": "variablesTemplate",
}

HELM_DEPLOY_TASKS = ("HelmDeploy@0", "HelmDeploy@1")
HELM_DEPLOY_ACR_INPUTS = (
    "azureSubscriptionForACR",
    "azureResourceGroupForACR",
    "azureContainerRegistry",
)

EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}")
MACRO = re.compile(r"\$\(([A-Za-z0-9_.\-\[\]']+)\)")
RUNTIME_EXPRESSION = re.compile(r"\$\[.*?\]")
SHELL_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
SHELL_MLRELEASE = re.compile(r"\$\((mlrelease\s[^()]*)\)")
REDIRECTIONS = frozenset({">", ">>", "<", "&>", ">&"})


class DuplicateKeyError(yaml.YAMLError):
    """Azure Pipelines rejects a mapping with a repeated key; PyYAML would keep the last."""


class StringLoader(yaml.SafeLoader):
    """A SafeLoader that reads every scalar as a string, as the pipeline service does."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        repeated = {key for key in keys if keys.count(key) > 1}
        if repeated:
            raise DuplicateKeyError(f"repeated key(s) {sorted(repeated)} at {node.start_mark}")
        return super().construct_mapping(node, deep=deep)


# A fresh dict, not a shared one cleared in place: the base SafeLoader keeps its resolvers.
StringLoader.yaml_implicit_resolvers = {}
StringLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, StringLoader.construct_mapping
)


def load_text(text: str) -> Any:
    """Parse pipeline YAML with every scalar as a string."""
    return yaml.load(text, Loader=StringLoader)


def load(path: Path) -> Any:
    return load_text(path.read_text(encoding="utf-8"))


def pipeline_files() -> list[Path]:
    return sorted(PIPELINES.rglob("*.yml")) + sorted(PIPELINES.rglob("*.yaml"))


def is_expression_key(key: Any) -> bool:
    return isinstance(key, str) and key.strip().startswith("${{") and key.strip().endswith("}}")


def expand(node: Any) -> Any:
    """Splice the bodies of `${{ if/else/each }}` keys into their parent list or mapping."""
    if isinstance(node, list):
        result = []
        for item in node:
            if isinstance(item, dict) and len(item) == 1 and is_expression_key(next(iter(item))):
                body = expand(next(iter(item.values())))
                result.extend(body if isinstance(body, list) else [body])
            else:
                result.append(expand(item))
        return result
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            if is_expression_key(key):
                body = expand(value)
                if not isinstance(body, dict):
                    raise ValueError(f"{key} inside a mapping must hold a mapping, not {body!r}")
                result.update(body)
            else:
                result[key] = expand(value)
        return result
    return node


# --- the schema -----------------------------------------------------------------------------


def _walk_schemas(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk_schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_schemas(value)


def expand_aliases(schema: dict) -> int:
    """Let every property with `aliases` be written under an alias; returns how many aliases."""
    count = 0
    for node in list(_walk_schemas(schema)):
        properties = node.get("properties")
        if not isinstance(properties, dict):
            continue
        aliases = {
            name: sub["aliases"]
            for name, sub in properties.items()
            if isinstance(sub, dict) and sub.get("aliases")
        }
        for name, names in aliases.items():
            canonical = {k: v for k, v in properties[name].items() if k != "aliases"}
            for alias in names:
                properties.setdefault(alias, canonical)
                count += 1
        # A required property is present under any one of its names.
        required = node.get("required", [])
        if any(name in aliases for name in required):
            node["required"] = [name for name in required if name not in aliases]
            node.setdefault("allOf", []).extend(
                {"anyOf": [{"required": [spelling]} for spelling in [name, *aliases[name]]]}
                for name in required
                if name in aliases
            )
    return count


def _task_name(alternative: dict) -> str | None:
    task = alternative.get("properties", {}).get("task", {})
    if task.get("enum"):
        return task["enum"][0]
    match = re.fullmatch(r"\^(.+)\$", task.get("pattern", ""))
    return match.group(1) if match else None


def relax_helm_deploy_acr(schema: dict) -> int:
    """HelmDeploy needs the ACR inputs only to `save` a chart to ACR; require them only then."""
    relaxed = 0
    for alternative in schema["definitions"]["task"]["anyOf"]:
        if _task_name(alternative) not in HELM_DEPLOY_TASKS:
            continue
        inputs = alternative["properties"]["inputs"]
        acr = [name for name in inputs.get("required", []) if name in HELM_DEPLOY_ACR_INPUTS]
        if sorted(acr) != sorted(HELM_DEPLOY_ACR_INPUTS):
            raise AssertionError(f"the schema's HelmDeploy quirk changed: required {acr}")
        inputs["required"] = [name for name in inputs["required"] if name not in acr]
        # Each input counts under any of its names, as everywhere else (see expand_aliases).
        spellings = {name: [name, *inputs["properties"][name].get("aliases", [])] for name in acr}
        alternative.setdefault("allOf", []).append(
            {
                "if": {
                    "properties": {
                        "inputs": {
                            "properties": {"command": {"pattern": "(?i)^save$"}},
                            "required": ["command"],
                        }
                    },
                    "required": ["inputs"],
                },
                "then": {
                    "properties": {
                        "inputs": {
                            "allOf": [
                                {"anyOf": [{"required": [spelling]} for spelling in names]}
                                for names in spellings.values()
                            ]
                        }
                    }
                },
            }
        )
        relaxed += 1
    return relaxed


@functools.cache
def prepared_schema(path: Path = SCHEMA_PATH) -> dict:
    """The published schema with the two documented quirks handled."""
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    if relax_helm_deploy_acr(schema) != len(HELM_DEPLOY_TASKS):
        raise AssertionError("expected one schema alternative per HelmDeploy version")
    expand_aliases(schema)
    return schema


@functools.cache
def validator(definition: str | None, path: Path = SCHEMA_PATH) -> Draft7Validator:
    """A validator for a whole pipeline (None) or one of the schema's template definitions."""
    schema = prepared_schema(path)
    if definition is not None:
        schema = {
            "definitions": schema["definitions"],
            "allOf": [{"$ref": f"#/definitions/{definition}"}],
        }
    return Draft7Validator(schema)


def schema_errors(document: Any, definition: str | None, path: Path = SCHEMA_PATH) -> list[str]:
    """Readable schema errors for an expanded document (empty when it validates)."""
    return [
        f"{'/'.join(str(part) for part in leaf.absolute_path) or '<root>'}: {leaf.message[:300]}"
        for error in validator(definition, path).iter_errors(document)
        for leaf in _leaves(error)
    ]


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The errors that explain an anyOf failure: of the alternatives, the one that got
    furthest into the document (a step naming another task is never that one)."""
    alternatives: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        alternatives.setdefault(sub.relative_schema_path[0], []).append(sub)
    relevant = [
        subs
        for subs in alternatives.values()
        if not any(sub.path and sub.path[-1] == "task" for sub in subs)
    ]
    if not relevant:
        yield error
        return
    closest = max(relevant, key=lambda subs: (max(len(s.path) for s in subs), -len(subs)))
    for sub in closest:
        yield from _leaves(sub)


# --- templates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateReference:
    source: Path
    kind: str  # steps, jobs, stages or variables
    template: str
    parameters: dict

    @property
    def target(self) -> Path:
        """Resolved as the service does: relative to the referencing file, `/` = repo root."""
        if self.template.startswith("/"):
            return REPO / self.template.lstrip("/")
        return (self.source.parent / self.template).resolve()


def template_references(path: Path, document: Any | None = None) -> list[TemplateReference]:
    """Every `template:` entry of a file, with the kind of list it is included in."""
    document = expand(load(path)) if document is None else document
    found: list[TemplateReference] = []

    def visit(node: Any, list_key: str | None) -> None:
        if isinstance(node, dict):
            if "template" in node and list_key in TEMPLATE_KINDS:
                found.append(
                    TemplateReference(
                        path, list_key, node["template"], node.get("parameters") or {}
                    )
                )
            for key, value in node.items():
                visit(value, key if isinstance(value, list) else None)
        elif isinstance(node, list):
            for item in node:
                visit(item, list_key)

    visit(document, None)
    return found


def declared_parameters(path: Path) -> dict[str, dict]:
    """The `parameters:` a file declares, by name."""
    parameters = load(path).get("parameters") or []
    if isinstance(parameters, dict):  # the untyped legacy form
        return {name: {"name": name, "default": value} for name, value in parameters.items()}
    return {parameter["name"]: parameter for parameter in parameters}


def is_dynamic(value: Any) -> bool:
    """A value the service only knows later: a template expression, macro or runtime expression."""
    return isinstance(value, str) and ("${{" in value or "$(" in value or "$[" in value)


def type_problem(declared: dict, value: Any) -> str | None:
    """Why a passed value does not fit a declared parameter, or None."""
    kind = declared.get("type", "string")
    if isinstance(value, str) and value.strip().startswith("${{"):
        return None  # its type is the expression's, checked where it is declared
    if kind in ("number", "boolean") and isinstance(value, str) and "$(" in value:
        return f"a runtime macro cannot be a compile-time {kind}: {value!r}"
    if is_dynamic(value):
        return None
    if kind == "number":
        try:
            float(value)
        except (TypeError, ValueError):
            return f"{value!r} is not a number"
    elif kind == "boolean":
        if not isinstance(value, str) or value.lower() not in ("true", "false"):
            return f"{value!r} is not a boolean"
    elif kind in ("string", "environment", "serviceConnection", "filePath") and not isinstance(
        value, str
    ):
        return f"{value!r} is not a string"
    elif kind in ("stringList", "stepList", "jobList", "stageList") and not isinstance(value, list):
        return f"{value!r} is not a list"
    if declared.get("values") and isinstance(value, str) and value not in declared["values"]:
        return f"{value!r} is not one of {declared['values']}"
    return None


def unknown_parameters(reference: TemplateReference) -> list[str]:
    """Parameters passed that the template does not declare."""
    return sorted(set(reference.parameters) - set(declared_parameters(reference.target)))


def missing_parameters(reference: TemplateReference) -> list[str]:
    """Parameters without a default that the reference does not pass."""
    return sorted(
        name
        for name, parameter in declared_parameters(reference.target).items()
        if "default" not in parameter and name not in reference.parameters
    )


def mistyped_parameters(reference: TemplateReference) -> dict[str, str]:
    """Passed literal values that do not fit their declared type."""
    declared = declared_parameters(reference.target)
    return {
        name: problem
        for name, value in reference.parameters.items()
        if name in declared and (problem := type_problem(declared[name], value))
    }


def variable_names(node: Any) -> set[str]:
    """Names defined by every `variables:` mapping or list under a node."""
    names: set[str] = set()
    if isinstance(node, dict):
        variables = node.get("variables")
        if isinstance(variables, dict):
            names.update(variables)
        elif isinstance(variables, list):
            names.update(item["name"] for item in variables if "name" in item)
        for value in node.values():
            names |= variable_names(value)
    elif isinstance(node, list):
        for item in node:
            names |= variable_names(item)
    return names


# --- script steps and the command lines in them --------------------------------------------


def script_steps(node: Any) -> Iterator[tuple[str, dict]]:
    """(text, env) of every `script:` and `bash:` step under a node."""
    if isinstance(node, dict):
        for key in ("script", "bash"):
            if isinstance(node.get(key), str):
                yield node[key], node.get("env") or {}
        for value in node.values():
            yield from script_steps(value)
    elif isinstance(node, list):
        for item in node:
            yield from script_steps(item)


def scripts(node: Any) -> Iterator[str]:
    """The text of every `script:` and `bash:` step under a node."""
    for text, _ in script_steps(node):
        yield text


def defined_variables() -> dict[str, str]:
    """Variables of variables.yml (used as stand-ins for `$(name)` macros)."""
    variables = load(PIPELINES / "variables.yml")["variables"]
    return {name: value for name, value in variables.items() if isinstance(value, str)}


def _stand_in(parameter: dict | None) -> str:
    if parameter is None:
        return "placeholder"
    default = parameter.get("default")
    if isinstance(default, str) and default:
        return default
    if isinstance(default, list):
        return ",".join(str(item) for item in default)
    return "1" if parameter.get("type") == "number" else "placeholder"


def substitute(text: str, parameters: dict[str, dict], variables: dict[str, str]) -> str:
    """Replace template expressions and macros with stand-in values a command line can take."""

    def expression(match: re.Match) -> str:
        body = match.group(1).strip()
        if plain := re.fullmatch(r"parameters\.(\w+)", body):
            return _stand_in(parameters.get(plain.group(1)))
        if variable := re.fullmatch(r"variables\.(\w+)", body):
            return variables.get(variable.group(1), "placeholder")
        if joined := re.fullmatch(r"join\('([^']*)',\s*parameters\.(\w+)\)", body):
            separator, name = joined.groups()
            default = (parameters.get(name) or {}).get("default")
            if isinstance(default, list):
                return separator.join(str(item) for item in default)
        if body.startswith("lower("):
            return "false"
        return "placeholder"

    def macro(match: re.Match) -> str:
        name = match.group(1)
        if name == "Build.BuildNumber" or name.endswith(".runName"):
            return "20261127.3"
        return variables.get(name, "placeholder")

    text = EXPRESSION.sub(expression, text)
    for _ in range(3):  # variables may refer to other variables
        text = MACRO.sub(macro, text)
    return RUNTIME_EXPRESSION.sub("placeholder", text)


def command_lines(script: str, environment: dict[str, str] | None = None) -> list[list[str]]:
    """Every command of a (substituted) script as argv lists, continuations joined.

    Shell variables take their value from `environment` (the step's `env:`), else a stand-in.
    """
    script = script.replace("\\\n", " ")
    commands: list[list[str]] = []
    for line in script.splitlines():
        # `$(mlrelease ...)` command substitutions are commands of their own.
        for inner in SHELL_MLRELEASE.findall(line):
            commands.extend(_split(_shell_variables(inner, environment or {})))
        line = SHELL_MLRELEASE.sub("placeholder", line)
        commands.extend(_split(_shell_variables(line, environment or {})))
    return commands


def _shell_variables(line: str, environment: dict[str, str]) -> str:
    return SHELL_VARIABLE.sub(lambda m: environment.get(m.group(1), "placeholder"), line)


def _split(line: str) -> list[list[str]]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    redirect_target = False
    for token in lexer:
        if redirect_target:
            redirect_target = False  # the file a redirection names is no argument
        elif token in REDIRECTIONS:
            redirect_target = True
        elif set(token) <= set(";&|()"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


def mlrelease_commands(path: Path) -> list[list[str]]:
    """The argv (after `mlrelease`) of every mlrelease command in a file's script steps."""
    parameters = declared_parameters(path)
    variables = defined_variables()
    found = []
    for script in scripts(expand(load(path))):
        for argv in command_lines(substitute(script, parameters, variables)):
            if argv[0] == "mlrelease":
                found.append(argv[1:])
    return found
