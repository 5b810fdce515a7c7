"""How a worker holds a model: read-only maps of the pod's copy, compact id maps."""

import io

import numpy as np
import pytest

from mlrelease.store.artifact import ModelCorruptError
from scoring import model


@pytest.fixture(scope="module")
def loaded(model_uri):
    return model.load(model_uri)


def test_a_local_model_is_mapped_read_only_not_copied(loaded):
    rec = loaded.recommender
    for array in (rec._item_embeddings, rec._user_embeddings, rec._indices, rec._indptr):
        assert not array.flags.owndata, "a model array was copied into the worker"
        assert not array.flags.writeable, "the pod's model copy must be mapped read-only"


def test_id_maps_answer_like_the_dicts_they_replace(loaded):
    first, last = loaded.user_ids[0], loaded.user_ids[len(loaded.user_ids) - 1]
    assert loaded.user_index[first] == 0 and loaded.user_index.get(last) == len(loaded.user_ids) - 1
    assert loaded.user_index.get("no such user") is None and "no such user" not in loaded.user_index
    assert [loaded.item_index[i] for i in loaded.item_ids] == list(range(len(loaded.item_ids)))


@pytest.mark.parametrize(
    "ids", [["b", "a", "c10", "c9"], ["ü", "a", "日本", "z"], [], ["only"], ["", " "]]
)
def test_an_id_map_finds_every_id_and_nothing_else(ids):
    mapped = model.IdMap(ids)
    assert list(mapped) == ids and len(mapped) == len(ids)
    assert [mapped.index[i] for i in ids] == list(range(len(ids)))
    for unknown in ("x", "ü2", "c", "日", "\x00"):
        assert mapped.find(unknown) is None
    assert not mapped.has_duplicates()


@pytest.mark.parametrize("ids", [b'["a", "b", "a"]', '["é", "é"]'.encode()])
def test_duplicate_ids_make_the_model_corrupt(ids):
    with pytest.raises(ModelCorruptError, match="holds duplicate ids"):
        model._ids("/models/m/v1", {"user_ids.json": ids}, "user_ids.json")


def test_an_array_in_fortran_order_is_refused():
    buffer = io.BytesIO()
    np.save(buffer, np.asfortranarray(np.ones((3, 4), dtype=np.float32)))
    with pytest.raises(ModelCorruptError, match="C order"):
        model._array("/models/m/v1", {"a.npy": buffer.getvalue()}, "a.npy")
