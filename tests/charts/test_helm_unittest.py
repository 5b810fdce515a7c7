"""The charts' helm-unittest suites: valid against helm-unittest's schema, and passing here.

The pipeline runs them with the real plugin; here `helm_unittest` runs them on the embedded
Helm engine, with an error for any assertion type it does not implement.
"""

import json

import jsonschema
import pytest
import yaml
from support.charts import CHARTS
from support.helm_unittest import UnsupportedError, evaluate, load_suite, run_test
from support.schemas import HELM_TESTSUITE

SUITES = sorted(CHARTS.glob("*/tests/*_test.yaml"))
TESTS = [(path, index) for path in SUITES for index in range(len(load_suite(path)["tests"]))]


def test_every_chart_has_suites():
    assert {path.parents[1].name for path in SUITES} == {"training", "scoring", "routing"}


@pytest.mark.parametrize("path", SUITES, ids=[f"{p.parents[1].name}/{p.name}" for p in SUITES])
def test_suite_matches_the_helm_unittest_schema(path):
    schema = json.loads(HELM_TESTSUITE.read_text())
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)


@pytest.mark.parametrize(
    ("path", "index"), TESTS, ids=[f"{p.parents[1].name}/{p.stem}[{i}]" for p, i in TESTS]
)
def test_suite_test_passes(path, index):
    suite = load_suite(path)
    run_test(path.parents[1], path, suite, suite["tests"][index])


def test_unknown_assertion_types_are_errors_not_passes():
    with pytest.raises(UnsupportedError):
        evaluate({"matchSnapshot": {}}, [{"kind": "Pod"}], None)


def test_a_false_assertion_fails():
    path = CHARTS / "routing" / "tests" / "virtualservice_test.yaml"
    suite = load_suite(path)
    test = {
        "it": "wrong on purpose",
        "asserts": [{"equal": {"path": "spec.http[0].name", "value": "nope"}}],
    }
    with pytest.raises(AssertionError, match="nope"):
        run_test(path.parents[1], path, suite, test)
    negated = {"it": "negated", "asserts": [{"isKind": {"of": "VirtualService"}, "not": True}]}
    with pytest.raises(AssertionError):
        run_test(path.parents[1], path, suite, negated)


@pytest.mark.parametrize(
    ("assertion", "docs", "expected"),
    [
        ({"equal": {"path": "a.b", "value": 1}}, [{"a": {"b": 1}}], True),
        ({"equal": {"path": "a.c", "value": 1}}, [{"a": {"b": 1}}], False),
        ({"notEqual": {"path": "a.b", "value": 2}}, [{"a": {"b": 1}}], True),
        ({"exists": {"path": "a.b"}}, [{"a": {"b": None}}], True),
        ({"notExists": {"path": "a.x"}}, [{"a": {}}], True),
        ({"contains": {"path": "l", "content": {"n": 1}}}, [{"l": [{"n": 1, "m": 2}]}], False),
        (
            {"contains": {"path": "l", "content": {"n": 1}, "any": True}},
            [{"l": [{"n": 1, "m": 2}]}],
            True,
        ),
        ({"contains": {"path": "l", "content": 1, "count": 2}}, [{"l": [1, 1]}], True),
        ({"contains": {"path": "l", "content": 1, "count": 1}}, [{"l": [1, 1]}], False),
        (
            {"isSubset": {"path": "m", "content": {"a": {"x": 1}}}},
            [{"m": {"a": {"x": 1, "y": 2}}}],
            False,
        ),
        ({"isSubset": {"path": "m", "content": {"a": 1}}}, [{"m": {"a": 1, "b": 2}}], True),
        ({"lengthEqual": {"path": "l", "count": 2}}, [{"l": [1, 2]}], True),
        ({"matchRegex": {"path": "s", "pattern": "^ab"}}, [{"s": "abc"}], True),
        ({"hasDocuments": {"count": 0}}, [], True),
        ({"isKind": {"of": "Pod"}}, [], False),
        ({"equal": {"path": "k", "value": 1}, "documentIndex": 1}, [{"k": 2}, {"k": 1}], True),
    ],
)
def test_assertion_semantics(assertion, docs, expected):
    assert evaluate(assertion, docs, None)[0] is expected
