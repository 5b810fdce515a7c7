"""Version ids: DNS-1035 labels, deterministic, collision-free, short enough for release names."""

import re

import pytest

from mlrelease.errors import InputError
from mlrelease.versions import MAX_ID_LENGTH, check_version_id, is_version_id, version_id

DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")

BUILD_NUMBERS = [
    "20261127.3",
    "20261127-3",
    "20261127_3",
    "Build 42",
    "build-42",
    "42",
    "0042",
    "main_20261127.1",
    "Release-2026.11.27-rc.1",
    "--weird--",
    "ümlaut-build",
    "x" * 200,
    "x" * 201,
    "....",
    "a",
    "A",
]


@pytest.mark.parametrize(
    ("build_number", "expected"),
    [
        ("42", "v42"),
        ("build-42", "vbuild-42"),
        ("20261127-3", "v20261127-3"),
    ],
)
def test_build_numbers_that_are_already_labels_keep_their_text(build_number, expected):
    assert version_id(build_number) == expected


@pytest.mark.parametrize("build_number", BUILD_NUMBERS)
def test_every_id_is_a_short_dns_1035_label(build_number):
    identifier = version_id(build_number)
    assert DNS_1035.fullmatch(identifier), identifier
    assert len(identifier) <= MAX_ID_LENGTH
    assert len("scoring-" + identifier) <= 53  # Helm's release name limit
    assert is_version_id(identifier)


@pytest.mark.parametrize("build_number", BUILD_NUMBERS)
def test_ids_are_deterministic(build_number):
    assert version_id(build_number) == version_id(build_number)


def test_different_build_numbers_never_share_an_id():
    ids = [version_id(number) for number in BUILD_NUMBERS]
    assert len(set(ids)) == len(BUILD_NUMBERS), sorted(ids)


@pytest.mark.parametrize(
    ("first", "second"),
    [("20261127.3", "20261127-3"), ("Build 42", "build-42"), ("x" * 200, "x" * 201)],
)
def test_lossy_sanitising_is_disambiguated_by_a_hash(first, second):
    assert version_id(first) != version_id(second)


@pytest.mark.parametrize("build_number", ["", "   "])
def test_empty_build_number_is_refused(build_number):
    with pytest.raises(InputError, match="build number is empty"):
        version_id(build_number)


@pytest.mark.parametrize(
    ("candidate", "valid"),
    [
        ("v42", True),
        ("v20261127-3-4b46ac11", True),
        ("42", False),
        ("V42", False),
        ("v42-", False),
        ("v_42", False),
        ("v" * (MAX_ID_LENGTH + 1), False),
    ],
)
def test_is_version_id(candidate, valid):
    assert is_version_id(candidate) is valid


def test_check_version_id_says_how_to_get_one():
    with pytest.raises(InputError, match="mlrelease version BUILD_NUMBER"):
        check_version_id("Not An Id")
