"""A model store in a local folder (a developer's disk or a volume mounted into a pod).

`write_once` writes a hidden temporary file next to the target and then hard-links it
into place: `os.link` fails if the target exists, so a racing writer loses, and a reader
never sees a half-written file under the real name.
"""

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from mlrelease.store import (
    AlreadyExistsError,
    NotFoundError,
    Store,
    StoreError,
    check_key,
    join_key,
)

# Temporary files carry this marker so a listing never reports one (a crashed writer
# may leave one behind; it is not part of any model version).
_TEMP_MARKER = ".write-once-"

# Streamed copies move this much at a time: large enough for full-speed I/O, small
# enough that a download never holds a model file in memory.
_CHUNK_BYTES = 4 * 1024 * 1024

# Filesystems without hard links (some network shares) report one of these; there we
# fall back to an exclusive create, which still never overwrites.
_NO_LINK_ERRNOS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}


class LocalStore(Store):
    """A store rooted at a local folder; the folder is created on first write."""

    def __init__(self, root: Path, uri: str) -> None:
        self.root = root
        self.uri = uri

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def entries(self, prefix: str = "") -> dict[str, int]:
        # Walk only the folder the prefix names, not the whole store.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        found: dict[str, int] = {}
        try:
            for dirpath, _dirnames, filenames in os.walk(start, onerror=_raise):
                for filename in filenames:
                    if filename.startswith(".") and _TEMP_MARKER in filename:
                        continue
                    path = Path(dirpath, filename)
                    key = path.relative_to(self.root).as_posix()
                    if key.startswith(prefix):
                        found[key] = path.stat().st_size
        except FileNotFoundError:
            return found
        except OSError as error:
            raise StoreError(f"cannot list {self.uri}: {error.strerror or error}") from None
        return found

    def read_bytes(self, key: str) -> bytes:
        with self._reading(key):
            return self._path(key).read_bytes()

    def read_into(self, key: str, sink: BinaryIO) -> None:
        with self._reading(key), open(self._path(key), "rb") as source:
            shutil.copyfileobj(source, sink, _CHUNK_BYTES)

    @contextlib.contextmanager
    def _reading(self, key: str) -> Iterator[None]:
        """A missing file as NotFoundError, any other OS error as StoreError, one line each."""
        try:
            yield
        except FileNotFoundError:
            raise NotFoundError(f"{self.key_uri(key)} does not exist") from None
        except OSError as error:
            raise StoreError(
                f"cannot read {self.key_uri(key)}: {error.strerror or error}"
            ) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def write_once(self, key: str, data: bytes) -> None:
        target = self._path(key)
        temp = target.with_name(f".{target.name}{_TEMP_MARKER}{secrets.token_hex(6)}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                raise AlreadyExistsError(f"{self.key_uri(key)} already exists")
            with open(temp, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temp, target)
            except FileExistsError:
                raise AlreadyExistsError(f"{self.key_uri(key)} already exists") from None
            except OSError as error:
                if error.errno not in _NO_LINK_ERRNOS:
                    raise
                _exclusive_create(target, data, self.key_uri(key))
            fsync_path(target.parent)
        except StoreError:
            raise
        except OSError as error:
            raise StoreError(
                f"cannot write {self.key_uri(key)}: {error.strerror or error}"
            ) from None
        finally:
            # Best effort: the temporary name is never listed, so a leftover is harmless.
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
            # Empty folders left behind would read as versions that "hold nothing yet".
            for folder in path.parents:
                if folder == self.root or not folder.is_relative_to(self.root):
                    break
                if any(folder.iterdir()):
                    break
                folder.rmdir()
        except OSError as error:
            raise StoreError(
                f"cannot delete {self.key_uri(key)}: {error.strerror or error}"
            ) from None

    def child(self, *parts: str) -> "LocalStore":
        key = join_key(*parts)
        return LocalStore(self.root.joinpath(*key.split("/")), f"{self.uri.rstrip('/')}/{key}")


def _exclusive_create(target: Path, data: bytes, uri: str) -> None:
    try:
        with open(target, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except FileExistsError:
        raise AlreadyExistsError(f"{uri} already exists") from None


def fsync_path(path: Path) -> None:
    """Flush a file or a folder (making new names in it durable); not every platform lets a
    folder be opened, and there it does nothing."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _raise(error: OSError) -> None:
    raise error
