"""The charts' helm-unittest suites: valid against helm-unittest's schema, and passing on the real
plugin (`helm unittest`, built by `make tools`) with the pipelines' Helm.

Each chart is copied before the run: the plugin writes a `__snapshot__` folder beside the suites.
The counts come from the plugin's JUnit report, and every suite file and every test in it must
be counted there, so a suite the plugin did not pick up fails too.
"""

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import yaml
from support.charts import CHART_NAMES, CHARTS
from support.schemas import HELM_TESTSUITE
from support.tools import HELM, output, run

SUITES = sorted(CHARTS.glob("*/tests/*_test.yaml"))


def unittest(
    chart: Path, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, int]]:
    """Run `helm unittest --strict` on a copy of `chart`: the run and its JUnit totals."""
    copy = shutil.copytree(chart, tmp_path / chart.name)
    report = tmp_path / "junit.xml"
    result = run(
        HELM,
        ["unittest", "--strict", "--color=false", "-t", "JUnit", "-o", report, copy],
        tmp_path / "home",
    )
    totals = {"suites": 0, "tests": 0, "failures": 0, "errors": 0}
    if report.exists():
        for suite in ET.parse(report).getroot().iter("testsuite"):
            totals["suites"] += 1
            for key in ("tests", "failures", "errors"):
                totals[key] += int(suite.get(key))
    return result, totals


def test_every_chart_has_suites():
    assert {path.parents[1].name for path in SUITES} == set(CHART_NAMES)


@pytest.mark.parametrize("path", SUITES, ids=[f"{p.parents[1].name}/{p.name}" for p in SUITES])
def test_suite_matches_the_helm_unittest_schema(path):
    schema = json.loads(HELM_TESTSUITE.read_text())
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)


@pytest.mark.parametrize("name", CHART_NAMES)
def test_every_suite_passes_on_the_real_plugin(name, tmp_path):
    suites = sorted((CHARTS / name / "tests").glob("*_test.yaml"))
    expected = {
        "suites": len(suites),
        "tests": sum(len(yaml.safe_load(path.read_text())["tests"]) for path in suites),
        "failures": 0,
        "errors": 0,
    }
    result, totals = unittest(CHARTS / name, tmp_path)
    print(f"\nhelm unittest {name}: {totals['suites']} suites, {totals['tests']} tests")
    assert result.returncode == 0, output(result)
    assert totals == expected, output(result)


PROBE = """\
suite: what a lenient runner would pass
templates:
  - templates/job.yaml
tests:
  - it: an integer is not the same float
    asserts:
      - equal: {path: spec.template.spec.securityContext.runAsUser, value: 10001.0}
  - it: an integer is not its string
    asserts:
      - equal: {path: spec.template.spec.securityContext.runAsUser, value: "10001"}
  - it: true is not 1
    asserts:
      - equal:
          path: spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem
          value: 1
  - it: a template outside the suite's templates is not pooled in
    template: templates/serviceaccount.yaml
    asserts:
      - isKind: {of: ServiceAccount}
  - it: the control passes
    asserts:
      - equal: {path: spec.template.spec.securityContext.runAsUser, value: 10001}
"""


def test_the_plugin_fails_what_a_lenient_runner_would_pass(tmp_path):
    chart = shutil.copytree(CHARTS / "training", tmp_path / "chart", ignore=lambda *_: ["tests"])
    (chart / "tests").mkdir()
    (chart / "tests" / "probe_test.yaml").write_text(PROBE)
    result, totals = unittest(chart, tmp_path / "run")
    assert result.returncode != 0, output(result)
    assert totals == {"suites": 1, "tests": 5, "failures": 4, "errors": 0}, output(result)
