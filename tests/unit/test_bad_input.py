"""Bad input a new user tried, each answered with one line and exit 2 (or 1), nothing written.

The cases of the hardening issue: inputs that used to end in a traceback, and inputs that
used to be accepted only to fail later or route wrongly. Commands run in this process
(`call_mlrelease`), so the table stays fast; tests/unit/test_cli_properties.py generates
many more command lines.
"""

import hashlib
from pathlib import Path
from unittest import mock

import pytest
import yaml
from support.cli import REPO, call_mlrelease

from mlrelease import cli
from mlrelease.commands.package import build_metadata
from mlrelease.store import artifact

ROUTING = """\
host: scoring
versions:
  - name: v1
    weight: 90
  - name: v2
    weight: 10
abRules:
  - header: x-group
    regex: "{regex}"
    version: v2
"""


def snapshot(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        )
        for path in sorted(folder.rglob("*"))
    }


@pytest.fixture
def work(tmp_path) -> Path:
    """A folder with a routing file, a plain file and a folder, as a user would have."""
    code, _, err = call_mlrelease(
        "traffic", "set", "--weight", "v1=90", "--weight", "v2=10", "--out", "routing.yaml",
        cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, err
    (tmp_path / "file.yaml").write_text("a: 1\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "kept.yaml").write_text("b: 2\n")
    return tmp_path


VALUES_TRAINING = [
    "values", "training", "--chart", REPO / "charts" / "training", "--data-uri", "/data",
    "--image-repository", "example.azurecr.io/training", "--models-uri", "/models",
]  # fmt: skip
SCORING = REPO / "charts" / "scoring"
PACKAGE_SCORING = ["package", SCORING, "-f", SCORING / "ci" / "ci-values.yaml"]
FIRST = ["--current", "routing.yaml", "--out", "next.yaml"]

REFUSED = [
    # Used to end in a traceback.
    ("preview-bad-regex", ["traffic", "preview", "bad-regex.yaml", "--header", "x-group=a"], 2,
     "not valid RE2 syntax"),
    ("plan-out-dir-is-a-file", ["traffic", "plan", "--current", "routing.yaml", "--version", "v3",
     "--steps", "10,50", "--out-dir", "file.yaml"], 2, "is a file, not a folder"),
    ("values-out-is-a-folder", [*VALUES_TRAINING, "--build-number", "20261127.3", "--out",
     "folder"], 2, "is a folder"),
    ("package-destination-is-a-file", [*PACKAGE_SCORING, "--build-number", "20261127.3", "-d",
     "file.yaml"], 2, "is a file, not a folder"),
    ("out-under-a-file", ["traffic", "set", "--weight", "v1=1", "--out", "file.yaml/x.yaml"], 2,
     "is not a folder"),
    ("infinite-weight", ["traffic", "set", "--weight", "v1=inf", "--weight", "v2=1", *FIRST], 2,
     "not a finite number"),
    ("demo-workdir-is-a-file", ["demo", "--repo", REPO, "--workdir", "file.yaml"], 2,
     "is a file, not a folder"),
    # Used to be accepted.
    ("duplicate-weight", ["traffic", "set", "--weight", "v1=30", "--weight", "v1=70", *FIRST], 2,
     "more than once"),
    ("regex-that-does-not-compile", ["traffic", "ab", "add", "--header", "x-g", "--regex", "([",
     "--version", "v2", *FIRST], 2, "missing ]"),
    ("regex-that-re2-refuses", ["traffic", "ab", "add", "--header", "x-g", "--regex", "(?=b)b",
     "--version", "v2", *FIRST], 2, "not valid RE2 syntax"),
    ("host-not-a-dns-label", ["traffic", "set", "--weight", "v1=1", "--host", "Bad Host!",
     "--out", "next.yaml"], 2, "not a DNS-1035 label"),
    ("fractional-percent", ["traffic", "canary", "--version", "v3", "--percent", "12.5", *FIRST],
     2, "use 12 or 13"),
    ("fractional-step", ["traffic", "plan", "--current", "routing.yaml", "--version", "v3",
     "--steps", "10,12.5", "--out-dir", "plan"], 2, "not a whole percentage"),
    ("drop-unknown-version", ["traffic", "set", "--drop", "v9", *FIRST], 2, "cannot drop v9"),
    ("remove-absent-ab-rule", ["traffic", "ab", "remove", "--header", "x-none", *FIRST], 2,
     "no A/B rule matches"),
    ("clear-no-ab-rules", ["traffic", "ab", "clear", *FIRST], 2, "no A/B rules to clear"),
    ("mirror-off-when-off", ["traffic", "mirror", "--off", *FIRST], 2, "already off"),
    ("newline-in-build-number", [*VALUES_TRAINING, "--build-number", "1\nevil: true", "--out",
     "v.yaml"], 2, "control character U+000A"),
    ("newline-in-build-number-from-env", ["provenance"], 2, "$BUILD_BUILDNUMBER contains"),
    ("escaped-newline-in-a-value", ["values", "set", "v.yaml", 'a="x\\ny"'], 2,
     "control character U+000A"),
    ("value-renames-the-build", [*VALUES_TRAINING, "--build-number", "20261127.3", "--value",
     "versionId=v1", "--out", "v.yaml"], 2, "contradicts the build number"),
    ("package-without-values", ["package", REPO / "charts" / "routing", "--build-number", "1"], 2,
     "--chart-defaults"),
    ("package-other-build", [*PACKAGE_SCORING, "--build-number", "20261127.4"], 2,
     "needs '20261127.4'"),
    ("preview-too-many-requests", ["traffic", "preview", "routing.yaml", "--requests", "1e99"], 2,
     "not a whole number"),
    ("analyze-report-under-a-file", ["analyze", "--candidate", "v2", "--baseline", "v1",
     "--prometheus-url", "http://127.0.0.1:1", "--markdown", "file.yaml/x.md"], 2,
     "is not a folder"),
    ("compare-report-is-a-folder", ["compare", "--candidate-url", "http://127.0.0.1:1",
     "--baseline-url", "http://127.0.0.1:1", "--user", "u1", "--json", "folder"], 2,
     "is a folder"),
    ("demo-too-many-requests", ["demo", "--repo", REPO, "--requests", "100000000"], 2,
     "at most 100000"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "code", "message"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED]
)
def test_refused_with_one_line_and_nothing_written(work, args, code, message):
    (work / "bad-regex.yaml").write_text(ROUTING.format(regex="(["))
    before = snapshot(work)
    environment = {"BUILD_BUILDNUMBER": "1\nevil: true"} if args == ["provenance"] else {}
    got, out, err = call_mlrelease(*args, cwd=work, env=environment)
    assert (got, out) == (code, ""), err
    assert message in err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if "error" in line]) == 1, err
    assert snapshot(work) == before


def test_huge_weights_are_split_without_overflow(work):
    code, out, err = call_mlrelease(
        "traffic", "set", "--weight", "v1=1e308", "--weight", "v2=1e308", *FIRST, cwd=work
    )
    assert (code, out.strip()) == (0, "v1=50 v2=50"), err


def test_preview_matches_header_regexes_the_way_envoy_does(work):
    (work / "regex.yaml").write_text(ROUTING.format(regex="be.*"))
    code, out, _ = call_mlrelease(
        "traffic", "preview", "regex.yaml", "--header", "X-Group=beta", cwd=work
    )
    assert code == 0 and "A/B rule x-group regex 'be.*' -> v2" in out
    code, out, _ = call_mlrelease(
        "traffic", "preview", "regex.yaml", "--header", "x-group=abeta", cwd=work
    )
    assert code == 0 and "no A/B rule matched" in out  # RE2 matches the whole value


def test_packaging_is_byte_identical_and_never_overwrites_another_archive(work):
    args = [*PACKAGE_SCORING, "--build-number", "20261127.3"]
    assert call_mlrelease(*args, "-d", "a", cwd=work)[0] == 0
    assert call_mlrelease(*args, "-d", "b", cwd=work)[0] == 0
    name = "scoring-0.1.0+20261127.3.tgz"
    assert (work / "a" / name).read_bytes() == (work / "b" / name).read_bytes()
    # Packaging again is a no-op; another archive under that name is left alone.
    assert call_mlrelease(*args, "-d", "a", cwd=work)[0] == 0
    (work / "b" / name).write_bytes(b"another archive")
    code, _, err = call_mlrelease(*args, "-d", "b", cwd=work)
    assert code == 2 and "already exists with other content" in err
    assert (work / "b" / name).read_bytes() == b"another archive"


def test_build_numbers_that_sanitise_alike_get_different_archives(work):
    names = set()
    for build in ("Build 42", "Build_42", "Build-42"):
        code, out, err = call_mlrelease(
            "package", REPO / "charts" / "routing", "--chart-defaults", "--build-number", build,
            "-d", "charts", cwd=work,
        )  # fmt: skip
        assert code == 0, err
        names.add(Path(out.strip()).name)
    assert len(names) == 3
    assert build_metadata("Build-42") == "Build-42"


def test_model_verify_fails_on_a_file_the_manifest_does_not_list(tmp_path):
    version = tmp_path / "models" / "recommender" / "v1"
    artifact.publish(str(version), {"a.npy": b"weights"}, {})
    assert call_mlrelease("model", "verify", version, cwd=tmp_path)[0] == 0
    (version / "extra.npy").write_bytes(b"who put this here")
    code, out, err = call_mlrelease("model", "verify", version, cwd=tmp_path)
    assert (code, out) == (1, "")
    assert "1 files its manifest does not list (extra.npy)" in err


def test_an_unexpected_os_error_is_one_line_with_exit_1(tmp_path):
    full = OSError(28, "No space left on device", str(tmp_path / "v.yaml"))
    with mock.patch("mlrelease.values.yamlio.write_atomic", side_effect=full):
        code, _, err = call_mlrelease("values", "set", "v.yaml", "a=1", cwd=tmp_path)
    assert code == 1
    expected = f"No space left on device: {tmp_path / 'v.yaml'}; check the path, its permissions"
    assert err == f"mlrelease values: error: {expected} and the free space\n"


def test_a_bug_is_one_line_pointing_at_verbose_not_a_traceback(tmp_path):
    with mock.patch("mlrelease.commands.version.version_id", side_effect=KeyError("boom")):
        code, _, err = call_mlrelease("version", "1", cwd=tmp_path)
        assert code == 1 and err.count("\n") == 1 and "internal error: KeyError" in err
        code, _, err = call_mlrelease("-v", "version", "1", cwd=tmp_path)
        assert code == 1 and "Traceback" in err  # --verbose shows it, for the bug report
    assert cli.describe_os_error(OSError(2, "No such file")) == (
        "No such file; check the path, its permissions and the free space"
    )


def test_the_routing_documents_from_these_commands_stay_valid(work):
    code, _, err = call_mlrelease(
        "traffic", "ab", "add", "--header", "x-g", "--regex", "beta|canary", "--version", "v2",
        *FIRST, cwd=work,
    )  # fmt: skip
    assert code == 0, err
    assert yaml.safe_load((work / "next.yaml").read_text())["abRules"][0]["regex"] == "beta|canary"


@pytest.mark.parametrize(
    "assignment", ["a=!!float x", "a=!!bool maybe", "a=!!set 1", "a=*x"], ids=str
)
def test_a_yaml_tag_that_cannot_be_honoured_is_bad_input(tmp_path, assignment):
    code, _, err = call_mlrelease("values", "set", "v.yaml", assignment, cwd=tmp_path)
    assert code == 2 and "is not valid YAML" in err, err
    assert not (tmp_path / "v.yaml").exists()


@pytest.mark.parametrize("value", ["a=2020-01-01", "a=!!binary aGk=", "a=!!float nan"], ids=str)
def test_a_value_that_is_not_plain_chart_data_is_refused(tmp_path, value):
    code, _, err = call_mlrelease(
        *VALUES_TRAINING, "--build-number", "1", "--value", value, "--out", "v.yaml", cwd=tmp_path
    )
    assert code == 2 and "is not a chart value" in err and "quote it" in err, err


def test_helm_schema_errors_are_one_line(tmp_path):
    code, _, err = call_mlrelease(
        *VALUES_TRAINING, "--build-number", "1", "--value", "hyperparameters.epochs=-1",
        "--value", "b=1", "--out", "v.yaml", cwd=tmp_path,
    )  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert "epochs': minimum: got -1, want 1" in err and "'b' not allowed" in err


def test_a_multi_line_message_from_a_library_is_printed_on_one_line(tmp_path):
    from mlrelease.errors import MlreleaseError

    failure = MlreleaseError("cannot read az://models/x:\n  ErrorCode: AuthorizationFailure\n")
    with mock.patch("mlrelease.store.artifact.verify", side_effect=failure):
        code, _, err = call_mlrelease("model", "verify", "az://models/x", cwd=tmp_path)
    assert (code, err) == (
        1,
        "mlrelease model: error: cannot read az://models/x: ErrorCode: AuthorizationFailure\n",
    )
