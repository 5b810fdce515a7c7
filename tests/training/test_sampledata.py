"""Sample exports: the ETL layout, the header, reproducibility, MovieLens from recbole."""

import csv
from datetime import date

import pytest

from mlrelease.errors import MlreleaseError
from mlrelease.sampledata import HEADER, write_movielens_export, write_synthetic_export


def rows_of(folder):
    rows = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            assert tuple(next(reader)) == HEADER
            rows.extend(reader)
    return rows


def test_synthetic_export_uses_the_etl_layout_and_is_reproducible(tmp_path):
    folder = write_synthetic_export(tmp_path / "a", users=30, items=20, files=3, seed=5)
    assert folder == tmp_path / "a" / "2026" / "11" / "27"
    assert sorted(p.name for p in folder.iterdir()) == [
        "interactions-1.csv",
        "interactions-2.csv",
        "interactions-3.csv",
    ]
    rows = rows_of(folder)
    assert len(rows) == 30 * 20
    assert len({(user, item) for user, item, _, _ in rows}) == len(rows)
    assert {int(rating) for _, _, rating, _ in rows} <= {1, 2, 3, 4, 5}
    again = write_synthetic_export(tmp_path / "b", users=30, items=20, files=3, seed=5)
    assert rows_of(again) == rows
    other = write_synthetic_export(tmp_path / "c", users=30, items=20, files=3, seed=6)
    assert rows_of(other) != rows


def test_synthetic_users_mostly_like_their_own_group(tmp_path):
    rows = rows_of(write_synthetic_export(tmp_path, day=date(2027, 1, 2)))
    own = [int(u[1:]) % 5 == int(i[1:]) % 5 for u, i, _, _ in rows]
    assert sum(own) / len(own) > 0.75
    liked = [int(r) >= 4 for _, _, r, _ in rows]
    assert liked == own  # ratings carry the same signal
    assert (tmp_path / "2027" / "01" / "02").is_dir()


def test_synthetic_export_rejects_impossible_sizes(tmp_path):
    with pytest.raises(ValueError, match="interactions_per_user"):
        write_synthetic_export(tmp_path, items=5, interactions_per_user=6)


def test_movielens_export_converts_all_100k_ratings(tmp_path):
    folder = write_movielens_export(tmp_path)
    rows = rows_of(folder)
    assert len(rows) == 100_000
    assert len({u for u, _, _, _ in rows}) == 943 and len({i for _, i, _, _ in rows}) == 1682


def test_movielens_without_recbole_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(MlreleaseError, match=r"pip install --no-deps recbole==1\.2\.1"):
        write_movielens_export(tmp_path)
