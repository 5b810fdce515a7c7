"""The alert rules: promtool checks them and runs their unit tests, and the tests cover them.

`charts/routing/rules/mlrelease.rules.yaml` is the one source: the routing chart ships it as
a PrometheusRule and promtool reads it as is, so what is tested is what is installed.
"""

import re

import pytest
import yaml
from support.prometheus import (
    RULES_FILE,
    RULES_TESTS,
    alerts,
    allowed_metrics,
    metric_names,
    rule_groups,
    run_promtool,
)


def test_promtool_check_rules_accepts_the_rules():
    result = run_promtool("check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    count = len([r for g in rule_groups() for r in g["rules"]])
    assert f"SUCCESS: {count} rules found" in result.stdout


def test_promtool_unit_tests_pass():
    result = run_promtool("test", "rules", RULES_TESTS.name, cwd=RULES_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    tests = yaml.safe_load(RULES_TESTS.read_text())["tests"]
    checks = sum(len(group.get("alert_rule_test", [])) for group in tests)
    print(f"\npromtool test rules: {len(tests)} test groups, {checks} alert checks, SUCCESS")


def test_every_alert_has_a_test_that_fires_and_one_that_stays_quiet():
    tests = yaml.safe_load(RULES_TESTS.read_text())["tests"]
    fires, quiet = set(), set()
    for group in tests:
        for check in group.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts(rule_groups())}
    assert names - fires == set(), "alerts no test sees firing"
    assert names - quiet == set(), "alerts no test sees staying quiet"
    # A quiet test of its own, not only the pending phase of a firing one.
    quiet_groups = {
        check["alertname"]
        for group in tests
        if all(not check.get("exp_alerts") for check in group.get("alert_rule_test", []))
        for check in group.get("alert_rule_test", [])
    }
    assert names - quiet_groups == set()


def test_every_alert_tells_on_call_what_to_do():
    for rule in alerts(rule_groups()):
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert set(rule["annotations"]) == {"summary", "description", "runbook"}, rule["alert"]
        assert len(rule["annotations"]["runbook"]) > 40, rule["alert"]


def test_rules_read_only_metrics_that_something_exports():
    for group in rule_groups():
        for rule in group["rules"]:
            unknown = metric_names(rule["expr"]) - allowed_metrics()
            assert unknown == set(), (rule.get("alert"), unknown)


@pytest.mark.parametrize(
    ("alert", "before", "after"),
    [
        ("ScoringErrorShareHigh", "> 0.05", "> 0.5"),
        ("ScoringLatencyP99High", "> 0.25", "> 0.5"),
        ("TrainingJobNearDeadline", "0.9 *", "0.95 *"),
        ("RoutingWeightOnUnreadyVersion", "percent > 0", "percent > 10"),
    ],
)
def test_the_unit_tests_catch_a_changed_threshold(tmp_path, alert, before, after):
    """promtool's tests are a real check: moving one alert's threshold makes them fail."""
    text = RULES_FILE.read_text()
    start = text.index(f"alert: {alert}")
    end = text.find("- alert:", start + 1)
    end = len(text) if end < 0 else end
    assert text.count(before, start, end) == 1, (alert, before)
    changed = text[:start] + text[start:end].replace(before, after) + text[end:]
    (tmp_path / "rules.yaml").write_text(changed)
    tests = yaml.safe_load(RULES_TESTS.read_text())
    tests["rule_files"] = ["rules.yaml"]
    (tmp_path / "rules_test.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = run_promtool("test", "rules", "rules_test.yaml", cwd=tmp_path)
    assert result.returncode != 0
    assert re.search(rf"alertname: {alert}", result.stdout + result.stderr)


def test_promtool_check_rules_rejects_a_broken_expression(tmp_path):
    broken = RULES_FILE.read_text().replace("sum by (namespace, pod) (", "sum by (namespace, pod (")
    (tmp_path / "rules.yaml").write_text(broken)
    assert run_promtool("check", "rules", str(tmp_path / "rules.yaml")).returncode != 0
