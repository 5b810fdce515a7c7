"""`traffic retire`: old versions at weight 0 leave the routing; anything in use stays."""

import pytest
from support.cli import run_mlrelease
from support.routing import doc

from mlrelease.errors import InputError
from mlrelease.traffic import operations
from mlrelease.values import yamlio

OLD_TO_NEW = (("v1", 0), ("v2", 0), ("v3", 0), ("v4", 100))


@pytest.mark.parametrize(
    ("keep", "dropped"),
    [
        (0, ["v1", "v2", "v3"]),
        (1, ["v1", "v2", "v3"]),
        (2, ["v1", "v2"]),
        (3, ["v1"]),
        (4, []),
        (10, []),
    ],
)
def test_retire_drops_weight_zero_versions_beyond_the_newest(keep, dropped):
    result, gone = operations.retire(doc(*OLD_TO_NEW), keep)
    assert gone == dropped
    assert [v["name"] for v in result["versions"]] == [
        name for name, _ in OLD_TO_NEW if name not in dropped
    ]


def test_retire_never_drops_a_version_with_weight_a_rule_or_the_mirror():
    routing = doc(
        ("v1", 10),
        ("v2", 0),
        ("v3", 0),
        ("v4", 0),
        ("v5", 90),
        rules=[{"header": "x-user-group", "exact": "beta", "version": "v2"}],
        mirror={"version": "v3", "percent": 5},
    )
    result, gone = operations.retire(routing, 0)
    assert gone == ["v4"]
    assert [v["name"] for v in result["versions"]] == ["v1", "v2", "v3", "v5"]
    assert routing["versions"][3]["name"] == "v4"  # the input is unchanged


@pytest.mark.parametrize("keep", [-1, 1.5, True, "2"])
def test_retire_refuses_a_bad_keep(keep):
    with pytest.raises(InputError, match="--keep"):
        operations.retire(doc(*OLD_TO_NEW), keep)


def test_retire_on_the_command_line_writes_the_routing_and_the_list(tmp_path):
    current = tmp_path / "routing.yaml"
    current.write_text(
        "# routing in force\nhost: scoring\ngateway: {enabled: false}\nversions:\n"
        + "".join(f"  - {{name: {name}, weight: {weight}}}\n" for name, weight in OLD_TO_NEW)
    )
    out, retired = tmp_path / "next.yaml", tmp_path / "retired.txt"
    result = run_mlrelease(
        "traffic", "retire", "--current", current, "--keep", "2",
        "--out", out, "--retired-list", retired,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["v3=0 v4=100", "retired v1", "retired v2"]
    assert retired.read_text() == "v1\nv2\n"
    written = yamlio.load_path(out)
    assert [v["name"] for v in written["versions"]] == ["v3", "v4"]
    assert written["gateway"] == {"enabled": False}
    assert out.read_text().startswith("# routing in force")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keep", "2"], "retire needs --current"),
        (["--keep", "-1", "--current", "x.yaml"], "is not a whole number >= 0"),
    ],
)
def test_retire_bad_input_exits_2(args, message, tmp_path):
    result = run_mlrelease("traffic", "retire", *args, "--out", tmp_path / "o.yaml")
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "o.yaml").exists()


def test_the_baseline_is_the_heaviest_other_version(tmp_path):
    assert operations.baseline(doc(("v1", 30), ("v2", 70), ("v3", 0)), "v3") == "v2"
    assert operations.baseline(doc(("v1", 50), ("v2", 50)), "v3") == "v1"
    with pytest.raises(InputError, match="no version other than v1"):
        operations.baseline(doc(("v1", 100), ("v2", 0)), "v1")
    current = tmp_path / "routing.yaml"
    current.write_text("host: scoring\nversions:\n- {name: v1, weight: 100}\n")
    result = run_mlrelease("traffic", "baseline", "--current", current, "--candidate", "v2")
    assert (result.returncode, result.stdout) == (0, "v1\n")
