"""YAML and file output, configured once: round-trip loading, stable dumping, atomic writes.

Round-trip mode keeps comments, key order and quoting, so a values file rewritten by a tool
diffs only where a value changed. Every file is written to a temporary sibling and renamed
into place, so a failure never leaves a half-written file behind.
"""

import copy
import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import ScalarString, SingleQuotedScalarString

from mlrelease.errors import InputError


def _round_trip() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def load_path(path: str | os.PathLike[str]) -> Any:
    """Load one YAML document for round-trip editing; InputError names the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read {os.fspath(path)}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise InputError(f"{os.fspath(path)} is not UTF-8 text; save it as UTF-8") from error
    return loads(text, source=os.fspath(path))


def loads(text: str, source: str = "<string>") -> Any:
    """Parse YAML text for round-trip editing; InputError names the source and line."""
    try:
        return _round_trip().load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise InputError(f"{source}:{where} is not valid YAML: {problem}") from error
    except RecursionError:
        raise InputError(f"{source} is nested too deeply to be a values file") from None
    except Exception as error:
        # ruamel.yaml's constructors raise what they meet for a tag they cannot honour
        # (`!!float x` a ValueError, `!!bool maybe` a KeyError, `!!set 1` an
        # AttributeError): for text from a user, each of these means the text is wrong.
        raise InputError(
            f"{source} is not valid YAML: {type(error).__name__}: {error}; check its tags "
            "(!!float, !!int, ...) and their values"
        ) from None


def dumps(data: Any) -> str:
    """Serialise data (plain or round-trip) as block-style YAML that Helm reads back as written."""
    stream = io.StringIO()
    _round_trip().dump(_quote_ambiguous(data), stream)
    return stream.getvalue()


def _yaml_1_1() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 1)
    return yaml


_YAML_1_1 = _yaml_1_1()


def _quote_ambiguous(node: Any) -> Any:
    """A copy of node whose plain strings a YAML 1.1 reader would read back as strings.

    ruamel.yaml writes YAML 1.2, where `yes`, `on` and `1:20` are strings, but Helm reads
    values with a YAML 1.1 parser that turns them into booleans and numbers. Containers are
    shallow-copied (which keeps round-trip comments), never changed in place.
    """
    if isinstance(node, dict):
        result = copy.copy(node)
        for key, value in node.items():
            result[key] = _quote_ambiguous(value)
        return result
    if isinstance(node, list):
        result = copy.copy(node)
        for index, value in enumerate(node):
            result[index] = _quote_ambiguous(value)
        return result
    if isinstance(node, str) and not isinstance(node, ScalarString) and node:
        try:
            with warnings.catch_warnings():
                # YAML 1.1 pedantry about floats such as 1e3: the answer is all we need.
                warnings.simplefilter("ignore")
                reread = _YAML_1_1.load(node)
        except YAMLError:
            return node
        if not isinstance(reread, str):
            return SingleQuotedScalarString(node)
    return node


def check_output_file(path: str | os.PathLike[str], flag: str) -> Path:
    """Refuse an output path that cannot become a file, before any work is done.

    Commands call this for every output up front, so a bad `--out` fails with the fix
    instead of a traceback after half the outputs were written.
    """
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{flag} {os.fspath(path)} is a folder; give a file path")
    _check_folder_can_exist(target.parent, flag, os.fspath(path))
    return target


def check_output_folder(path: str | os.PathLike[str], flag: str) -> Path:
    """Refuse an output folder that exists as a file or lies under a file."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InputError(f"{flag} {os.fspath(path)} is a file, not a folder; give a folder path")
    _check_folder_can_exist(target, flag, os.fspath(path))
    return target


def _check_folder_can_exist(folder: Path, flag: str, given: str) -> None:
    for ancestor in (folder, *folder.parents):
        if ancestor.is_dir():
            return
        if ancestor.exists() or ancestor.is_symlink():
            raise InputError(
                f"{flag} {given}: {os.fspath(ancestor)} is not a folder, so nothing can be "
                "written under it; choose another path"
            )


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write text to path via a temporary file in the same folder and a rename."""
    target = check_output_file(path, "output")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
