"""Reading the export: every CSV, in order, checked line by line, with a snapshot record."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from mlrelease.errors import InputError
from training.data import read_interactions


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(root: Path, **kwargs) -> str:
    with pytest.raises(InputError) as caught:
        read_interactions(str(root), **kwargs)
    return str(caught.value)


def test_every_csv_is_read_in_sorted_order_with_a_snapshot(tmp_path):
    second = write(tmp_path / "2026/11/27/b.csv", "user_id,item_id\nu2,i1\nu1,i3\n")
    first = write(tmp_path / "2026/11/26/z.csv", "user_id,item_id\nu1,i1\nu1,i2\n")
    write(tmp_path / "2026/11/27/notes.txt", "not data")
    data = read_interactions(str(tmp_path))
    assert [entry["path"] for entry in data.snapshot] == ["2026/11/26/z.csv", "2026/11/27/b.csv"]
    for entry, path in zip(data.snapshot, (first, second), strict=True):
        assert entry["size"] == path.stat().st_size
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert data.user_ids == ["u1", "u2"]
    assert data.item_ids == ["i1", "i2", "i3"]
    assert data.rows_read == 4
    assert data.timestamps is None
    pairs = {
        (data.user_ids[u], data.item_ids[i]) for u, i in zip(data.users, data.items, strict=True)
    }
    assert pairs == {("u1", "i1"), ("u1", "i2"), ("u2", "i1"), ("u1", "i3")}


def test_min_rating_drops_rows_and_repeats_keep_the_latest_timestamp(tmp_path):
    write(
        tmp_path / "a.csv",
        "user_id,item_id,rating,timestamp\n"
        "u1,i1,5,100\nu1,i1,4,300\nu1,i2,2,200\nu2,i2,4,2026-11-27T08:00:00Z\n",
    )
    data = read_interactions(str(tmp_path), min_rating=4)
    assert data.rows_read == 4 and data.rows_below_min_rating == 1
    assert len(data.users) == 2
    assert data.user_ids == ["u1", "u2"] and data.item_ids == ["i1", "i2"]
    by_pair = dict(
        zip(
            zip(data.users.tolist(), data.items.tolist(), strict=True),
            data.timestamps.tolist(),
            strict=True,
        )
    )
    assert by_pair[(0, 0)] == 300
    assert by_pair[(1, 1)] == pytest.approx(1795766400.0)


def test_weight_column_and_header_case_and_spaces_are_accepted(tmp_path):
    write(tmp_path / "a.CSV", "\ufeffUser_Id, item_id ,weight\nu1,i1,0.5\n")
    data = read_interactions(str(tmp_path), min_rating=0.1)
    assert data.user_ids == ["u1"]
    assert np.array_equal(data.items, [0])


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("user_id,rating\nu1,4\n", ["a.csv, line 1", "lacks column item_id"]),
        ("", ["a.csv, line 1", "empty", "header is required"]),
        ("user_id,item_id,score\nu1,i1,3\n", ["line 1", "unknown column score"]),
        ("user_id,item_id,weight,rating\nu1,i1,1,3\n", ["line 1", "both weight and rating"]),
        ("user_id,item_id,rating\nu1,i1,4\nu2,i2\n", ["a.csv, line 3", "expected 3 fields"]),
        ("user_id,item_id,rating\nu1,i1,4\nu2,i2,high\n", ["a.csv, line 3", "'high'"]),
        ("user_id,item_id,rating\nu1,i1,inf\n", ["a.csv, line 2", "not a number"]),
        ("user_id,item_id,timestamp\nu1,i1,yesterday\n", ["line 2", "unix seconds nor ISO"]),
        ("user_id,item_id\nu1,\n", ["a.csv, line 2", "must not be empty"]),
    ],
)
def test_bad_files_stop_the_run_naming_file_and_line(tmp_path, text, fragments):
    write(tmp_path / "2026/11/27/a.csv", text)
    message = error_of(tmp_path)
    assert f"{tmp_path}/2026/11/27/a.csv" in message
    for fragment in fragments:
        assert fragment in message


def test_a_bad_line_after_good_files_is_still_found(tmp_path):
    write(tmp_path / "1.csv", "user_id,item_id\nu1,i1\n")
    write(tmp_path / "2.csv", 'user_id,item_id\nu1,i1\nu2,i2\n"u3,i3\n')
    assert "2.csv" in error_of(tmp_path)


def test_no_csv_files_is_an_empty_snapshot_error(tmp_path):
    write(tmp_path / "readme.txt", "nothing")
    message = error_of(tmp_path)
    assert "no CSV files under DATA_URI" in message and str(tmp_path) in message
    assert "no CSV files" in error_of(tmp_path / "does-not-exist")


def test_headers_without_rows_is_an_empty_snapshot_error(tmp_path):
    write(tmp_path / "a.csv", "user_id,item_id\n")
    assert "holds no interactions" in error_of(tmp_path)


def test_everything_below_min_rating_is_an_empty_snapshot_error(tmp_path):
    write(tmp_path / "a.csv", "user_id,item_id,rating\nu1,i1,2\nu1,i2,3\n")
    message = error_of(tmp_path, min_rating=4)
    assert "MIN_RATING=4" in message and "2 rows were below it" in message


# --- the streaming reader: the same answer as the line-by-line checker, block by block ---------


def _python_reader(monkeypatch):
    """Force every file through the line-by-line checker."""
    from training import data as module

    def refuse(*_args, **_kwargs):
        raise module._Fallback("forced by the test")

    monkeypatch.setattr(module._Accumulator, "_read_fast", refuse)


def _reads_as_the_checker(tmp_path, monkeypatch, *, min_rating: float, rows: int):
    """Read the export fast, then with the line-by-line checker; both must agree."""
    fast = read_interactions(str(tmp_path), min_rating=min_rating)
    _python_reader(monkeypatch)
    checked = read_interactions(str(tmp_path), min_rating=min_rating)
    assert fast.user_ids == checked.user_ids and fast.item_ids == checked.item_ids
    assert _as_pairs(fast) == _as_pairs(checked)
    assert (fast.rows_read, fast.rows_below_min_rating) == (rows, checked.rows_below_min_rating)
    return fast


def _as_pairs(data) -> list[tuple[str, str, float | None]]:
    stamps = data.timestamps.tolist() if data.timestamps is not None else [None] * len(data.users)
    return [
        (data.user_ids[u], data.item_ids[i], t)
        for u, i, t in zip(data.users.tolist(), data.items.tolist(), stamps, strict=True)
    ]


@pytest.mark.parametrize("block_bytes", [None, 64])
def test_streamed_blocks_read_exactly_what_the_checker_reads(tmp_path, monkeypatch, block_bytes):
    from training import data as module

    rng = np.random.default_rng(0)
    lines = [
        f" u{rng.integers(40)} ,i{rng.integers(30)},{rng.integers(1, 6)},{rng.integers(1000)}"
        for _ in range(400)
    ]
    lines[3] = "u7,i1,1,5"  # a user whose first row is dropped by MIN_RATING
    write(tmp_path / "a.csv", "user_id,item_id,rating,timestamp\n" + "\n".join(lines[:250]))
    write(tmp_path / "b.csv", "user_id,item_id,rating,timestamp\n" + "\n".join(lines[250:]))
    if block_bytes:  # every file is streamed in many tiny blocks
        monkeypatch.setattr(module, "WHOLE_FILE_BYTES", 0)
        monkeypatch.setattr(module, "BLOCK_BYTES", block_bytes)
    fast = _reads_as_the_checker(tmp_path, monkeypatch, min_rating=2, rows=400)
    assert all(not user.startswith(" ") for user in fast.user_ids)


def test_a_bad_line_deep_in_a_streamed_file_is_still_named(tmp_path, monkeypatch):
    from training import data as module

    monkeypatch.setattr(module, "WHOLE_FILE_BYTES", 0)
    monkeypatch.setattr(module, "BLOCK_BYTES", 64)
    rows = "".join(f"u{n},i{n},4\n" for n in range(300))
    write(tmp_path / "big.csv", "user_id,item_id,rating\n" + rows + "u1,i1,four\n")
    message = error_of(tmp_path)
    assert "big.csv, line 302" in message and "'four'" in message


def test_whole_files_in_many_blocks_sorted_on_two_threads_read_what_the_checker_reads(
    tmp_path, monkeypatch
):
    from training import data as module

    rng = np.random.default_rng(1)
    lines = [
        f"u{rng.integers(60)} , i{rng.integers(25)},{rng.integers(1, 6)},{rng.integers(50)}"
        for _ in range(600)
    ]
    for n, start in enumerate(range(0, len(lines), 200)):
        write(
            tmp_path / f"{n}.csv",
            "user_id,item_id,rating,timestamp\n" + "\n".join(lines[start : start + 200]),
        )
    monkeypatch.setattr(module, "BLOCK_BYTES", 256)  # each file whole, parsed in many blocks
    monkeypatch.setattr(module, "_PARALLEL_SORT_KEYS", 2)  # the pairs sorted on two threads
    _reads_as_the_checker(tmp_path, monkeypatch, min_rating=3, rows=600)


@pytest.mark.parametrize("n_users", [7, 2**60])  # the row number fits in the key, or not
@pytest.mark.parametrize("timestamped", [True, False])
def test_each_pair_is_kept_once_in_user_item_order_with_its_latest_time(n_users, timestamped):
    from training import data as module

    rng = np.random.default_rng(2)
    users, items = rng.integers(0, 7, 500), rng.integers(0, 5, 500)
    stamps = rng.random(500) if timestamped else None
    kept_users, kept_items, latest = module._deduplicated(
        users.astype(np.int64) * 5 + items, n_users, 5, stamps
    )
    pairs = sorted(set(zip(users.tolist(), items.tolist(), strict=True)))
    assert list(zip(kept_users.tolist(), kept_items.tolist(), strict=True)) == pairs
    if stamps is None:
        assert latest is None
    else:
        newest: dict[tuple[int, int], float] = {}
        rows = zip(users.tolist(), items.tolist(), strict=True)
        for pair, stamp in zip(rows, stamps.tolist(), strict=True):
            newest[pair] = max(newest.get(pair, stamp), stamp)
        assert latest.tolist() == [newest[pair] for pair in pairs]


def test_timestamps_are_none_unless_every_file_has_them(tmp_path):
    write(tmp_path / "1.csv", "user_id,item_id,timestamp\nu1,i1,5\nu1,i1,7\n")
    write(tmp_path / "2.csv", "user_id,item_id\nu2,i1\n")
    data = read_interactions(str(tmp_path))
    assert data.timestamps is None and data.user_ids == ["u1", "u2"] and len(data.users) == 2


def test_the_first_bad_file_is_named_though_the_next_one_is_already_open(tmp_path):
    write(tmp_path / "1.csv", "user_id,item_id,rating\nu1,i1,4\nu1,i2,high\n")
    write(tmp_path / "2.csv", "user_id,rating\nu1,4\n")
    message = error_of(tmp_path)
    assert "1.csv, line 3" in message and "'high'" in message


def test_a_downloaded_file_stays_until_the_checker_has_read_it(tmp_path, monkeypatch):
    import tempfile

    from training import data as module

    monkeypatch.setattr(module, "LocalStore", type("NotLocal", (), {}))  # the download path
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    root = tmp_path / "export"
    # An ISO timestamp sends the first file to the checker after the second has been opened.
    first = write(root / "1.csv", "user_id,item_id,timestamp\nu1,i1,2026-11-27T08:00:00Z\n")
    second = write(root / "2.csv", "user_id,item_id,timestamp\nu2,i1,5\n")
    data = read_interactions(str(root))
    assert data.user_ids == ["u1", "u2"] and data.timestamps.tolist() == [1795766400.0, 5.0]
    assert [entry["sha256"] for entry in data.snapshot] == [
        hashlib.sha256(path.read_bytes()).hexdigest() for path in (first, second)
    ]
    assert not list(spool.iterdir())


@pytest.mark.parametrize("n_users", [7, 2**60])
def test_pairs_that_never_repeat_keep_their_own_time(n_users):
    from training import data as module

    rng = np.random.default_rng(3)
    keys = rng.permutation(35)  # every (user, item) pair of 7 x 5 once, shuffled
    stamps = rng.random(35)
    kept_users, kept_items, latest = module._deduplicated(keys.astype(np.int64), n_users, 5, stamps)
    assert (kept_users * 5 + kept_items).tolist() == list(range(35))
    assert latest.tolist() == stamps[np.argsort(keys)].tolist()
