"""Read the interaction export under DATA_URI into compact arrays, with a snapshot record.

Every `.csv` file under the export folder is read, in sorted key order so two runs over
the same files see the same rows in the same order. The header must name `user_id` and
`item_id`, optionally one of `weight` or `rating`, and optionally `timestamp` (unix
seconds or ISO 8601). Any problem stops the run with the file and line named, because a
model trained on half-understood data must not be published.

Exports reach hundreds of millions of rows, so files are read one at a time by pyarrow's
CSV reader (whole on its threads up to WHOLE_FILE_BYTES, in blocks beyond), and each block
is reduced at once to what training keeps (two int32 id indices, a float64 timestamp) with
its ids dictionary-encoded, so memory grows with the interactions kept, not with the text.
Ids get their indices in order of first appearance when the blocks' dictionaries are
unified at the end. A file pyarrow will not take as it is (a malformed line, an ISO
timestamp, a bad number) is read again line by line by the checker below, which names the
file and line of any problem, or reads it if there is none: the fast path never decides
what is valid.

The snapshot (path, size and sha256 of every file read) goes into the model manifest, so a
model version can be traced back to its exact input bytes.
"""

import concurrent.futures
import contextlib
import csv
import dataclasses
import hashlib
import logging
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from mlrelease.errors import InputError
from mlrelease.store import Store, open_store
from mlrelease.store.local import LocalStore

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("user_id", "item_id")
VALUE_COLUMNS = ("weight", "rating")
KNOWN_COLUMNS = (*REQUIRED_COLUMNS, *VALUE_COLUMNS, "timestamp")
# A file up to this size is parsed whole by pyarrow's threads (the fastest way to read it);
# a larger one is streamed block by block, so memory stays bounded whatever a file holds.
WHOLE_FILE_BYTES = 256 * 1024 * 1024
# The streaming reader parses this much text at a time.
BLOCK_BYTES = 4 * 1024 * 1024
_HASH_CHUNK = 4 * 1024 * 1024


@dataclasses.dataclass
class Interactions:
    """Deduplicated interactions: parallel arrays of internal user/item indexes.

    `timestamps` is None unless every row had one. `user_ids[n]` / `item_ids[n]` are the
    external ids of internal index n, in order of first appearance.
    """

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray | None
    user_ids: list[str]
    item_ids: list[str]
    snapshot: list[dict]
    rows_read: int
    rows_below_min_rating: int

    @property
    def n_users(self) -> int:
        """Number of distinct users kept."""
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Number of distinct items kept."""
        return len(self.item_ids)


def read_interactions(data_uri: str, *, min_rating: float = 0.0) -> Interactions:
    """Read and check every CSV under `data_uri`; raise InputError naming file and line.

    Rows whose rating (or weight) is below `min_rating` are dropped; a repeated
    user/item pair counts once (its latest timestamp is kept).
    """
    store = open_store(data_uri)
    keys = [key for key in store.list() if key.lower().endswith(".csv")]
    if not keys:
        raise InputError(
            f"no CSV files under DATA_URI {store.uri}: the export is empty or DATA_URI points "
            "at the wrong folder (expected <root>/<yyyy>/<mm>/<dd>/*.csv)"
        )
    reader = _Accumulator(min_rating)
    snapshot = []
    for key in keys:
        with _local_file(store, key) as (path, digest):
            rows = reader.read_file(store.key_uri(key), path)
            size, sha256 = digest()
            snapshot.append({"path": key, "size": size, "sha256": sha256})
        log.info("read %s: %d rows", store.key_uri(key), rows)
    if not reader.kept:
        raise InputError(
            f"the export under {store.uri} holds no interactions"
            + (
                f" at or above MIN_RATING={min_rating:g} ({reader.below} rows were below it)"
                if reader.below
                else " (every file has a header and no rows)"
            )
        )
    return reader.finish(snapshot)


@contextlib.contextmanager
def _local_file(store: Store, key: str) -> Iterator[tuple[Path, Callable[[], tuple[int, str]]]]:
    """A local path to `key` and a function giving its size and sha256.

    A local file is hashed on another thread while it is parsed (hashlib releases the
    GIL); a remote one is spooled to /tmp, hashed as it streams, and removed after use.
    """
    if isinstance(store, LocalStore):
        path = store.root.joinpath(*key.split("/"))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            hashed = pool.submit(_sha256, path)
            yield path, hashed.result
        return
    folder = Path(tempfile.mkdtemp(prefix="export-"))
    try:
        path = folder / "part.csv"
        sink = _HashingFile(path)
        with sink:
            store.read_into(key, sink)
        yield path, lambda: (sink.size, sink.digest.hexdigest())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class _HashingFile:
    """A file written in order whose sha256 and size are known when it is closed."""

    def __init__(self, path: Path) -> None:
        self._handle = open(path, "xb")  # noqa: SIM115 - closed by __exit__
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self._handle.write(data)

    def __enter__(self) -> "_HashingFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


class _FileRows:
    """What one file contributed: dictionary-encoded ids, timestamps, counts."""

    def __init__(self) -> None:
        self.users: list[pa.DictionaryArray] = []
        self.items: list[pa.DictionaryArray] = []
        self.timestamps: list[np.ndarray] = []
        self.timestamped = True
        self.rows = 0
        self.below = 0


class _Fallback(Exception):
    """The fast reader cannot take this file as it is; the line-by-line checker decides."""


class _Accumulator:
    """Collects the files' rows; ids are unified across files in `finish`."""

    def __init__(self, min_rating: float) -> None:
        self.min_rating = min_rating
        self.users: list[pa.DictionaryArray] = []
        self.items: list[pa.DictionaryArray] = []
        self.timestamps: list[np.ndarray] = []
        self.all_timestamped = True
        self.rows = 0
        self.below = 0
        self.kept = 0

    def read_file(self, name: str, path: Path) -> int:
        header = _header(name, path)
        columns = self._columns(name, [column.strip().lower() for column in header])
        value_col = columns.get("weight", columns.get("rating"))
        if value_col is None and self.min_rating > 0:
            log.warning("%s has no rating or weight column: MIN_RATING does not apply", name)
        try:
            rows = self._read_fast(path, header, columns)
        except _Fallback as reason:
            log.info("%s: reading line by line (%s)", name, reason)
            rows = self._read_checked(name, path, header, columns)
        self.users += rows.users
        self.items += rows.items
        self.timestamps += rows.timestamps
        self.all_timestamped &= rows.timestamped
        self.rows += rows.rows
        self.below += rows.below
        self.kept += sum(len(chunk) for chunk in rows.users)
        return rows.rows

    def _read_fast(self, path: Path, header: list[str], columns: dict[str, int]) -> _FileRows:
        names = [f"c{n}" for n in range(len(header))]  # header names are checked, not used
        user, item = names[columns["user_id"]], names[columns["item_id"]]
        value_index = columns.get("weight", columns.get("rating"))
        value = names[value_index] if value_index is not None else None
        stamp = names[columns["timestamp"]] if "timestamp" in columns else None
        types = {user: pa.string(), item: pa.string()}
        types.update({name: pa.float64() for name in (value, stamp) if name is not None})
        rows = _FileRows()
        rows.timestamped = stamp is not None
        read_options = pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=BLOCK_BYTES)
        convert_options = pacsv.ConvertOptions(
            column_types=types,
            include_columns=list(types),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        try:
            if path.stat().st_size <= WHOLE_FILE_BYTES:
                batches = pacsv.read_csv(
                    path, read_options=read_options, convert_options=convert_options
                ).to_batches()
            else:
                batches = pacsv.open_csv(
                    path, read_options=read_options, convert_options=convert_options
                )
            for batch in batches:
                self._add_batch(rows, batch, user, item, value, stamp)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise _Fallback(str(error).splitlines()[0]) from None
        return rows

    def _add_batch(
        self,
        rows: _FileRows,
        batch: pa.RecordBatch,
        user: str,
        item: str,
        value: str | None,
        stamp: str | None,
    ) -> None:
        rows.rows += batch.num_rows
        keep = None
        if value is not None:
            values = _finite(batch.column(value), "a rating or weight")
            below = values < self.min_rating
            if below.any():
                rows.below += int(below.sum())
                keep = pa.array(~below)
        users = _ids(batch.column(user), keep)
        items = _ids(batch.column(item), keep)
        rows.users.append(users)
        rows.items.append(items)
        if stamp is not None:
            stamps = _finite(batch.column(stamp), "a timestamp")
            rows.timestamps.append(stamps if keep is None else stamps[~below])
        else:
            rows.timestamps.append(np.zeros(len(users)))

    def _read_checked(
        self, name: str, path: Path, header: list[str], columns: dict[str, int]
    ) -> _FileRows:
        """The line-by-line reader: slow, and exact about what is wrong and where."""
        width = len(header)
        user_col, item_col = columns["user_id"], columns["item_id"]
        value_col = columns.get("weight", columns.get("rating"))
        time_col = columns.get("timestamp")
        result = _FileRows()
        result.timestamped = time_col is not None
        user_index: dict[str, int] = {}
        item_index: dict[str, int] = {}
        users: list[int] = []
        items: list[int] = []
        stamps: list[float] = []
        try:
            with open(path, encoding="utf-8-sig", newline="") as handle:
                rows = csv.reader(handle)
                next(rows, None)
                for fields in rows:
                    line = rows.line_num
                    if not fields:
                        continue  # a blank line, e.g. a trailing newline
                    if len(fields) != width:
                        raise InputError(
                            f"{name}, line {line}: expected {width} fields like the header, "
                            f"got {len(fields)}: {','.join(fields)[:200]!r}"
                        )
                    user, item = fields[user_col].strip(), fields[item_col].strip()
                    if not user or not item:
                        raise InputError(
                            f"{name}, line {line}: user_id and item_id must not be empty"
                        )
                    result.rows += 1
                    if value_col is not None:
                        value = _number(name, line, header[value_col], fields[value_col])
                        if value < self.min_rating:
                            result.below += 1
                            continue
                    timestamp = (
                        _timestamp(name, line, fields[time_col]) if time_col is not None else 0.0
                    )
                    users.append(user_index.setdefault(user, len(user_index)))
                    items.append(item_index.setdefault(item, len(item_index)))
                    stamps.append(timestamp)
        except UnicodeDecodeError as error:
            raise InputError(f"{name}: not UTF-8 text ({error}); export the CSV as UTF-8") from None
        except csv.Error as error:
            raise InputError(f"{name}, line {rows.line_num}: not valid CSV ({error})") from None
        if users:
            result.users.append(_encoded(users, user_index))
            result.items.append(_encoded(items, item_index))
            result.timestamps.append(np.array(stamps, dtype=np.float64))
        return result

    @staticmethod
    def _columns(name: str, header: list[str]) -> dict[str, int]:
        expected = "expected user_id,item_id[,weight|rating][,timestamp]"
        missing = [column for column in REQUIRED_COLUMNS if column not in header]
        if missing:
            raise InputError(
                f"{name}, line 1: header {','.join(header)!r} lacks column "
                f"{', '.join(missing)}; {expected}"
            )
        unknown = [column for column in header if column not in KNOWN_COLUMNS]
        if unknown:
            raise InputError(
                f"{name}, line 1: unknown column {', '.join(unknown)} in header; {expected}"
            )
        if len(set(header)) != len(header) or all(column in header for column in VALUE_COLUMNS):
            raise InputError(
                f"{name}, line 1: header {','.join(header)!r} repeats a column or has both "
                f"weight and rating; {expected}"
            )
        return {column: header.index(column) for column in header}

    def finish(self, snapshot: list[dict]) -> Interactions:
        # Unifying the blocks' dictionaries in block order numbers every id by its first
        # appearance in the export, as a running dict would, without a Python object per row.
        user_ids, users = _unified(self.users)
        item_ids, items = _unified(self.items)
        self.users, self.items = [], []
        stamps = np.concatenate(self.timestamps)
        self.timestamps = []
        # One row per pair, in (user, item) order, with the pair's latest timestamp: one
        # sort of a combined key and a maximum per run (a lexsort that also ordered by time
        # would be several times slower, and only the latest time is kept).
        pairs = users.astype(np.int64) * max(len(item_ids), 1) + items
        order = np.argsort(pairs, kind="stable")
        pairs = pairs[order]
        starts = np.flatnonzero(np.r_[True, pairs[1:] != pairs[:-1]])
        first = order[starts]
        latest = np.maximum.reduceat(stamps[order], starts) if len(starts) else stamps[:0]
        del order, pairs
        return Interactions(
            users=users[first],
            items=items[first],
            timestamps=latest if self.all_timestamped else None,
            user_ids=user_ids,
            item_ids=item_ids,
            snapshot=snapshot,
            rows_read=self.rows,
            rows_below_min_rating=self.below,
        )


def _header(name: str, path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError as error:
        raise InputError(f"{name}: not UTF-8 text ({error}); export the CSV as UTF-8") from None
    except csv.Error as error:
        raise InputError(f"{name}, line 1: not valid CSV ({error})") from None
    if header is None:
        raise InputError(
            f"{name}, line 1: the file is empty; a header is required: "
            "user_id,item_id[,weight|rating][,timestamp]"
        )
    return header


def _finite(column: pa.Array, what: str) -> np.ndarray:
    if column.null_count:
        raise _Fallback(f"a missing {what}")
    values = column.to_numpy(zero_copy_only=False)
    if not np.isfinite(values).all():
        raise _Fallback(f"{what} that is not a finite number")
    return values


def _ids(column: pa.StringArray, keep: pa.Array | None) -> pa.DictionaryArray:
    """The block's ids, trimmed, with a dictionary of only the ids of the kept rows.

    Trimming and checking the dictionary, not every row, keeps this cheap: a block repeats
    its ids many times.
    """
    if column.null_count:
        raise _Fallback("an empty id")
    # Rows below MIN_RATING give their ids no index, as if those rows were not there.
    column = (column if keep is None else column.filter(keep)).dictionary_encode()
    dictionary = column.dictionary
    trimmed = pc.utf8_trim_whitespace(dictionary)
    if len(trimmed) and pc.min(pc.binary_length(trimmed)).as_py() == 0:
        raise _Fallback("an empty id")
    if not trimmed.equals(dictionary):
        # " u1" and "u1" are one id: merge their entries, keeping first-appearance order.
        merged = trimmed.dictionary_encode()
        return pa.DictionaryArray.from_arrays(
            merged.indices.take(column.indices), merged.dictionary
        )
    return column


def _encoded(indices: list[int], ids: dict[str, int]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(indices, type=pa.int32()), pa.array(list(ids), type=pa.string())
    )


def _unified(chunks: list[pa.DictionaryArray]) -> tuple[list[str], np.ndarray]:
    """The ids in order of first appearance and every row's index into them."""
    unified = pa.chunked_array(chunks).unify_dictionaries()
    ids = unified.chunk(0).dictionary.to_pylist() if unified.num_chunks else []
    indices = np.empty(len(unified), dtype=np.int32)
    offset = 0
    for chunk in unified.chunks:
        size = len(chunk)
        indices[offset : offset + size] = chunk.indices.to_numpy(zero_copy_only=False)
        offset += size
    return ids, indices


def _number(name: str, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InputError(f"{name}, line {line}: {column} {text!r} is not a number")
    return value


def _timestamp(name: str, line: int, text: str) -> float:
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(
                f"{name}, line {line}: timestamp {text!r} is neither unix seconds nor "
                "ISO 8601 (e.g. 2026-11-27T08:00:00Z)"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    if not math.isfinite(value):
        raise InputError(f"{name}, line {line}: timestamp {text!r} is not a number")
    return value
