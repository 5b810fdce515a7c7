"""Request parsing and validation, tested without Flask or a server."""

import pytest

from scoring import api


@pytest.mark.parametrize(
    ("query", "expected"),
    [({}, 10), ({"k": "1"}, 1), ({"k": "25"}, 25), ({"k": "50"}, 50)],
)
def test_k_accepts_whole_numbers_in_range(query, expected):
    assert api.parse_k(query, max_k=50) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"k": "0"}, "k=0 is out of range; use k=1..50"),
        ({"k": "51"}, "k=51 is out of range; use k=1..50"),
        ({"k": "-1"}, "is not a whole number"),
        ({"k": "1.5"}, "is not a whole number"),
        ({"k": "ten"}, "is not a whole number"),
        ({"k": " 5"}, "is not a whole number"),
        ({"k": "5_0"}, "is not a whole number"),
        ({"k": ""}, "is not a whole number"),
        ({"k": "9" * 40}, "is not a whole number"),
        ({"K": "5"}, "unknown query parameter(s) K; only k is accepted"),
    ],
)
def test_bad_k_is_a_400_that_says_what_is_accepted(query, message):
    with pytest.raises(api.ApiError) as caught:
        api.parse_k(query, max_k=50)
    assert caught.value.status == 400
    assert message in caught.value.message


def test_default_k_never_exceeds_the_maximum():
    assert api.parse_k({}, max_k=3) == 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xfe{}", "not valid UTF-8 (byte 0)"),
        (b'{"pairs": [', "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_bodies_that_are_not_utf8_json_are_400(body, message):
    with pytest.raises(api.ApiError) as caught:
        api.parse_json(body)
    assert caught.value.status == 400
    assert message in caught.value.message


def test_pairs_parse_to_id_strings_in_order():
    doc = {"pairs": [{"user_id": "u1", "item_id": "i2"}, {"user_id": 7, "item_id": "i1"}]}
    assert api.parse_pairs(doc, max_pairs=5) == [("u1", "i2"), ("7", "i1")]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "expected a JSON object with a 'pairs' list"),
        ({"pair": []}, "expected a JSON object with a 'pairs' list"),
        ({"pairs": "u1,i1"}, "'pairs' must be a list, found str"),
        ({"pairs": [["u1", "i1"]]}, "pairs[0] must be an object with 'user_id' and 'item_id'"),
        ({"pairs": [{"user_id": "u1"}]}, "pairs[0] must be an object"),
        ({"pairs": [{"user_id": True, "item_id": "i1"}]}, "pairs[0].user_id must be a string"),
        ({"pairs": [{"user_id": "u", "item_id": 1.5}]}, "pairs[0].item_id must be a string"),
        ({"pairs": [{"user_id": "u", "item_id": None}]}, "found NoneType"),
        ({"pairs": [{"user_id": "u", "item_id": "i"}] * 4}, "too many pairs: 4; send at most 3"),
    ],
)
def test_malformed_pairs_are_400_naming_the_problem(document, message):
    with pytest.raises(api.ApiError) as caught:
        api.parse_pairs(document, max_pairs=3)
    assert caught.value.status == 400
    assert message in caught.value.message
