"""The rehearsal's Istio stand-in decides routes the way Istio's documented semantics say."""

import random
from collections import Counter

import pytest

from mlrelease.errors import MlreleaseError
from mlrelease.rehearsal.mesh import Mesh

DESTINATION_RULE = {
    "spec": {
        "subsets": [
            {"name": "v1", "labels": {"version": "v1"}},
            {"name": "v2", "labels": {"version": "v2"}},
        ]
    }
}


def virtual_service(*routes):
    return {"spec": {"http": list(routes)}}


def dest(subset, weight=None):
    destination = {"destination": {"host": "scoring", "subset": subset}}
    if weight is not None:
        destination["weight"] = weight
    return destination


SPLIT = {"name": "split", "route": [dest("v1", 75), dest("v2", 25)]}
BETA = {
    "name": "beta",
    "match": [{"headers": {"x-user-group": {"exact": "beta"}}}],
    "route": [dest("v2")],
}
GOLD = {
    "match": [
        {"headers": {"x-tier": {"prefix": "gold"}}},
        {"headers": {"x-vip": {"regex": "y.*"}}},
    ],
    "route": [dest("v1")],
}


@pytest.mark.parametrize(
    ("headers", "version"),
    [
        ({"x-user-group": "beta"}, "v2"),
        ({"X-User-Group": "beta"}, "v2"),
        ({"x-tier": "gold-plus"}, "v1"),
        ({"x-vip": "yes"}, "v1"),
        ({"x-vip": "no"}, None),
        ({"x-user-group": "beta", "x-tier": "gold"}, "v2"),
    ],
)
def test_first_matching_route_wins(headers, version):
    mesh = Mesh(virtual_service(BETA, GOLD, SPLIT), DESTINATION_RULE)
    decision = mesh.decide(headers, random.Random(1))
    if version:
        assert decision.version == version
    else:
        assert decision.route == "split"


def test_weighted_split_follows_weights():
    mesh = Mesh(virtual_service(SPLIT), DESTINATION_RULE)
    rng = random.Random(7)
    counts = Counter(mesh.decide({}, rng).version for _ in range(4000))
    assert abs(counts["v2"] / 4000 - 0.25) < 0.03


def test_mirror_percentage_is_honoured():
    route = {
        **SPLIT,
        "mirror": {"host": "scoring", "subset": "v2"},
        "mirrorPercentage": {"value": 20},
    }
    mesh = Mesh(virtual_service(route), DESTINATION_RULE)
    rng = random.Random(3)
    mirrored = sum(mesh.decide({}, rng).mirror == "v2" for _ in range(4000))
    assert abs(mirrored / 4000 - 0.20) < 0.03


def test_unrehearsed_route_features_are_refused():
    with pytest.raises(MlreleaseError, match="rewrite"):
        Mesh(virtual_service({**SPLIT, "rewrite": {"uri": "/"}}), DESTINATION_RULE)


def test_no_matching_route_is_an_error_like_istio_404():
    mesh = Mesh(virtual_service(BETA), DESTINATION_RULE)
    with pytest.raises(MlreleaseError, match="404"):
        mesh.decide({}, random.Random(0))
