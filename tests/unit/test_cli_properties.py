"""Property: whatever a user types, `mlrelease` answers without a traceback, and a failure
writes nothing.

Hypothesis builds command lines for every command, and a routing document they may read
(`generated.yaml`: valid ones and every kind of broken), from values that have broken
them before or plausibly could: paths that are files where folders are expected (and the
reverse), missing and unreadable documents, routing files holding regexes RE2 refuses,
non-finite and fractional numbers, duplicates, control characters, hosts and ids that are
not DNS labels, build numbers that collide once sanitised, model folders with unlisted
or missing files, plus random text. The canary judges (`analyze`, `compare`) only reach
closed ports on 127.0.0.1, so no request leaves the machine and none waits. For each
command line, run in this process:

- the exit code is 0, 1 or 2, and nothing escapes `main` (that would be a traceback);
- stderr holds no traceback and no "internal error" (a bug the edge caught);
- on a failure stdout is empty, stderr has exactly one error line, and every file in the
  working folder is as it was (nothing written, nothing removed).

CI runs a fixed set of `EXAMPLES` (600) command lines: the "ci" Hypothesis profile in
tests/conftest.py derandomizes generation, so every run tries the same ones. To search
afresh, run with HYPOTHESIS_PROFILE=explore and, say, MLRELEASE_CLI_EXAMPLES=5000.
"""

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.cli import REPO, call_mlrelease

from mlrelease.store import artifact

EXAMPLES = int(os.environ.get("MLRELEASE_CLI_EXAMPLES", "600"))
# Commands fsync what they write; on a memory file system that costs nothing, and the
# property is about what gets written, not about the disk.
SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None

ROUTING = """\
# The routing in force.
host: scoring
versions:
  - name: v1
    weight: 90
  - name: v2
    weight: 10
abRules:
  - header: x-group
    {kind}: "{value}"
    version: v2
mirror:
  version: v2
  percent: 5
"""

# Name -> content ("/" at the end: a folder; None: leave it missing).
FILES: dict[str, str | bytes | None] = {
    "routing.yaml": ROUTING.format(kind="exact", value="beta"),
    "regex.yaml": ROUTING.format(kind="regex", value="be.*"),
    "bad-regex.yaml": ROUTING.format(kind="regex", value="(["),
    "lookahead.yaml": ROUTING.format(kind="regex", value="(?=b)b"),
    "bad-host.yaml": ROUTING.format(kind="exact", value="b").replace("scoring", "Bad Host!"),
    "sum-60.yaml": "host: scoring\nversions:\n  - name: v1\n    weight: 60\n",
    "date-weight.yaml": "host: scoring\nversions:\n  - name: v1\n    weight: 2020-01-01\n",
    "nan-weight.yaml": "host: scoring\nversions:\n  - name: v1\n    weight: .nan\n",
    "not-yaml.yaml": "host: [unclosed\n",
    "list.yaml": "- a\n- b\n",
    "empty.yaml": "",
    "binary.yaml": b"\xff\xfe\x00garbage",
    "deep.yaml": "[" * 500 + "]" * 500,
    "values.yaml": "image:\n  tag: '1'  # keep\nreplicas: 2\n",
    "file.txt": "just a file\n",
    "folder/": None,
    "folder/inside.yaml": "a: 1\n",
    "empty-folder/": None,
}
MISSING = ["missing.yaml", "missing/deeper/out.yaml", "new-folder"]
UNDER_A_FILE = ["file.txt/x.yaml", "file.txt/sub/"]
PATHS = [*FILES, *MISSING, *UNDER_A_FILE, "folder", "out.yaml", "plan", "generated.yaml"]
VERSIONS = ["version-ok", "version-extra", "version-partial", "version-corrupt", "missing"]

TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=12
)
NUMBERS = ["0", "1", "10", "30", "50", "100", "-1", "101", "12.5", "0.5", "1e308", "inf",
           "-inf", "nan", "NaN", "1e-320", "abc", "", " 10", "0x10", "1_000"]  # fmt: skip
IDS = ["v1", "v2", "v3", "v20261127-3-4b46ac11", "Bad_Id", "", "V1", "v1-", "a" * 41, "v1\n"]
HEADERS = ["x-group", "x-canary", "X-Group", "", "x group", "x-group\n", "x_g"]
REGEXES = ["beta", "be.*", "([", "(?=b)b", r"(a)\1", "", "a{1001}", "[[:alpha:]]", "\\"]
HOSTS = ["scoring", "Bad Host!", "", "a" * 64, "scoring\n", "scoring.ns", "-x"]
# KEY.PATH=VALUE assignments: paths, YAML tags and scalars that have broken parsers.
ASSIGNMENTS = ["a.b=1", "x[0]=2", "a.b[5]=1", "=1", "a..b=1", "a", "a=[1, {b: 2}]",
               'a="\\t"', 'a="x\\ny"', "a=!!float x", "a=!!bool maybe", "a=!!set 1",
               "a=!!binary aGk=", "a=2020-01-01", "a=!!float nan", "a=*x", "a=&x",
               "hyperparameters.epochs=30", "versionId=v1", "buildNumber=2",
               "evaluation.minTestUsers=0", "evaluation.minTestUsers=20"]  # fmt: skip
BUILDS = ["20261127.3", "20261127.4", "Build 42", "Build_42", "", " ", "1\nevil: true",
          "a" * 300, "20261127.3 (rerun)", "\u2028", "..", "ü"]  # fmt: skip


def pick(options: list[str]) -> st.SearchStrategy[str]:
    """Mostly the listed values that broke things before, sometimes random text."""
    return st.one_of(st.sampled_from(options), TEXT)


def path() -> st.SearchStrategy[str]:
    return st.sampled_from(PATHS).map(lambda name: "@" + name.rstrip("/"))


def optional(*flags: list[st.SearchStrategy[str]]) -> st.SearchStrategy[list[str]]:
    """Each flag group included or not."""
    return st.tuples(*(st.one_of(st.just([]), st.tuples(*flag).map(list)) for flag in flags)).map(
        lambda groups: [arg for group in groups for arg in group]
    )


def repeated(flag: str, value: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(value, max_size=3).map(lambda vs: [arg for v in vs for arg in (flag, v)])


def pair(names: list[str], values: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.tuples(pick(names), pick(values)).map(lambda nv: f"{nv[0]}={nv[1]}"), TEXT)


TRAFFIC_COMMON = optional(
    [st.just("--current"), path()],
    [st.just("--host"), pick(HOSTS)],
    [st.just("--models-uri"), st.sampled_from(["@models", "@missing", "@file.txt"])],
    [st.just("--model-name"), st.sampled_from(["recommender", "", "a/b"])],
)
OUT = st.tuples(st.just("--out"), path()).map(list)


def traffic() -> st.SearchStrategy[list[str]]:
    def action(name: list[str], *parts: st.SearchStrategy[list[str]]) -> st.SearchStrategy:
        return st.tuples(*parts).map(
            lambda groups: ["traffic", *name, *[a for g in groups for a in g]]
        )

    return st.one_of(
        action(
            ["set"],
            repeated("--weight", pair(IDS, NUMBERS)),
            repeated("--drop", pick(IDS)),
            TRAFFIC_COMMON,
            OUT,
        ),
        action(
            ["canary"],
            st.tuples(st.just("--version"), pick(IDS), st.just("--percent"), pick(NUMBERS)).map(
                list
            ),
            TRAFFIC_COMMON,
            OUT,
        ),
        action(
            ["promote"], st.tuples(st.just("--version"), pick(IDS)).map(list), TRAFFIC_COMMON, OUT
        ),
        action(
            ["ab", "add"],
            st.tuples(
                st.just("--header"),
                pick(HEADERS),
                st.sampled_from(["--exact", "--prefix", "--regex"]),
                pick(REGEXES),
                st.just("--version"),
                pick(IDS),
            ).map(list),
            TRAFFIC_COMMON,
            OUT,
        ),
        action(
            ["ab", "remove"],
            st.tuples(st.just("--header"), pick(HEADERS)).map(list),
            TRAFFIC_COMMON,
            OUT,
        ),
        action(["ab", "clear"], TRAFFIC_COMMON, OUT),
        action(
            ["mirror"],
            st.one_of(st.tuples(st.just("--version"), pick(IDS)).map(list), st.just(["--off"])),
            optional([st.just("--percent"), pick(NUMBERS)]),
            TRAFFIC_COMMON,
            OUT,
        ),
        action(
            ["plan"],
            st.tuples(
                st.just("--version"),
                pick(IDS),
                st.just("--steps"),
                pick(["10,25,50,100", "10,12.5", "50,10", "0,50", "", ",", "10,inf", "100"]),
                st.just("--out-dir"),
                path(),
            ).map(list),
            TRAFFIC_COMMON,
        ),
        action(
            ["preview"],
            st.tuples(path()).map(list),
            repeated("--header", pair(HEADERS, ["beta", "b", "", "x"])),
            optional([st.just("--requests"), pick(["100", "0", "-1", "1e99", "10" * 12, "x"])]),
        ),
    )


def build_flags() -> st.SearchStrategy[list[str]]:
    return st.tuples(
        optional(
            [st.just("--build-number"), pick(BUILDS)],
            [st.just("--image-repository"), pick(["example.azurecr.io/x", ""])],
            [st.just("--models-uri"), pick(["az://models", "/models", ""])],
            [st.just("--image-tag"), pick(["20261127.3", "bad tag", ""])],
            [
                st.just("--chart"),
                st.sampled_from(["@chart-training", "@chart-scoring", "@folder", "@missing"]),
            ],
            [st.just("--storage-account-url"), pick(["https://a.blob.core.windows.net"])],
        ),
        repeated("--value", pick(ASSIGNMENTS)),
        OUT,
    ).map(lambda groups: [*groups[0], *groups[1], *groups[2]])


def values() -> st.SearchStrategy[list[str]]:
    return st.one_of(
        st.tuples(
            path(),
            st.lists(
                pick(ASSIGNMENTS),
                min_size=1,
                max_size=3,
            ),
            optional([st.just("--out"), path()], [st.just("--string")]),
        ).map(lambda t: ["values", "set", t[0], *t[1], *t[2]]),
        st.tuples(
            st.just(["values", "training", "--data-uri"]), pick(["/data", ""]), build_flags()
        ).map(lambda t: [*t[0], t[1], *t[2]]),
        st.tuples(st.just(["values", "scoring"]), build_flags()).map(lambda t: [*t[0], *t[1]]),
    )


def charts() -> st.SearchStrategy[list[str]]:
    chart = st.sampled_from(
        ["@chart-routing", "@chart-scoring", "@folder", "@missing", "@file.txt"]
    )
    values_flags = st.tuples(
        repeated(
            "-f",
            st.sampled_from(
                [
                    "@ci-scoring",
                    "@values.yaml",
                    "@binary.yaml",
                    "@missing",
                    "@folder",
                    "@not-yaml.yaml",
                ]
            ),
        ),
        repeated("--set", pick(["buildNumber=20261127.3", "a={", "versions[0].weight=x"])),
    ).map(lambda t: [*t[0], *t[1]])
    return st.one_of(
        st.tuples(
            chart, values_flags, optional([st.just("--release"), pick(["scoring-v1", "Bad!", ""])])
        ).map(lambda t: ["template", t[0], *t[1], *t[2]]),
        st.tuples(
            chart,
            values_flags,
            st.tuples(st.just("--build-number"), pick(BUILDS)).map(list),
            optional([st.just("-d"), path()], [st.just("--chart-defaults")]),
        ).map(lambda t: ["package", t[0], *t[1], *t[2], *t[3]]),
    )


def model() -> st.SearchStrategy[list[str]]:
    uri = st.one_of(
        st.sampled_from(VERSIONS).map(lambda v: "@models/recommender/" + v), path(), TEXT
    )
    return st.one_of(
        st.tuples(st.sampled_from(["verify", "show"]), uri, optional([st.just("--json")])).map(
            lambda t: ["model", t[0], t[1], *t[2]]
        ),
        st.tuples(
            uri,
            st.tuples(st.just("--timeout"), pick(["0", "-1", "inf", "nan", "x"])).map(list),
            optional(
                [st.just("--initial-delay"), pick(["0.01", "0", "5"])],
                [st.just("--max-delay"), pick(["0.01", "1", "-1"])],
            ),
        ).map(lambda t: ["model", "wait", t[0], *t[1], *t[2]]),
    )


def small() -> st.SearchStrategy[list[str]]:
    # `demo` only with an input it must refuse: a valid one would run the whole rehearsal.
    demo = st.sampled_from(
        [
            ["demo", "--repo", "@folder"],
            ["demo", "--repo", "@repo", "--requests", "5"],
            ["demo", "--repo", "@repo", "--requests", "100000000"],
            ["demo", "--repo", "@repo", "--workdir", "@file.txt"],
            ["demo", "--repo", "@repo", "--workdir", "@folder"],
            ["demo", "--repo", "@repo", "--workdir", "@file.txt/x"],
        ]
    )
    return st.one_of(
        demo,
        st.tuples(pick(BUILDS)).map(lambda t: ["version", t[0]]),
        st.tuples(
            optional(
                [st.just("--format"), pick(["yaml", "json", "xml"])],
                [st.just("--commit"), pick(["abc", "a\nb", ""])],
                [st.just("--branch"), pick(["refs/heads/main", "\t"])],
            )
        ).map(lambda t: ["provenance", *t[0]]),
        st.lists(pick(["traffic", "values", "--out", "-v", "@out.yaml", "set"]), max_size=4),
    )


def lifecycle() -> st.SearchStrategy[list[str]]:
    """Retirement, listing and pruning, and the canary judges against closed local ports
    (port 1 on 127.0.0.1 refuses at once: no request leaves this machine)."""
    store = ["--models-uri", "@models", "--model-name", "recommender"]
    closed = "http://127.0.0.1:1"
    return st.one_of(
        st.tuples(
            st.tuples(st.just("--keep"), pick(NUMBERS)).map(list),
            optional([st.just("--retired-list"), path()]),
            TRAFFIC_COMMON,
            OUT,
        ).map(lambda t: ["traffic", "retire", *t[0], *t[1], *t[2], *t[3]]),
        st.tuples(optional([st.just("--routing"), path()], [st.just("--json")])).map(
            lambda t: ["model", "list", *store, *t[0]]
        ),
        st.tuples(path(), pick(NUMBERS), optional([st.just("--dry-run")])).map(
            lambda t: ["model", "prune", *store, "--routing", t[0], "--keep", t[1], *t[2]]
        ),
        st.tuples(
            pick(IDS),
            st.one_of(
                st.tuples(st.just("--baseline"), pick(IDS)).map(list),
                st.tuples(st.just("--baseline-from"), path()).map(list),
            ),
            optional(
                [st.just("--config"), path()],
                [st.just("--interval"), pick(["30s", "5m", "0s", "-1m", "1e9h", "x", ""])],
                [st.just("--markdown"), path()],
                [st.just("--json"), path()],
            ),
            st.one_of(
                st.just(["--explain"]),
                st.just(["--prometheus-url", closed, "--timeout", "0.5"]),
                st.tuples(st.just("--prometheus-url"), pick(["ftp://x", "", "127.0.0.1"])).map(
                    list
                ),
            ),
        ).map(lambda t: ["analyze", "--candidate", t[0], *t[1], *t[2], *t[3]]),
        st.tuples(
            pick([closed, "ftp://x", "", "not a url"]),
            st.one_of(
                st.just(["--users-from", "@models/recommender/version-ok"]),
                st.tuples(st.just("--users-file"), path()).map(list),
                st.tuples(st.just("--user"), pick(IDS)).map(list),
            ),
            optional(
                [st.just("--sample"), pick(NUMBERS)],
                [st.just("--k"), pick(NUMBERS)],
                [st.just("--min-overlap"), pick(NUMBERS)],
                [st.just("--markdown"), path()],
                [st.just("--json"), path()],
            ),
        ).map(
            lambda t: [
                "compare",
                "--candidate-url",
                t[0],
                "--baseline-url",
                closed,
                *t[1],
                *t[2],
                "--timeout",
                "0.5",
            ]
        ),
    )


COMMAND_LINES = st.one_of(traffic(), values(), charts(), model(), lifecycle(), small())


def documents() -> st.SearchStrategy[str]:
    """YAML for `@generated.yaml`: routing documents, valid ones and every kind of broken."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 150),
        st.floats(),
        TEXT,
        st.sampled_from([*IDS, *HEADERS, *REGEXES, *HOSTS]),
    )
    entry = st.fixed_dictionaries(
        {"name": pick(IDS), "weight": st.one_of(st.integers(-1, 101), scalars)},
        optional={"extra": scalars},
    )
    rule = st.fixed_dictionaries(
        {"header": pick(HEADERS), "version": pick(IDS)},
        optional={"exact": scalars, "prefix": scalars, "regex": pick(REGEXES)},
    )
    mirror = st.fixed_dictionaries(
        {"version": pick(IDS), "percent": st.one_of(st.integers(-5, 150), st.floats())}
    )
    anything = st.fixed_dictionaries(
        {},
        optional={
            "host": st.one_of(pick(HOSTS), scalars),
            "versions": st.one_of(st.lists(entry, max_size=4), scalars),
            "abRules": st.lists(rule, max_size=3),
            "mirror": st.one_of(mirror, scalars),
            "gateway": scalars,
        },
    )
    # Mostly well-formed: weights that sum to 100 over distinct live versions.
    valid = st.lists(
        st.sampled_from(["v1", "v2", "v3"]), min_size=1, max_size=3, unique=True
    ).flatmap(
        lambda names: st.lists(
            st.integers(0, 100 // len(names)), min_size=len(names) - 1, max_size=len(names) - 1
        ).map(
            lambda rest: {
                "host": "scoring",
                "versions": [
                    {"name": name, "weight": weight}
                    for name, weight in zip(names, [100 - sum(rest), *rest], strict=True)
                ],
                "abRules": [{"header": "x-group", "regex": "be.*", "version": names[-1]}],
            }
        )
    )
    return st.one_of(valid, anything, scalars).map(
        lambda doc: yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    )


DOCUMENTS = documents()


def make_files(root: Path) -> dict[str, Path]:
    """The working folder every command line runs in, and what `@name` arguments mean."""
    for name, content in FILES.items():
        target = root / name
        if name.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content or "")
    versions = root / "models" / "recommender"
    files = {"a.npy": b"weights", "user_ids.json": b'["u1"]'}
    for name in ("version-ok", "version-extra", "version-corrupt"):
        artifact.publish(str(versions / name), files, {"buildNumber": "1"})
    (versions / "version-extra" / "extra.npy").write_bytes(b"unlisted")
    (versions / "version-corrupt" / "a.npy").write_bytes(b"tampered")
    (versions / "version-partial").mkdir()
    (versions / "version-partial" / "a.npy").write_bytes(b"weights")
    return {
        "repo": REPO,
        "chart-training": REPO / "charts" / "training",
        "chart-scoring": REPO / "charts" / "scoring",
        "chart-routing": REPO / "charts" / "routing",
        "ci-scoring": REPO / "charts" / "scoring" / "ci" / "ci-values.yaml",
    }


def resolve(argv: list[str], root: Path, named: dict[str, Path]) -> list[str]:
    resolved = []
    for arg in argv:
        if arg.startswith("@"):
            name = arg[1:]
            arg = str(named.get(name, root / name))
        resolved.append(arg)
    return resolved


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    state = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            state[path.relative_to(root).as_posix()] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                path.stat().st_mtime_ns,
            )
        else:
            state[path.relative_to(root).as_posix()] = ("dir", 0)
    return state


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """The working folder, made once (publishing fsyncs every file); each example copies it."""
    root = tmp_path_factory.mktemp("cli-template")
    return root, make_files(root)


@settings(
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(argv=COMMAND_LINES, document=DOCUMENTS)
def test_no_command_line_gives_a_traceback_or_partial_output(template, argv, document):
    source, named = template
    with tempfile.TemporaryDirectory(prefix="mlrelease-cli-", dir=SCRATCH) as folder:
        root = Path(folder) / "work"
        shutil.copytree(source, root, symlinks=True)
        (root / "generated.yaml").write_text(document, encoding="utf-8")
        before = snapshot(root)
        args = resolve(argv, root, named)
        code, out, err = call_mlrelease(*args, cwd=root)
        assert code in (0, 1, 2), (args, code, err)
        assert "Traceback" not in err and "internal error" not in err, (args, err)
        if code != 0:
            assert out == "", (args, out)
            errors = [line for line in err.splitlines() if "error" in line]
            assert len(errors) == 1, (args, err)
            assert snapshot(root) == before, (args, err)
