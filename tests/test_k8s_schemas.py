"""The official Kubernetes definitions (kubernetes-validate's), read whole or one at a time."""

from __future__ import annotations

import json

from modelservice.k8s import schemas


def test_every_definition_read_on_its_own_is_the_one_of_the_whole_document():
    whole = json.loads((schemas.schema_dir() / "_definitions.json").read_text(encoding="utf-8"))[
        "$defs"
    ]
    index = schemas.definition_index()
    assert index is not None, "_definitions.json is not laid out as the index expects"
    text, offsets = index
    assert sorted(offsets) == sorted(whole)
    decoder = json.JSONDecoder()
    assert all(decoder.raw_decode(text, at)[0] == whole[name] for name, at in offsets.items())


def test_a_name_the_document_lacks_has_no_definition():
    assert schemas.definition("io.k8s.api.core.v1.NoSuchThing") is None
