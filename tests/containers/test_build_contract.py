"""One owner for the image build: tools/build_images.sh writes every file the Dockerfiles COPY from
the build context, and the pipeline's image job builds and pushes with that script, no other way.

No Docker daemon needed: the script's `context` step runs into a temporary folder, and the
Dockerfiles' COPY sources are matched against what it wrote (and against .dockerignore, which must
let them through). A Dockerfile that COPYs a path the script stopped writing, a script output no
Dockerfile uses, or a pipeline step that builds on its own all fail here.
"""

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from support.containers import (
    CONTEXT_DIR,
    IMAGES_JOB,
    REPO,
    SCRIPT,
    images_job_parameters,
    images_job_scripts,
    script_images,
)
from support.pipelines import expand, load

IMAGES = script_images()


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    pairs = []
    for line in logical:
        instruction, _, arguments = line.strip().partition(" ")
        pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def context_sources(dockerfile: Path) -> list[str]:
    """The build-context paths a Dockerfile's COPY and ADD instructions read (not --from)."""
    sources = []
    for instruction, arguments in _instructions(dockerfile):
        if instruction not in ("COPY", "ADD"):
            continue
        words = shlex.split(arguments)
        flags = [word for word in words if word.startswith("--")]
        if any(flag.startswith("--from=") for flag in flags):
            continue
        rest = [word for word in words if not word.startswith("--")]
        paths = json.loads(arguments[arguments.index("[") :]) if arguments.endswith("]") else rest
        assert len(paths) >= 2, f"{dockerfile.name}: {instruction} {arguments}"
        sources.extend(paths[:-1])
    return sources


def _pattern(glob: str) -> re.Pattern:
    """A Docker path pattern (Go's filepath.Match, plus `**`) as a regular expression."""
    out, i = "", 0
    while i < len(glob):
        if glob.startswith("**", i):
            out, i = out + ".*", i + 2
        elif glob[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif glob[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(glob[i]), i + 1
    return re.compile(out)


def dockerignore_admits(path: str, lines: list[str]) -> bool:
    """Whether .dockerignore lets `path` into the context: the last pattern that matches the path
    or one of its parent folders decides, and `!` patterns let paths back in."""
    admitted = True
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = _pattern(line.lstrip("!").strip("/"))
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            admitted = negated
    return admitted


DOCKERIGNORE = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def context(tmp_path_factory) -> Path:
    """What `build_images.sh context` writes, under a temporary root standing for the repository."""
    root = tmp_path_factory.mktemp("context")
    proc = subprocess.run(
        ["bash", str(SCRIPT), "context", str(root)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    return root


def test_the_script_builds_every_dockerfile_in_the_repository():
    on_disk = sorted(path.relative_to(REPO).as_posix() for path in REPO.glob("*/Dockerfile"))
    assert sorted(IMAGES) == on_disk


@pytest.mark.parametrize("dockerfile", IMAGES)
def test_every_copy_source_is_written_by_the_script(dockerfile, context):
    sources = context_sources(REPO / dockerfile)
    assert sources, f"{dockerfile} copies nothing from the context"
    for source in sources:
        matches = list(context.glob(source.rstrip("/")))
        assert matches, f"{dockerfile}: COPY {source}, which build_images.sh does not write"
        if source.endswith("/"):
            assert all(match.is_dir() for match in matches), f"{source} is not a folder"
        for match in matches:
            relative = match.relative_to(context).as_posix()
            assert dockerignore_admits(relative, DOCKERIGNORE), f".dockerignore drops {relative}"


def test_every_file_the_script_writes_is_copied_by_a_dockerfile(context):
    sources = [source for dockerfile in IMAGES for source in context_sources(REPO / dockerfile)]
    used = {
        path
        for source in sources
        for match in context.glob(source.rstrip("/"))
        for path in ([match, *match.rglob("*")] if match.is_dir() else [match])
    }
    written = {path for path in (context / CONTEXT_DIR).rglob("*") if path.is_file()}
    assert written, "build_images.sh context wrote nothing"
    unused = sorted(path.relative_to(context).as_posix() for path in written - used)
    assert not unused, f"build_images.sh writes what no Dockerfile copies: {unused}"


def test_the_context_holds_nothing_else(context):
    # Only build/images/ is admitted, so nothing the script did not write reaches a build.
    for path in ("setup.cfg", "tools/build_images.sh", "training/Dockerfile", ".venv/bin/python"):
        assert not dockerignore_admits(path, DOCKERIGNORE), path
    assert [path.name for path in context.iterdir()] == ["build"]


def test_each_image_gets_the_pinned_requirements_of_its_extra(context):
    for dockerfile in IMAGES:
        extra = Path(dockerfile).parent.name
        lines = (context / CONTEXT_DIR / extra / "requirements.txt").read_text().splitlines()
        requirements = [line for line in lines if line and not line.startswith("#")]
        assert requirements and all("==" in line for line in requirements), requirements
    training = (context / CONTEXT_DIR / "training" / "requirements.txt").read_text()
    assert "lightfm-next==" in training


def test_the_contract_checks_can_fail(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM x AS a\n"
        "# COPY commented/out /nowhere\n"
        "COPY --chown=1:1 build/images/a.whl \\\n"
        "    build/images/b/ /dest/\n"
        'COPY ["build/images/c.txt", "/c.txt"]\n'
        "COPY --from=a /wheels/ /w/\n"
        "ADD build/other.tar /o/\n"
    )
    assert context_sources(dockerfile) == [
        "build/images/a.whl",
        "build/images/b/",
        "build/images/c.txt",
        "build/other.tar",
    ]
    lines = ["*", "!build/images/"]
    assert dockerignore_admits("build/images/x/requirements.txt", lines)
    assert not dockerignore_admits("build/other.tar", lines)
    assert not dockerignore_admits("build/images/x", [*lines, "**/x"])


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["push"], {}, "set IMAGE to the registry tag to push"),
        (["build"], {"IMAGE": "r/x:1"}, "IMAGE tags one image; name its Dockerfile"),
        (["build", "charts/Dockerfile"], {}, "is not one of the images"),
    ],
)
def test_the_script_refuses_an_ambiguous_tag_before_touching_docker(args, env, message):
    proc = subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr


# --- the pipeline's image job ---------------------------------------------------------------


def test_the_pipeline_builds_every_image_the_script_builds():
    built = [image["dockerfile"] for image in images_job_parameters()["images"]]
    assert built == list(IMAGES)


def test_the_image_job_builds_and_pushes_only_through_the_script():
    steps = images_job_scripts()
    builds = [
        step
        for step in steps
        if step.script.split()[:3] == ["bash", str(SCRIPT.relative_to(REPO)), "build"]
    ]
    pushes = [step for step in steps if step.script == f"bash {SCRIPT.relative_to(REPO)} push"]
    assert [step.env["DOCKERFILE"] for step in builds] == list(IMAGES)
    assert [step.env["IMAGE"] for step in pushes] == [step.env["IMAGE"] for step in builds]
    assert len(builds) + len(pushes) == len(steps), "a script step that is neither"
    parameters = images_job_parameters()
    for step in builds:
        assert step.env["BASE_IMAGE"] == parameters["baseImage"]
        assert step.env["IMAGE"].startswith(parameters["registry"] + "/")
        assert step.env["IMAGE"].endswith(":" + parameters["tag"])
        # Tags and paths reach the script as environment variables, never spliced into the line.
        assert "${{" not in step.script and "$(" not in step.script


def test_the_image_job_has_no_build_of_its_own():
    text = IMAGES_JOB.read_text(encoding="utf-8")
    assert not re.search(r"docker\s+(build|buildx|push)|pip\s+wheel", text)
    document = expand(load(IMAGES_JOB))
    tasks = [
        step
        for step in document["jobs"][0]["steps"]
        if str(step.get("task", "")).startswith("Docker@")
    ]
    assert {step["inputs"]["command"] for step in tasks} == {"login", "logout"}


def test_the_pipeline_base_image_is_the_dockerfiles_default():
    for dockerfile in IMAGES:
        text = (REPO / dockerfile).read_text(encoding="utf-8")
        default = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.MULTILINE)
        assert default and default.group(1) == images_job_parameters()["baseImage"], dockerfile
