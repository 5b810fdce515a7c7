"""The values writer: deep-creating, round-trip preserving, build numbers never floats."""

import pytest

from mlrelease.errors import InputError
from mlrelease.values import yamlio
from mlrelease.values.valuesfile import parse_assignment, parse_path, parse_value, set_values


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("image.tag", ["image", "tag"]),
        ("versions[0].weight", ["versions", 0, "weight"]),
        ("matrix[1][2]", ["matrix", 1, 2]),
        (r"annotations.mlrelease\.io/build", ["annotations", "mlrelease.io/build"]),
        ("a", ["a"]),
    ],
)
def test_parse_path(path, parts):
    assert parse_path(path) == parts


@pytest.mark.parametrize("path", ["a..b", "a.", ".a", "a[x]", "a[0", ""])
def test_malformed_paths_are_refused(path):
    with pytest.raises(InputError, match="key path"):
        parse_path(path)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("20261127.3", "20261127.3"),
        ("1e3", "1e3"),
        ("0.05", "0.05"),
        ("007", "007"),
        ("+4", "+4"),
        ("42", 42),
        ("-4", -4),
        ("true", True),
        ("null", None),
        ("", ""),
        ("hello world", "hello world"),
        ("!!float 0.05", 0.05),
        ("[a, b]", ["a", "b"]),
    ],
)
def test_parse_value(text, value):
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value) or isinstance(parse_value(text), type(value))


@pytest.mark.parametrize("text", ["42", "true", "null", "20261127.3"])
def test_string_flag_keeps_text(text):
    assert parse_value(text, as_string=True) == text


@pytest.mark.parametrize("assignment", ["noequals", "=value", " =x"])
def test_malformed_assignment_says_how_to_write_it(assignment):
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_assignment(assignment)


ORIGINAL = """\
# Training values for one build
image:
  repository: registry.example/training  # pushed by the build
  tag: "latest"
hyperparameters:
  epochs: 30
versions:
  - name: v1
    weight: 100
"""


def _apply(text, *assignments):
    document = yamlio.loads(text) if text is not None else None
    document = set_values(document, [parse_assignment(a) for a in assignments])
    return yamlio.dumps(document)


def test_round_trip_keeps_comments_order_and_quoting():
    result = _apply(ORIGINAL, "image.tag=20261127.3")
    assert result == ORIGINAL.replace('"latest"', '"20261127.3"')


def test_deep_creates_maps_and_lists():
    result = yamlio.loads(_apply(None, "a.b.c=1", "list[0].name=x", "list[1]=y"))
    assert result == {"a": {"b": {"c": 1}}, "list": [{"name": "x"}, "y"]}


def test_build_numbers_come_back_as_strings_for_a_yaml_1_1_reader():
    import yaml  # PyYAML reads YAML 1.1, like Helm

    text = _apply(None, "build=20261127.3", "exp=1e3", "flag=yes", "time=1:20", "octal=0755")
    assert yaml.safe_load(text) == {
        "build": "20261127.3",
        "exp": "1e3",
        "flag": "yes",
        "time": "1:20",
        "octal": "0755",
    }


def test_list_items_by_index():
    result = yamlio.loads(_apply(ORIGINAL, "versions[0].weight=90", "versions[1].name=v2"))
    assert result["versions"][0]["weight"] == 90
    assert result["versions"][1] == {"name": "v2"}


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("versions[5].weight=1", "would leave a gap"),
        ("image.tag.x=1", "not a map or list"),
        ("versions.name=x", "address its items with"),
        ("image[0]=x", "is not a list"),
    ],
)
def test_impossible_assignments_name_the_problem(assignment, message):
    with pytest.raises(InputError, match=message):
        _apply(ORIGINAL, assignment)


SCHEMA = {
    "type": "object",
    "properties": {
        "learningRate": {"type": "number"},
        "buildNumber": {"type": "string"},
        "either": {"type": ["number", "string"]},
        "layers": {"type": "array", "items": {"type": "number"}},
        "nested": {"type": "object", "properties": {"alpha": {"type": "number"}}},
    },
}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"learningRate": "0.05"}, {"learningRate": 0.05}),
        ({"learningRate": "fast"}, {"learningRate": "fast"}),
        ({"buildNumber": "20261127.3"}, {"buildNumber": "20261127.3"}),
        ({"either": "1.5"}, {"either": "1.5"}),
        ({"layers": ["0.5", "1e3"]}, {"layers": [0.5, 1000.0]}),
        ({"nested": {"alpha": "1e-6"}}, {"nested": {"alpha": 1e-6}}),
        ({"unknown": "0.5"}, {"unknown": "0.5"}),
    ],
)
def test_numbers_where_schema_says(values, expected):
    from mlrelease.values.valuesfile import numbers_where_schema_says

    assert numbers_where_schema_says(values, SCHEMA) == expected
