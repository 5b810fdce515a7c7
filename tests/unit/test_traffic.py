"""Traffic operations on the routing document: pure functions, each bad input refused."""

import pytest
from support.routing import doc

from mlrelease.errors import InputError
from mlrelease.traffic import document, operations


def split(routing):
    return {entry["name"]: entry["weight"] for entry in routing["versions"]}


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([("a", 1)], [100]),
        ([("a", 1), ("b", 1)], [50, 50]),
        ([("a", 1), ("b", 1), ("c", 1)], [34, 33, 33]),
        ([("a", 2), ("b", 1)], [67, 33]),
        ([("a", 0.5), ("b", 0.25), ("c", 0.25)], [50, 25, 25]),
        ([("a", 1), ("b", 0), ("c", 1)], [50, 0, 50]),
        ([("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 1), ("f", 1)], [17, 17, 17, 17, 16, 16]),
        ([("a", 9.5), ("b", 90.5)], [10, 90]),
    ],
)
def test_normalise_uses_largest_remainder_with_first_listed_tie_break(weights, expected):
    result = operations.normalise(weights)
    assert [share for _, share in result] == expected
    assert sum(expected) == 100


@pytest.mark.parametrize(
    ("weights", "message"),
    [([("a", -1)], "non-negative"), ([("a", 0), ("b", 0)], "all weights are zero")],
)
def test_normalise_refuses_bad_weights(weights, message):
    with pytest.raises(InputError, match=message):
        operations.normalise(weights)


def test_set_keeps_unnamed_versions_warm_and_drops_on_request():
    start = doc(("v1", 90), ("v2", 10))
    assert split(operations.set_weights(start, {"v3": 1})) == {"v1": 0, "v2": 0, "v3": 100}
    assert split(operations.set_weights(start, {"v2": 3, "v1": 1}, drop=[])) == {"v1": 25, "v2": 75}
    assert split(operations.set_weights(start, {"v2": 1}, drop=["v1"])) == {"v2": 100}


def test_operations_do_not_change_their_input():
    start = doc(("v1", 100))
    operations.canary(start, "v2", 10)
    assert start == doc(("v1", 100))


@pytest.mark.parametrize(
    ("start", "percent", "expected"),
    [
        (doc(("v1", 100)), 10, {"v1": 90, "v2": 10}),
        (doc(("v1", 50), ("v3", 50)), 10, {"v1": 45, "v3": 45, "v2": 10}),
        (doc(("v1", 90), ("v2", 10)), 25, {"v1": 75, "v2": 25}),
        (doc(("v1", 60), ("v3", 40), ("v2", 0)), 50, {"v1": 30, "v3": 20, "v2": 50}),
        (doc(("v1", 100)), 100, {"v1": 0, "v2": 100}),
    ],
)
def test_canary_scales_the_others_proportionally(start, percent, expected):
    assert split(operations.canary(start, "v2", percent)) == expected


def test_canary_needs_someone_to_carry_the_rest():
    with pytest.raises(InputError, match="no other version carries traffic"):
        operations.canary(doc(), "v2", 10)


def test_promote_is_a_blue_green_switch():
    result = operations.promote(doc(("v1", 90), ("v2", 10)), "v2")
    assert split(result) == {"v1": 0, "v2": 100}


def test_ab_rules_replace_same_match_and_keep_order():
    start = doc(("v1", 90), ("v2", 10))
    result = operations.add_ab_rule(start, "x-user-group", "exact", "beta", "v2")
    result = operations.add_ab_rule(result, "x-canary", "prefix", "yes", "v1")
    result = operations.add_ab_rule(result, "x-user-group", "exact", "beta", "v1")
    assert result["abRules"] == [
        {"header": "x-user-group", "exact": "beta", "version": "v1"},
        {"header": "x-canary", "prefix": "yes", "version": "v1"},
    ]
    assert operations.remove_ab_rules(result, "x-canary")["abRules"] == result["abRules"][:1]
    assert operations.remove_ab_rules(result)["abRules"] == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: operations.add_ab_rule(d, "x-g", "exact", "b", "v9"), "not a live version"),
        (lambda d: operations.add_ab_rule(d, "X-Group", "exact", "b", "v1"), "lowercase"),
        (lambda d: operations.add_ab_rule(d, "x-g", "fuzzy", "b", "v1"), "match kind"),
        (lambda d: operations.set_mirror(d, "v9", 10), "not a live version"),
        (lambda d: operations.set_mirror(d, "v1", 101), "outside 0-100"),
        (lambda d: operations.canary(d, "v2", -5), "outside 0-100"),
        (lambda d: operations.canary(d, "Not_An_Id", 5), "not a version id"),
        (lambda d: operations.set_weights(d, {"v1": 1}, drop=["v1"]), "both weighted and dropped"),
        (lambda d: operations.plan(d, "v2", [50, 25]), "strictly increase"),
        (lambda d: operations.plan(d, "v2", [0, 50]), "start above 0"),
        (lambda d: operations.plan(d, "v2", []), "empty"),
        (lambda d: operations.preview(d, 0), "from 1 to"),
    ],
)
def test_bad_operations_are_refused(call, message):
    with pytest.raises(InputError, match=message):
        call(doc(("v1", 100)))


def test_dropping_a_version_a_rule_uses_is_refused():
    start = doc(("v1", 50), ("v2", 50), rules=[{"header": "x", "exact": "a", "version": "v2"}])
    with pytest.raises(InputError, match="remove that rule or mirror first"):
        operations.set_weights(start, {"v1": 1}, drop=["v2"])


def test_mirror_on_and_off():
    start = doc(("v1", 100), ("v2", 0))
    mirrored = operations.set_mirror(start, "v2", 25)
    assert mirrored["mirror"] == {"version": "v2", "percent": 25}
    assert "mirror" not in operations.set_mirror(mirrored, None)


def test_plan_walks_the_steps():
    documents = operations.plan(doc(("v1", 100)), "v2", [10, 50, 100])
    assert [split(d)["v2"] for d in documents] == [10, 50, 100]
    assert all(sum(split(d).values()) == 100 for d in documents)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, {"v1": 900, "v2": 100}),
        ({"x-user-group": "beta"}, {"v1": 0, "v2": 1000}),
        ({"X-User-Group": "beta"}, {"v1": 0, "v2": 1000}),
        ({"x-user-group": "alpha"}, {"v1": 900, "v2": 100}),
        ({"x-tier": "gold-plus"}, {"v1": 1000, "v2": 0}),
    ],
)
def test_preview_follows_istio_rule_then_split(headers, expected):
    rules = [
        {"header": "x-user-group", "exact": "beta", "version": "v2"},
        {"header": "x-tier", "prefix": "gold", "version": "v1"},
    ]
    result = operations.preview(doc(("v1", 90), ("v2", 10), rules=rules), 1000, headers)
    assert result["counts"] == expected


def test_preview_counts_sum_to_requests_and_mirror_is_extra():
    result = operations.preview(
        doc(("a1", 33), ("a2", 33), ("a3", 34), mirror={"version": "a1", "percent": 10}), 7
    )
    assert sum(result["counts"].values()) == 7
    assert result["mirrored"] == ("a1", 1)


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        ({"versions": []}, "'host' is a required property"),
        (doc(("v1", 50)), "sum to 50, not 100"),
        (doc(("v1", 50), ("v1", 50)), "listed more than once"),
        (doc(("V1", 100)), "does not match"),
        (doc(("v1", 100), rules=[{"header": "x", "version": "v1"}]), "is not valid under"),
        (doc(("v1", 100), rules=[{"header": "x", "exact": "a", "version": "v2"}]), "not a live"),
        (doc(("v1", 100), mirror={"version": "v1", "percent": 150}), "150 is greater than"),
        ({**doc(("v1", 100)), "versions": [{"name": "v1", "weight": 1.5}]}, "not of type"),
        ([1, 2], "not a YAML mapping"),
    ],
)
def test_schema_invalid_documents_are_refused(routing, message):
    with pytest.raises(InputError, match=message):
        document.check(routing, "routing.yaml")
