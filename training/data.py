"""Read the interaction export under DATA_URI into compact arrays, with a snapshot record.

Every `.csv` file under the export folder is read, in sorted key order so two runs over
the same files see the same rows in the same order. The header must name `user_id` and
`item_id`, optionally one of `weight` or `rating`, and optionally `timestamp` (unix
seconds or ISO 8601). Any problem stops the run with the file and line named, because a
model trained on half-understood data must not be published.

Exports reach hundreds of millions of rows, so files are read one at a time by pyarrow's
CSV reader (whole on its threads up to WHOLE_FILE_BYTES, in blocks beyond), only the
columns training keeps, and each file (or block) is reduced at once to two int32 id
indices and a float64 timestamp, so memory grows with the interactions kept, not with the
text. Reducing a file is mostly hashing its ids, which is done in C++ on two worker
threads (users and items at once) while the next file parses, and while a third thread
hashes the file for the snapshot: on two cores nothing waits for one Python thread. Ids
get their indices in order of first appearance when the files' dictionaries are encoded
together at the end. A file pyarrow will not take as it is (a malformed line, an ISO
timestamp, a bad number) is read again line by line by the checker below, which names the
file and line of any problem, or reads it if there is none: the fast path never decides
what is valid.

Repeated user/item pairs are found by sorting one int64 key per row (user * n_items +
item), on two cores; the row number rides in the key's low bits when it fits, so a plain
sort stands in for a much slower argsort.

The snapshot (path, size and sha256 of every file read) goes into the model manifest, so a
model version can be traced back to its exact input bytes.
"""

import collections
import concurrent.futures
import contextlib
import csv
import dataclasses
import hashlib
import logging
import math
import shutil
import tempfile
import time
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
# The streaming reader lets this many blocks wait for their ids, so memory stays bounded.
_BLOCKS_IN_FLIGHT = 2
# Below this many keys one sort on one core is as fast as splitting it over two.
_PARALLEL_SORT_KEYS = 1 << 20
# Row numbers are written into the sort keys this many at a time, through a small buffer
# rather than one as large as the keys.
_ROW_NUMBERS_AT_ONCE = 1 << 22

# One file's (or block's) ids: its distinct ids, trimmed, in order of first appearance
# (" u1" and "u1" may both be there, merged later) and each kept row's index into them.
_Part = tuple[pa.Array, np.ndarray]
# A file's (or block's) timestamps: pyarrow's arrays from the fast path, numpy's from the
# checker.
_Float64s = pa.Array | pa.ChunkedArray | np.ndarray


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
    snapshot: list[dict] = []
    # A file's ids are encoded on the workers while the next file parses, so its local copy
    # stays open (in case the checker must read it again) until it is finished. Files are
    # finished in order, so the first bad file is the one named.
    opened: collections.deque[_OpenFile] = collections.deque()

    def finish_oldest() -> None:
        file = opened.popleft()
        with file.stack:
            rows = file.finish()
            size, sha256 = file.digest()
        snapshot.append({"path": file.key, "size": size, "sha256": sha256})
        log.info("read %s: %d rows", store.key_uri(file.key), rows)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        try:
            for key in keys:
                with contextlib.ExitStack() as stack:
                    path, digest = stack.enter_context(_local_file(store, key))
                    try:
                        finish = reader.start_file(store.key_uri(key), path, pool)
                    except InputError:
                        while opened:  # an earlier file's problem comes first
                            finish_oldest()
                        raise
                    opened.append(_OpenFile(key, stack.pop_all(), finish, digest))
                if len(opened) > 1:
                    finish_oldest()
            while opened:
                finish_oldest()
        finally:
            while opened:
                opened.popleft().stack.close()
    log.info("read %d files in %.2f s", len(keys), time.perf_counter() - started)
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


@dataclasses.dataclass
class _OpenFile:
    """A file being read: its local copy, how to finish reading it, and its digest."""

    key: str
    stack: contextlib.ExitStack
    finish: Callable[[], int]
    digest: Callable[[], tuple[int, str]]


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
    """What one file (or block) contributed: its ids, timestamps and counts."""

    def __init__(self, timestamped: bool) -> None:
        self.users: list[_Part] = []
        self.items: list[_Part] = []
        self.timestamps: list[_Float64s] = []
        self.timestamped = timestamped
        self.rows = 0
        self.below = 0

    def extend(self, other: "_FileRows") -> None:
        self.users += other.users
        self.items += other.items
        self.timestamps += other.timestamps
        self.rows += other.rows
        self.below += other.below


class _Fallback(Exception):
    """The fast reader cannot take this file as it is; the line-by-line checker decides."""


class _Accumulator:
    """Collects the files' rows; ids are unified across files in `finish`."""

    def __init__(self, min_rating: float) -> None:
        self.min_rating = min_rating
        self.users: list[_Part] = []
        self.items: list[_Part] = []
        self.timestamps: list[_Float64s] = []
        self.all_timestamped = True
        self.rows = 0
        self.below = 0
        self.kept = 0

    def start_file(
        self, name: str, path: Path, pool: concurrent.futures.Executor
    ) -> Callable[[], int]:
        """Check the header and parse the file; the function returned adds its rows.

        The ids are still being encoded on `pool` when this returns, so the caller can
        parse the next file meanwhile; the function waits for them (or reads the file
        with the checker if the fast path refused it) and returns the file's row count.
        """
        header = _header(name, path)
        columns = self._columns(name, [column.strip().lower() for column in header])
        value_col = columns.get("weight", columns.get("rating"))
        if value_col is None and self.min_rating > 0:
            log.warning("%s has no rating or weight column: MIN_RATING does not apply", name)
        try:
            collect = self._read_fast(path, header, columns, pool)
        except _Fallback as reason:
            collect = _refused(reason)

        def finish() -> int:
            try:
                rows = collect()
            except _Fallback as reason:
                log.info("%s: reading line by line (%s)", name, reason)
                rows = self._read_checked(name, path, header, columns)
            self._add(rows)
            return rows.rows

        return finish

    def _add(self, rows: _FileRows) -> None:
        self.users += rows.users
        self.items += rows.items
        self.all_timestamped &= rows.timestamped
        # Timestamps are kept only if every row has one: drop them as soon as one lacks it.
        self.timestamps = self.timestamps + rows.timestamps if self.all_timestamped else []
        self.rows += rows.rows
        self.below += rows.below
        self.kept += sum(len(indices) for _, indices in rows.users)

    def _read_fast(
        self,
        path: Path,
        header: list[str],
        columns: dict[str, int],
        pool: concurrent.futures.Executor,
    ) -> Callable[[], _FileRows]:
        names = [f"c{n}" for n in range(len(header))]  # header names are checked, not used
        user, item = names[columns["user_id"]], names[columns["item_id"]]
        value_index = columns.get("weight", columns.get("rating"))
        value = names[value_index] if value_index is not None else None
        stamp = names[columns["timestamp"]] if "timestamp" in columns else None
        types = {user: pa.string(), item: pa.string()}
        types.update({name: pa.float64() for name in (value, stamp) if name is not None})
        read_options = pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=BLOCK_BYTES)
        convert_options = pacsv.ConvertOptions(
            column_types=types,
            include_columns=list(types),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )

        def reduce(data: pa.Table | pa.RecordBatch) -> Callable[[], _FileRows]:
            return self._reduce(data, pool, user, item, value, stamp)

        try:
            if path.stat().st_size <= WHOLE_FILE_BYTES:
                return reduce(
                    pacsv.read_csv(path, read_options=read_options, convert_options=convert_options)
                )
            rows = _FileRows(timestamped=stamp is not None)
            waiting: collections.deque[Callable[[], _FileRows]] = collections.deque()
            for batch in pacsv.open_csv(
                path, read_options=read_options, convert_options=convert_options
            ):
                waiting.append(reduce(batch))
                if len(waiting) > _BLOCKS_IN_FLIGHT:
                    rows.extend(waiting.popleft()())
            while waiting:
                rows.extend(waiting.popleft()())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise _Fallback(str(error).splitlines()[0]) from None
        return lambda: rows

    def _reduce(
        self,
        data: pa.Table | pa.RecordBatch,
        pool: concurrent.futures.Executor,
        user: str,
        item: str,
        value: str | None,
        stamp: str | None,
    ) -> Callable[[], _FileRows]:
        """Start encoding `data`'s ids on `pool`; the function returned waits for them."""
        rows = _FileRows(timestamped=stamp is not None)
        rows.rows = data.num_rows
        keep = None
        if value is not None:
            below = pc.less(_finite(data.column(value), "a rating or weight"), self.min_rating)
            rows.below = pc.sum(below).as_py() or 0
            if rows.below:
                keep = pc.invert(below)
        if stamp is not None:
            # Kept as pyarrow's arrays: `finish` copies every file's into one array at once.
            stamps = _finite(data.column(stamp), "a timestamp")
            rows.timestamps.append(stamps if keep is None else stamps.filter(keep))
        users = pool.submit(_ids, data.column(user), keep)
        items = pool.submit(_ids, data.column(item), keep)

        def collect() -> _FileRows:
            try:
                rows.users.append(users.result())
                rows.items.append(items.result())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise _Fallback(str(error).splitlines()[0]) from None
            return rows

        return collect

    def _read_checked(
        self, name: str, path: Path, header: list[str], columns: dict[str, int]
    ) -> _FileRows:
        """The line-by-line reader: slow, and exact about what is wrong and where."""
        width = len(header)
        user_col, item_col = columns["user_id"], columns["item_id"]
        value_col = columns.get("weight", columns.get("rating"))
        time_col = columns.get("timestamp")
        result = _FileRows(timestamped=time_col is not None)
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
            result.users.append(_part(users, user_index))
            result.items.append(_part(items, item_index))
            if result.timestamped:
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
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # users and items at once
            unified_items = pool.submit(_unified, self.items)
            user_ids, users = _unified(self.users)
            item_ids, items = unified_items.result()
        self.users, self.items = [], []
        stamps = _concatenated(self.timestamps) if self.all_timestamped else None
        self.timestamps = []
        numbered = time.perf_counter()
        n_items = max(len(item_ids), 1)
        keys = users.astype(np.int64)
        keys *= n_items
        keys += items
        del users, items
        users, items, latest = _deduplicated(keys, len(user_ids), n_items, stamps)
        log.info(
            "ids numbered across files in %.2f s; %d distinct user/item pairs found in %.2f s",
            numbered - started,
            len(users),
            time.perf_counter() - numbered,
        )
        return Interactions(
            users=users,
            items=items,
            timestamps=latest,
            user_ids=user_ids,
            item_ids=item_ids,
            snapshot=snapshot,
            rows_read=self.rows,
            rows_below_min_rating=self.below,
        )


def _refused(reason: _Fallback) -> Callable[[], _FileRows]:
    def collect() -> _FileRows:
        raise reason

    return collect


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


def _finite(column: _Float64s, what: str) -> _Float64s:
    if column.null_count:
        raise _Fallback(f"a missing {what}")
    if len(column) and not pc.all(pc.is_finite(column)).as_py():
        raise _Fallback(f"{what} that is not a finite number")
    return column


def _concatenated(parts: list[_Float64s]) -> np.ndarray:
    """One float64 array of every part's values, copied once."""
    chunks = [
        chunk
        for part in parts
        for chunk in (part.chunks if isinstance(part, pa.ChunkedArray) else [part])
    ]
    result = np.empty(sum(len(chunk) for chunk in chunks), dtype=np.float64)
    offset = 0
    for chunk in chunks:
        values = chunk if isinstance(chunk, np.ndarray) else chunk.to_numpy()
        result[offset : offset + len(values)] = values
        offset += len(values)
    return result


def _ids(column: pa.Array | pa.ChunkedArray, keep: pa.Array | None) -> _Part:
    """The column's ids, trimmed, with only the kept rows' ids and their indices.

    Trimming and checking the dictionary, not every row, keeps this cheap: ids repeat.
    """
    if column.null_count:
        raise _Fallback("an empty id")
    # Rows below MIN_RATING give their ids no index, as if those rows were not there.
    ids, indices = _encoded(column if keep is None else column.filter(keep))
    trimmed = pc.utf8_trim_whitespace(ids)
    if len(trimmed) and pc.min(pc.binary_length(trimmed)).as_py() == 0:
        raise _Fallback("an empty id")
    return trimmed, indices


def _encoded(column: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """`column`'s distinct values in order of first appearance, and each row's index.

    One hash table serves a whole chunked column (pyarrow gives every chunk the same
    dictionary), which is cheaper than a table per block and unifying them afterwards.
    """
    encoded = pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        chunks = encoded.chunks
        addresses = {chunk.dictionary.buffers()[1].address for chunk in chunks}
        if len(addresses) > 1:  # not shared after all: unify, which keeps the order
            chunks = encoded.unify_dictionaries().chunks
    else:
        chunks = [encoded]
    if not chunks:
        return pa.array([], type=column.type), np.empty(0, dtype=np.int32)
    indices = [chunk.indices.to_numpy() for chunk in chunks]
    return chunks[0].dictionary, indices[0] if len(indices) == 1 else np.concatenate(indices)


def _part(indices: list[int], ids: dict[str, int]) -> _Part:
    return pa.array(list(ids), type=pa.string()), np.array(indices, dtype=np.int32)


def _unified(parts: list[_Part]) -> tuple[list[str], np.ndarray]:
    """The ids in order of first appearance and every row's index into them.

    Encoding the parts' dictionaries one after another, in file order, numbers every id
    by its first appearance in the export, as a running dict would, without a Python
    object per row; it also merges ids that differed only by spaces around them.
    """
    parts = [(ids, indices) for ids, indices in parts if len(ids)]
    if not parts:
        return [], np.empty(0, dtype=np.int32)
    ids, mapping = _encoded(pa.chunked_array([ids for ids, _ in parts], type=pa.string()))
    unified = np.empty(sum(len(indices) for _, indices in parts), dtype=np.int32)
    start = offset = 0
    for part_ids, indices in parts:
        np.take(
            mapping[start : start + len(part_ids)],
            indices,
            out=unified[offset : offset + len(indices)],
        )
        start += len(part_ids)
        offset += len(indices)
    return ids.to_pylist(), unified


def _deduplicated(
    keys: np.ndarray, n_users: int, n_items: int, stamps: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One row per (user, item) pair, in (user, item) order, with its latest timestamp.

    A pair is one int64 key, user * n_items + item, so one sort finds the repeats. With
    timestamps each key also needs its row: the row number goes in the key's low bits
    when both fit in 63 bits, so a plain sort (several times faster than an argsort) still
    says where each key came from. Only a pair's latest time is kept, so the order of its
    rows among themselves does not matter. `keys` is reused; every step works in place
    where it can, because fresh memory is slow to touch at this size.
    """
    rows = None
    if stamps is None:
        keys = _sorted(keys)
    else:
        row_bits = max(len(keys) - 1, 1).bit_length()
        if (max(n_users, 1) * n_items - 1).bit_length() + row_bits <= 63:
            keys <<= row_bits
            for start in range(0, len(keys), _ROW_NUMBERS_AT_ONCE):
                stop = min(start + _ROW_NUMBERS_AT_ONCE, len(keys))
                keys[start:stop] |= np.arange(start, stop, dtype=np.int64)
            keys = _sorted(keys)
            rows = keys & ((1 << row_bits) - 1)
            keys >>= row_bits
        else:
            rows = np.argsort(keys)
            keys = keys[rows]
    first = np.empty(len(keys), dtype=bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    latest = None
    if first.all():
        if stamps is not None:
            latest = stamps[rows]
    else:
        later = np.flatnonzero(~first)  # the repeats' positions; usually few
        keys = keys[first]
        if stamps is not None:
            # Each pair takes its first row's time, then its repeats' times where larger:
            # cheaper than a reduction over every row when few pairs repeat. A repeat at
            # position p with k repeats before it belongs to pair p - k - 1 (from 0).
            latest = stamps[rows[first]]
            pairs = later - np.arange(1, len(later) + 1)
            np.maximum.at(latest, pairs, stamps[rows[later]])
    del first, rows
    users = np.empty(len(keys), dtype=np.int32)
    items = np.empty(len(keys), dtype=np.int32)
    np.floor_divide(keys, n_items, out=users, casting="unsafe")
    np.remainder(keys, n_items, out=items, casting="unsafe")
    return users, items, latest


def _sorted(values: np.ndarray) -> np.ndarray:
    """`values` sorted (in place when few), on two cores when there are many.

    numpy's sort releases the GIL, so the values below and above a sampled median are
    sorted at once on two threads; the two runs are then already in order.
    """
    if len(values) < _PARALLEL_SORT_KEYS:
        values.sort()
        return values
    sample = np.sort(values[:: max(1, len(values) // 1024)])
    pivot = sample[len(sample) // 2]
    low = values < pivot
    n_low = int(np.count_nonzero(low))
    result = np.empty_like(values)
    np.compress(low, values, out=result[:n_low])
    np.compress(~low, values, out=result[n_low:])
    del low
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(np.ndarray.sort, (result[:n_low], result[n_low:])))
    return result


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
