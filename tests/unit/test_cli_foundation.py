"""The real `mlrelease` command line as a subprocess: outputs, exit codes, files left alone."""

import json

import pytest
import yaml
from support.cli import run_mlrelease

from mlrelease.versions import version_id


def run(*args, env=None, cwd=None):
    return run_mlrelease(*args, env=env, cwd=cwd)


def test_version_prints_the_id():
    result = run("version", "20261127.3")
    assert result.returncode == 0
    assert result.stdout.strip() == version_id("20261127.3")


def test_provenance_reads_the_pipeline_environment_as_yaml_and_json():
    env = {"BUILD_BUILDNUMBER": "20261127.3", "BUILD_SOURCEBRANCH": "refs/heads/main"}
    as_yaml = yaml.safe_load(run("provenance", env=env).stdout)
    as_json = json.loads(run("provenance", "--format", "json", env=env).stdout)
    assert as_yaml == as_json
    assert as_json["labels"]["mlrelease.io/branch"] == "main"
    assert as_json["annotations"]["mlrelease.io/build-number"] == "20261127.3"
    assert "None" not in json.dumps(as_json)


def test_provenance_flags_override_the_environment():
    result = run(
        "provenance", "--format", "json", "--commit", "abc", env={"BUILD_SOURCEVERSION": "x"}
    )
    assert json.loads(result.stdout)["labels"]["mlrelease.io/commit"] == "abc"


def test_values_set_creates_and_updates(tmp_path):
    values = tmp_path / "values.yaml"
    assert run("values", "set", str(values), "image.tag=20261127.3", "a.b[0]=1").returncode == 0
    assert run("values", "set", str(values), "--string", "replicas=3").returncode == 0
    assert yaml.safe_load(values.read_text()) == {
        "image": {"tag": "20261127.3"},
        "a": {"b": [1]},
        "replicas": "3",
    }


def test_values_set_to_out_leaves_the_input_alone(tmp_path):
    source, out = tmp_path / "in.yaml", tmp_path / "out.yaml"
    source.write_text("a: 1  # keep\n")
    assert run("values", "set", str(source), "b=2", "--out", str(out)).returncode == 0
    assert source.read_text() == "a: 1  # keep\n"
    assert out.read_text() == "a: 1  # keep\nb: 2\n"


@pytest.mark.parametrize(
    "args",
    [
        ["noequals"],
        ["a..b=1"],
        ["a.b=1", "a.b.c=2"],
    ],
)
def test_values_set_bad_input_exits_2_and_writes_nothing(tmp_path, args):
    out = tmp_path / "out.yaml"
    result = run("values", "set", str(tmp_path / "in.yaml"), *args, "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "error:" in result.stderr
    assert not out.exists()


def test_traffic_flow_from_first_deployment_to_promotion(tmp_path):
    first, canary, ab, promoted = (tmp_path / f"{n}.yaml" for n in ("1", "2", "3", "4"))
    assert run("traffic", "set", "--weight", "v1=1", "--out", str(first)).returncode == 0
    result = run(
        "traffic", "canary", "--current", str(first), "--version", "v2", "--percent", "10",
        "--out", str(canary),
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip() == "v1=90 v2=10"
    args = ["--header", "x-user-group", "--exact", "beta", "--version", "v2"]
    result = run("traffic", "ab", "add", "--current", str(canary), *args, "--out", str(ab))
    assert result.returncode == 0
    result = run(
        "traffic", "promote", "--current", str(ab), "--version", "v2", "--out", str(promoted)
    )
    assert result.returncode == 0
    document = yaml.safe_load(promoted.read_text())
    assert document["versions"] == [{"name": "v1", "weight": 0}, {"name": "v2", "weight": 100}]
    assert document["abRules"] == [{"header": "x-user-group", "exact": "beta", "version": "v2"}]


def test_traffic_keeps_other_keys_and_comments(tmp_path):
    current, out = tmp_path / "routing.yaml", tmp_path / "next.yaml"
    current.write_text(
        "# routing for prod\nhost: scoring\ngateway:\n  enabled: true  # public\n"
        "versions:\n  - name: v1\n    weight: 100\n"
    )
    args = ["--version", "v2", "--percent", "10"]
    assert (
        run("traffic", "canary", "--current", str(current), *args, "--out", str(out)).returncode
        == 0
    )
    text = out.read_text()
    assert text.startswith("# routing for prod\n")
    assert "  enabled: true  # public\n" in text


def test_traffic_stamps_provenance_in_a_pipeline_run(tmp_path):
    out = tmp_path / "routing.yaml"
    env = {"BUILD_BUILDNUMBER": "20261127.3"}
    assert run("traffic", "set", "--weight", "v1=1", "--out", str(out), env=env).returncode == 0
    document = yaml.safe_load(out.read_text())
    assert document["provenance"]["annotations"]["mlrelease.io/build-number"] == "20261127.3"


def test_traffic_plan_writes_one_file_per_step(tmp_path):
    current = tmp_path / "routing.yaml"
    run("traffic", "set", "--weight", "v1=1", "--out", str(current))
    result = run(
        "traffic", "plan", "--current", str(current), "--version", "v2", "--steps", "10,50,100",
        "--out-dir", str(tmp_path / "plan"),
    )  # fmt: skip
    assert result.returncode == 0
    files = sorted((tmp_path / "plan").iterdir())
    assert [f.name for f in files] == ["step-01-10.yaml", "step-02-50.yaml", "step-03-100.yaml"]
    weights = [yaml.safe_load(f.read_text())["versions"][1]["weight"] for f in files]
    assert weights == [10, 50, 100]


def test_traffic_preview_prints_a_table_with_bars(tmp_path):
    current = tmp_path / "routing.yaml"
    run("traffic", "set", "--weight", "v1=3", "--weight", "v2=1", "--out", str(current))
    result = run("traffic", "preview", str(current), "--requests", "200")
    assert result.returncode == 0
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[3:]}
    assert rows["v1"][1:3] == ["75", "150"] and rows["v1"][4] == "#" * 30
    assert rows["v2"][1:3] == ["25", "50"]


BAD_TRAFFIC = [
    (["set", "--weight", "v1=-1"], "non-negative"),
    (["set", "--weight", "v1=0"], "all weights are zero"),
    (["set", "--weight", "Bad_Id=1"], "not a version id"),
    (["set", "--weight", "v1"], "not NAME=VALUE"),
    (["set", "--weight", "v1=abc"], "not a number"),
    (["canary", "--version", "v2", "--percent", "120"], "outside 0-100"),
    (["ab add", "--header", "x-g", "--exact", "b", "--version", "v9"], "not a live version"),
    (["mirror", "--version", "v9"], "not a live version"),
    (["mirror", "--version", "v1", "--percent", "-1"], "outside 0-100"),
]


@pytest.mark.parametrize(("args", "message"), BAD_TRAFFIC)
def test_traffic_bad_input_exits_2_and_leaves_out_untouched(tmp_path, args, message):
    current, out = tmp_path / "routing.yaml", tmp_path / "out.yaml"
    run("traffic", "set", "--weight", "v1=1", "--out", str(current))
    out.write_text("sentinel\n")
    action = args[0].split()
    result = run("traffic", *action, "--current", str(current), *args[1:], "--out", str(out))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert out.read_text() == "sentinel\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("host: scoring\nversions:\n  - name: v1\n    weight: 60\n", "sum to 60"),
        ("host: [unclosed\n", "is not valid YAML"),
        ("- just\n- a list\n", "not a YAML mapping"),
    ],
)
def test_invalid_current_file_exits_2(tmp_path, content, message):
    current, out = tmp_path / "routing.yaml", tmp_path / "out.yaml"
    current.write_text(content)
    result = run(
        "traffic", "promote", "--current", str(current), "--version", "v1", "--out", str(out)
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert not out.exists()


def test_unreadable_current_file_exits_2(tmp_path):
    result = run(
        "traffic", "promote", "--current", str(tmp_path / "missing.yaml"), "--version", "v1",
        "--out", str(tmp_path / "out.yaml"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot read" in result.stderr
