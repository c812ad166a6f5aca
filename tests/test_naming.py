"""The naming helpers: release-chart names, overrides, and the 63-character limit."""

from __future__ import annotations

import pytest

from conftest import Objects, assert_valid_kubernetes, render_values


def names(values, release="test"):
    rendered = render_values({"model": {"name": "org/model"}, **values}, release=release)
    assert_valid_kubernetes(rendered)
    objects = Objects(rendered)
    return {o["kind"]: o["metadata"]["name"] for o in objects.all}, objects


def test_objects_are_named_release_dash_chart():
    found, _ = names({}, release="qwen")
    assert found["Deployment"] == "qwen-modelservice"
    assert found["Service"] == "qwen-modelservice"
    assert found["PersistentVolumeClaim"] == "qwen-modelservice-cache"


def test_a_release_name_containing_the_chart_name_is_used_alone():
    found, _ = names({}, release="modelservice-qwen")
    assert found["Deployment"] == "modelservice-qwen"


def test_nameoverride_replaces_the_chart_name_in_names_and_the_name_label():
    found, objects = names({"nameOverride": "llm"}, release="qwen")
    assert found["Deployment"] == "qwen-llm"
    labels = objects.deployment["spec"]["selector"]["matchLabels"]
    assert labels["app.kubernetes.io/name"] == "llm"


def test_fullnameoverride_replaces_the_whole_name():
    found, _ = names({"fullnameOverride": "chat"}, release="qwen")
    assert found["Deployment"] == "chat"
    assert found["PersistentVolumeClaim"] == "chat-cache"


@pytest.mark.parametrize("length", [53])
def test_long_release_names_are_cut_to_63_characters_keeping_suffixes(length):
    release = "r" * (length - 1) + "x"
    found, _ = names({}, release=release)
    assert len(found["Deployment"]) <= 63
    assert not found["Deployment"].endswith("-")
    assert found["PersistentVolumeClaim"].endswith("-cache")
    assert len(found["PersistentVolumeClaim"]) <= 63


def test_a_63_character_fullnameoverride_still_yields_distinct_derived_names():
    found, _ = names({"fullnameOverride": "a" * 63})
    assert found["Deployment"] == "a" * 63
    assert found["PersistentVolumeClaim"] == "a" * 57 + "-cache"
    assert len(found["PersistentVolumeClaim"]) == 63
