"""Compile pipeline templates with real parameters and run their steps as an agent would.

This is how tests/cluster/ takes the pipeline's own command lines to a live API server: nothing
is retyped. The compile side expands `template:` references, `${{ }}` expressions, `${{ if }}`,
`${{ else }}` and `${{ each }}` with the parameter values the calling file passes. The run side
resolves `$(variable)` macros at run time, evaluates each step's `condition:`, runs `script:`
and `bash:` steps with bash (no `-e`, as the agent does), maps variables into the environment
(`a.b` -> `A_B`), keeps `Agent.JobStatus` up to date, and honours `##vso[task.setvariable]`
lines.

Tasks the agent would run are emulated and say so in the step log: the tool installers are
no-ops (helm and kubectl come from the tool folder), `Kubernetes@1 login` points KUBECONFIG at
the test cluster with the step's namespace, `download`/`publish` copy artifact folders, and the
steps in `skipped` (installing the wheel into the test's own environment) are not run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.pipelines import load

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
WHOLE_EXPRESSION = re.compile(r"^\s*\$\{\{\s*((?:(?!\}\}).)*?)\s*\}\}\s*$")
MACRO = re.compile(r"\$\(([A-Za-z0-9_.\-]+)\)")
SET_VARIABLE = re.compile(r"^##vso\[task\.setvariable variable=([^;\]]+)[^\]]*\](.*)$", re.M)
TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|([A-Za-z_][A-Za-z0-9_.\-]*)|(\[)|(\])|(\()|(\))|(,))")


# --- expressions ----------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ValueError(f"cannot read expression {text!r} at {position}")
        tokens.append(next(group for group in match.groups() if group is not None))
        position = match.end()
    return tokens


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0")
    return bool(value)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "eq": lambda a, b: _as_text(a).lower() == _as_text(b).lower(),
    "ne": lambda a, b: _as_text(a).lower() != _as_text(b).lower(),
    "and": lambda *a: all(truthy(x) for x in a),
    "or": lambda *a: any(truthy(x) for x in a),
    "not": lambda a: not truthy(a),
    "lower": lambda a: _as_text(a).lower(),
    "join": lambda separator, items: separator.join(_as_text(i) for i in items),
}


def evaluate(text: str, scope: dict[str, Any]) -> Any:
    """Evaluate an expression: literals, dotted names, `x['y']`, and the functions above.

    `scope` maps a name's first part (parameters, variables, a loop variable) to its value;
    functions of no argument such as succeeded() may be given in it as callables.
    """
    tokens = _tokens(text)
    position = 0

    def parse() -> Any:
        nonlocal position
        token = tokens[position]
        position += 1
        if token.startswith("'"):
            return token[1:-1].replace("''", "'")
        if position < len(tokens) and tokens[position] == "(":
            position += 1
            args = []
            while tokens[position] != ")":
                args.append(parse())
                if tokens[position] == ",":
                    position += 1
            position += 1
            if token in FUNCTIONS:
                return FUNCTIONS[token](*args)
            if callable(scope.get(token)):
                return scope[token](*args)
            raise ValueError(f"unknown function {token}() in {text!r}")
        if re.fullmatch(r"-?\d+(\.\d+)?", token):
            return token
        if token in ("true", "false"):
            return token
        head, *rest = token.split(".")
        if head not in scope:
            raise KeyError(f"{head!r} is not defined in {text!r}")
        value = scope[head]
        for part in rest:
            value = value[part]
        while position < len(tokens) and tokens[position] == "[":
            key = parse_index()
            value = value[key]
        return value

    def parse_index() -> str:
        nonlocal position
        position += 1  # [
        key = tokens[position][1:-1]
        position += 2  # 'key' ]
        return key

    value = parse()
    if position != len(tokens):
        raise ValueError(f"unexpected {tokens[position:]} in {text!r}")
    return value


# --- compile time ---------------------------------------------------------------------------


def _directive(key: Any) -> tuple[str, str] | None:
    """('if'|'elseif'|'else'|'each', rest) for a `${{ ... }}` key."""
    if not isinstance(key, str) or not (match := WHOLE_EXPRESSION.match(key)):
        return None
    body = match.group(1)
    word, _, rest = body.partition(" ")
    if word in ("if", "elseif", "each", "else"):
        return word, rest.strip()
    return None


def render(node: Any, scope: dict[str, Any]) -> Any:
    """Expand `${{ }}` in a node: values, conditional and loop keys spliced into their parent."""
    if isinstance(node, str):
        if match := WHOLE_EXPRESSION.match(node):
            value = evaluate(match.group(1), scope)
            return value if isinstance(value, list | dict) else _as_text(value)
        return EXPRESSION.sub(lambda m: _as_text(evaluate(m.group(1), scope)), node)
    if isinstance(node, list):
        result: list[Any] = []
        taken: bool | None = None
        for item in node:
            directive = _directive(next(iter(item))) if isinstance(item, dict) and item else None
            if directive is None or len(item) != 1:
                result.append(render(item, scope))
                taken = None
                continue
            body = next(iter(item.values()))
            for chosen in _choose(directive, body, scope, taken):
                rendered = render(chosen[0], chosen[1])
                result.extend(rendered if isinstance(rendered, list) else [rendered])
            taken = _taken(directive, scope, taken)
        return result
    if isinstance(node, dict):
        result_map: dict[str, Any] = {}
        taken = None
        for key, value in node.items():
            directive = _directive(key)
            if directive is None:
                result_map[render(key, scope)] = render(value, scope)
                taken = None
                continue
            for chosen in _choose(directive, value, scope, taken):
                result_map.update(render(chosen[0], chosen[1]))
            taken = _taken(directive, scope, taken)
        return result_map
    return node


def _choose(directive, body, scope, taken):
    word, rest = directive
    if word == "each":
        name, _, source = rest.partition(" in ")
        for element in evaluate(source, scope):
            yield body, {**scope, name.strip(): element}
    elif (
        (word == "if" and truthy(evaluate(rest, scope)))
        or (word == "elseif" and taken is False and truthy(evaluate(rest, scope)))
        or (word == "else" and taken is False)
    ):
        yield body, scope


def _taken(directive, scope, taken) -> bool | None:
    word, rest = directive
    if word == "if":
        return truthy(evaluate(rest, scope))
    if word == "elseif":
        return True if taken else truthy(evaluate(rest, scope))
    return None


def bind(path: Path, passed: dict[str, Any]) -> dict[str, Any]:
    """A template's parameters: the passed values over the declared defaults."""
    declared = load(path).get("parameters") or []
    values = {p["name"]: p.get("default") for p in declared}
    unknown = set(passed) - set(values)
    if unknown:
        raise ValueError(f"{path.name} declares no parameter(s) {sorted(unknown)}")
    values.update(passed)
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise ValueError(f"{path.name}: no value for {missing}")
    return values


def compile_steps(
    path: Path, parameters: dict[str, Any], variables: dict[str, str], steps: Any = None
) -> list[dict]:
    """The steps of a steps template (or the given steps list), with every template inlined."""
    scope = {"parameters": bind(path, parameters), "variables": variables}
    raw = load(path)["steps"] if steps is None else steps
    return job_steps(path, render(raw, scope), variables)


def compile_template(path: Path, parameters: dict[str, Any], variables: dict[str, str]) -> Any:
    """A jobs or stages template rendered with its parameters (step templates not yet inlined)."""
    return render(
        {k: v for k, v in load(path).items() if k != "parameters"},
        {"parameters": bind(path, parameters), "variables": variables},
    )


def job_steps(path: Path, steps: list, variables: dict[str, str]) -> list[dict]:
    """Inline the step templates of an already rendered steps list found in PATH."""
    result = []
    for step in steps:
        if "template" in step:
            target = (path.parent / step["template"]).resolve()
            result.extend(compile_steps(target, step.get("parameters") or {}, variables))
        else:
            result.append(step)
    return result


# --- run time -------------------------------------------------------------------------------


@dataclass
class StepResult:
    name: str
    status: str  # succeeded, failed, skipped
    output: str = ""
    command: str = ""


@dataclass
class Agent:
    """Runs compiled steps on this machine against a test cluster."""

    variables: dict[str, str]
    env: dict[str, str]
    workspace: Path
    artifacts: dict[str, Path] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    before_step: Callable[[str], None] | None = None
    step_timeout: float = 600
    cwd: Path | None = None
    log: list[StepResult] = field(default_factory=list)
    failed: bool = False
    failure_log_start: int | None = None

    def macro(self, text: str, strict: bool = True) -> str:
        """Resolve $(name) macros; strict: an undefined one is an error, else left as it is."""

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name not in self.variables:
                if not strict:
                    return match.group(0)
                raise KeyError(f"the agent has no variable {name!r} for {text!r}")
            return self.variables[name]

        for _ in range(4):
            text = MACRO.sub(replace, text)
        return text

    def condition(self, step: dict) -> bool:
        text = step.get("condition") or "succeeded()"
        scope = {
            # An undefined variable reads as empty, as on the service.
            "variables": defaultdict(str, self.variables),
            "succeeded": lambda: not self.failed,
            "failed": lambda: self.failed,
            "always": lambda: True,
            "succeededOrFailed": lambda: True,
        }
        return truthy(evaluate(text, scope))

    def run(self, steps: list[dict]) -> bool:
        """Run steps in order; False when any failed (later ones then run only on failure)."""
        for step in steps:
            name = self.macro(step.get("displayName") or next(iter(step)), strict=False)
            if not self.condition(step):
                self.log.append(StepResult(name, "skipped", "condition not met"))
                continue
            if name in self.skipped:
                self.log.append(StepResult(name, "skipped", self.skipped[name]))
                continue
            if self.before_step:
                self.before_step(name)
            # As on the service: the job's status so far, for steps that run pass or fail.
            self.variables["Agent.JobStatus"] = "Failed" if self.failed else "Succeeded"
            result = self._run_step(name, step)
            self.log.append(result)
            if result.status == "failed" and not truthy(step.get("continueOnError", "false")):
                self.failed = True
        return not self.failed

    def _run_step(self, name: str, step: dict) -> StepResult:
        if "script" in step or "bash" in step:
            return self._script(name, self.macro(step.get("script") or step["bash"]), step)
        if "task" in step:
            return self._task(name, step)
        if "download" in step:
            artifact = self.macro(step["artifact"])
            source = self.artifacts.get(artifact)
            if source is None:
                return StepResult(name, "failed", f"no artifact {artifact!r}")
            base = (
                self.workspace
                if step["download"] == "current"
                else (self.workspace / step["download"])
            )
            shutil.copytree(source, base / artifact, dirs_exist_ok=True)
            return StepResult(name, "succeeded", f"downloaded {artifact}")
        if "publish" in step:
            artifact = self.macro(step["artifact"])
            stored = Path(tempfile.mkdtemp(prefix="artifact-", dir=self.workspace.parent))
            shutil.copytree(self.macro(step["publish"]), stored, dirs_exist_ok=True)
            self.artifacts[artifact] = stored
            return StepResult(name, "succeeded", f"published {artifact}")
        if "checkout" in step:
            return StepResult(name, "succeeded", "checkout: the test's working tree")
        return StepResult(name, "failed", f"the test agent cannot run {step!r}")

    def _task(self, name: str, step: dict) -> StepResult:
        task = step["task"]
        inputs = {k: self.macro(str(v)) for k, v in (step.get("inputs") or {}).items()}
        if task.startswith(("HelmInstaller@", "KubectlInstaller@", "UsePythonVersion@")):
            return StepResult(name, "succeeded", f"{task}: the tool folder's build is on PATH")
        if task.startswith("Kubernetes@") and inputs.get("command") == "login":
            kubeconfig = self.workspace / f"kubeconfig-{inputs.get('namespace', 'default')}"
            source = Path(self.env["KUBECONFIG"]).read_text()
            kubeconfig.write_text(
                re.sub(r'"namespace": "[^"]*"', f'"namespace": "{inputs["namespace"]}"', source)
            )
            self.env = {**self.env, "KUBECONFIG": str(kubeconfig)}
            return StepResult(name, "succeeded", f"login: namespace {inputs.get('namespace')}")
        return StepResult(name, "failed", f"the test agent cannot run task {task}")

    def _script(self, name: str, script: str, step: dict) -> StepResult:
        env = dict(self.env)
        for key, value in self.variables.items():
            env[re.sub(r"[.\- ]", "_", key).upper()] = value
        for key, value in (step.get("env") or {}).items():
            env[key] = self.macro(str(value))
        file = self.workspace / "_temp" / f"step-{len(self.log):03d}.sh"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(script)
        try:
            process = subprocess.run(
                ["bash", "--noprofile", "--norc", str(file)],
                env=env,
                cwd=self.cwd or self.workspace,
                capture_output=True,
                text=True,
                timeout=self.step_timeout,
            )
        except subprocess.TimeoutExpired as timeout:
            return StepResult(name, "failed", f"timed out: {timeout}", script)
        output = process.stdout + process.stderr
        for variable, value in SET_VARIABLE.findall(process.stdout):
            self.variables[variable] = value.strip()
        return StepResult(
            name, "succeeded" if process.returncode == 0 else "failed", output, script
        )

    def result(self, name: str) -> StepResult:
        """The last run of the step with this display name."""
        for result in reversed(self.log):
            if result.name == name:
                return result
        raise AssertionError(f"no step {name!r} ran:\n{self.report()}")

    def status(self, name: str) -> str:
        return self.result(name).status

    def statuses(self, name: str) -> list[str]:
        """Every run of the steps with this display name, in order."""
        return [result.status for result in self.log if result.name == name]

    def report(self) -> str:
        return "\n".join(
            f"[{r.status}] {r.name}\n"
            + "\n".join("    " + line for line in r.output.strip().splitlines()[-25:])
            for r in self.log
        )
