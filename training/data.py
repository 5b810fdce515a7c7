"""Read the interaction export under DATA_URI into compact arrays, with a snapshot record.

Every `.csv` file under the export folder is read, in sorted key order so two runs over
the same files see the same rows in the same order. Each file is checked line by line:
the header must name `user_id` and `item_id`, optionally one of `weight` or `rating`, and
optionally `timestamp` (unix seconds or ISO 8601). Any problem stops the run with the file
and line named, because a model trained on half-understood data must not be published.

The snapshot (path, size and sha256 of every file read) goes into the model manifest, so a
model version can be traced back to its exact input bytes.
"""

import csv
import dataclasses
import hashlib
import io
import logging
import math
from array import array
from datetime import UTC, datetime

import numpy as np

from mlrelease.errors import InputError
from mlrelease.store import open_store

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("user_id", "item_id")
VALUE_COLUMNS = ("weight", "rating")
KNOWN_COLUMNS = (*REQUIRED_COLUMNS, *VALUE_COLUMNS, "timestamp")


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
        data = store.read_bytes(key)
        snapshot.append(
            {"path": key, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        )
        rows = reader.read_file(store.key_uri(key), data)
        log.info("read %s: %d rows", store.key_uri(key), rows)
    if not reader.users:
        raise InputError(
            f"the export under {store.uri} holds no interactions"
            + (
                f" at or above MIN_RATING={min_rating:g} ({reader.below} rows were below it)"
                if reader.below
                else " (every file has a header and no rows)"
            )
        )
    return reader.finish(snapshot)


class _Accumulator:
    """Parses files into growing typed arrays, mapping external ids to indexes as it goes."""

    def __init__(self, min_rating: float) -> None:
        self.min_rating = min_rating
        self.user_index: dict[str, int] = {}
        self.item_index: dict[str, int] = {}
        self.users = array("i")
        self.items = array("i")
        self.timestamps = array("d")
        self.all_timestamped = True
        self.rows = 0
        self.below = 0

    def read_file(self, name: str, data: bytes) -> int:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise InputError(f"{name}: not UTF-8 text ({error}); export the CSV as UTF-8") from None
        rows = csv.reader(io.StringIO(text, newline=""))
        header = next(rows, None)
        if header is None:
            raise InputError(
                f"{name}, line 1: the file is empty; a header is required: "
                "user_id,item_id[,weight|rating][,timestamp]"
            )
        columns = self._columns(name, [column.strip().lower() for column in header])
        width = len(header)
        user_col, item_col = columns["user_id"], columns["item_id"]
        value_col = columns.get("weight", columns.get("rating"))
        time_col = columns.get("timestamp")
        if value_col is None and self.min_rating > 0:
            log.warning("%s has no rating or weight column: MIN_RATING does not apply", name)
        if time_col is None:
            self.all_timestamped = False
        count = 0
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
                raise InputError(f"{name}, line {line}: user_id and item_id must not be empty")
            count += 1
            if value_col is not None:
                value = _number(name, line, header[value_col], fields[value_col])
                if value < self.min_rating:
                    self.below += 1
                    continue
            timestamp = _timestamp(name, line, fields[time_col]) if time_col is not None else 0.0
            self.users.append(self.user_index.setdefault(user, len(self.user_index)))
            self.items.append(self.item_index.setdefault(item, len(self.item_index)))
            self.timestamps.append(timestamp)
        self.rows += count
        return count

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
        users = np.frombuffer(self.users, dtype=np.int32)
        items = np.frombuffer(self.items, dtype=np.int32)
        stamps = np.frombuffer(self.timestamps, dtype=np.float64)
        # Keep one row per pair, the latest: sort by (user, item, time), take each run's last.
        order = np.lexsort((stamps, items, users))
        users, items, stamps = users[order], items[order], stamps[order]
        last = np.ones(len(users), dtype=bool)
        last[:-1] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
        return Interactions(
            users=users[last].copy(),
            items=items[last].copy(),
            timestamps=stamps[last].copy() if self.all_timestamped else None,
            user_ids=list(self.user_index),
            item_ids=list(self.item_index),
            snapshot=snapshot,
            rows_read=self.rows,
            rows_below_min_rating=self.below,
        )


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
