"""What the charts give a Prometheus operator and Grafana: scrape objects, rules, dashboard.

The rendered ServiceMonitor, PodMonitor and PrometheusRule validate against the operator's
CRD schemas (test_render.py, every case); here they are held to the objects they point at,
the rules file they come from, and promtool.
"""

import pytest
import yaml
from support.charts import CHARTS, ci_values, render_objects
from support.charts import validate_custom_resource as validate
from support.prometheus import DASHBOARD, RULES_FILE, alerts, rule_groups, run_promtool
from support.schemas import PROMETHEUS_OPERATOR_CRDS

from mlrelease.errors import InputError


def _by_kind(objects):
    return {o["kind"]: o for o in objects}


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(key) == value for key, value in selector["matchLabels"].items())


def test_the_service_monitor_scrapes_this_versions_service(charts):
    values = ci_values(CHARTS, "scoring")
    objects = render_objects(charts["scoring"], values, "scoring-v20261127-3")
    kinds = _by_kind(objects)
    monitor, service = kinds["ServiceMonitor"], kinds["Service"]
    assert _selects(monitor["spec"]["selector"], service["metadata"]["labels"])
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "30s" and endpoint["scrapeTimeout"] == "10s"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert "PodMonitor" not in kinds
    # The chart's own labels win over the operator-selector labels.
    assert monitor["metadata"]["labels"]["app.kubernetes.io/instance"] == "scoring-v20261127-3"


def test_the_pod_monitor_scrapes_the_deployments_pods(charts):
    values = {"monitoring": {"podMonitor": {"enabled": True, "interval": "15s"}}}
    kinds = _by_kind(render_objects(charts["scoring"], values, "scoring-v1"))
    monitor, deployment = kinds["PodMonitor"], kinds["Deployment"]
    validate(monitor, PROMETHEUS_OPERATOR_CRDS)
    pod = deployment["spec"]["template"]
    assert _selects(monitor["spec"]["selector"], pod["metadata"]["labels"])
    assert monitor["spec"]["selector"] == deployment["spec"]["selector"]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    ports = {p["name"] for c in pod["spec"]["containers"] for p in c["ports"]}
    assert endpoint["port"] in ports and endpoint["interval"] == "15s"


def test_scrape_annotations_name_the_server_port(charts):
    values = {"monitoring": {"scrapeAnnotations": True}, "server": {"port": 9000}}
    kinds = _by_kind(render_objects(charts["scoring"], values, "scoring-v1"))
    annotations = kinds["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9000"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert not {"ServiceMonitor", "PodMonitor"} & set(kinds)


def test_nothing_is_scraped_or_alerted_by_default(charts):
    for name in ("scoring", "routing"):
        kinds = {o["kind"] for o in render_objects(charts[name], {}, f"{name}-v1")}
        assert not kinds & {"ServiceMonitor", "PodMonitor", "PrometheusRule", "ConfigMap"}


def test_both_monitors_at_once_are_refused(charts):
    values = {"monitoring": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}}}
    with pytest.raises(InputError, match="enable only one"):
        render_objects(charts["scoring"], values, "scoring-v1")


def test_the_operator_schema_rejects_unknown_and_mistyped_fields(charts):
    import jsonschema

    kinds = _by_kind(render_objects(charts["scoring"], ci_values(CHARTS, "scoring"), "s-v1"))
    monitor = kinds["ServiceMonitor"]
    validate(monitor, PROMETHEUS_OPERATOR_CRDS)
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        validate(monitor, PROMETHEUS_OPERATOR_CRDS)
    rules = _by_kind(render_objects(charts["routing"], ci_values(CHARTS, "routing"), "r"))
    rule = rules["PrometheusRule"]
    validate(rule, PROMETHEUS_OPERATOR_CRDS)
    rule["spec"]["groups"][0]["rules"][0]["for"] = 5
    with pytest.raises(jsonschema.ValidationError):
        validate(rule, PROMETHEUS_OPERATOR_CRDS)


def _rendered_rule(charts, namespace="ml"):
    values = ci_values(CHARTS, "routing")
    objects = render_objects(charts["routing"], values, "scoring-routing", namespace=namespace)
    return values, _by_kind(objects)["PrometheusRule"]


def test_the_prometheus_rule_carries_the_rules_file_and_the_weights(charts):
    values, rule = _rendered_rule(charts)
    groups = rule["spec"]["groups"]
    assert all(group["interval"] == "30s" for group in groups)
    weights, *shipped = groups
    assert [g["name"] for g in shipped] == [g["name"] for g in rule_groups()]
    for group, source in zip(shipped, rule_groups(), strict=True):
        for rendered, original in zip(group["rules"], source["rules"], strict=True):
            assert rendered == {
                **original,
                "labels": {"team": "recommendations", **original["labels"]},
            }
    assert weights["rules"] == [
        {
            "record": "mlrelease:routing_weight:percent",
            "expr": f"vector({v['weight']})",
            "labels": {"namespace": "ml", "host": "scoring", "destination_version": v["name"]},
        }
        for v in values["versions"]
    ]


def test_an_alert_label_never_overrides_the_severity(charts):
    values = ci_values(CHARTS, "routing")
    values["monitoring"]["prometheusRule"]["additionalAlertLabels"] = {"severity": "info"}
    rule = _by_kind(render_objects(charts["routing"], values, "scoring-routing"))["PrometheusRule"]
    severities = {r["labels"]["severity"] for g in rule["spec"]["groups"][1:] for r in g["rules"]}
    assert severities == {"warning", "critical"}


def test_promtool_checks_and_tests_the_rendered_rules(charts, tmp_path):
    """End to end: the chart's recorded weights and its alert, in promtool."""
    values, rule = _rendered_rule(charts)
    (tmp_path / "rendered.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = run_promtool("check", "rules", "rendered.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    live, *others = [v["name"] for v in values["versions"] if v["weight"] > 0]
    (unready,) = others
    ready = {
        "series": f'scoring_model_ready{{namespace="ml", model_version="{live}", pod="p"}}',
        "values": "1x10",
    }
    test = {
        "rule_files": ["rendered.yaml"],
        "evaluation_interval": "30s",
        "tests": [
            {
                "interval": "30s",
                "input_series": [ready],
                "alert_rule_test": [
                    {
                        "eval_time": "5m",
                        "alertname": "RoutingWeightOnUnreadyVersion",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "team": "recommendations",
                                    "namespace": "ml",
                                    "host": "scoring",
                                    "destination_version": unready,
                                },
                                "exp_annotations": _annotations(unready),
                            }
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test))
    result = run_promtool("test", "rules", "test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _annotations(version):
    (alert,) = [a for a in alerts(rule_groups()) if a["alert"] == "RoutingWeightOnUnreadyVersion"]
    filled = {}
    for key, text in alert["annotations"].items():
        for name, value in (
            ("$value", "30"),
            ("$labels.host", "scoring"),
            ("$labels.namespace", "ml"),
            ("$labels.destination_version", version),
        ):
            text = text.replace("{{ " + name + " }}", value)
        filled[key] = text
    return filled


def test_the_dashboard_config_map_ships_the_generated_json(charts):
    values = ci_values(CHARTS, "routing")
    config = _by_kind(render_objects(charts["routing"], values, "scoring-routing"))["ConfigMap"]
    assert config["data"] == {DASHBOARD.name: DASHBOARD.read_text(encoding="utf-8")}
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config["metadata"]["annotations"]["grafana_folder"] == "mlrelease"
    assert RULES_FILE.exists()


def test_the_notes_list_every_alert_with_its_expression(charts):
    from mlrelease.values import helm

    values = ci_values(CHARTS, "routing")
    rendered = helm.render(charts["routing"], values, release="scoring-routing", namespace="ml")
    notes = rendered["routing/templates/NOTES.txt"]
    for alert in alerts(rule_groups()):
        assert f"  {alert['alert']} ({alert['labels']['severity']}" in notes
        for line in alert["expr"].strip().splitlines():
            assert f"    {line}\n" in notes + "\n", (alert["alert"], line)
