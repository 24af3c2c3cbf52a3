"""Which versions a publish prunes, and how their keys are found in Feast's encoding (no store needed)."""

import fnmatch
import struct

import pytest

from conf import ConfigError, load_config
from jobs.publish import buckets_for, versions_to_prune
from serving.store import entity_key_head, redis_glob_escape, version_key_pattern


def test_the_newest_versions_stay_and_the_live_one_and_its_predecessor_always_do():
    assert versions_to_prune(["v4", "v3", "v2", "v1"], 3, {"v4", "v3"}) == ["v1"]
    assert versions_to_prune(["v3", "v2", "v1"], 3, {"v3", "v2"}) == []
    # A publish that failed half-way ("x") is recorded but never went live: the live one (v2) still stays.
    assert versions_to_prune(["v3", "x", "v2", "v1"], 2, {"v3", "v2"}) == ["v1"]


def test_keep_versions_below_two_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="keep_versions"):
        load_config("local", {"workdir": str(tmp_path), "publish": {"keep_versions": 1}}, environ={})


def test_buckets_grow_with_rows_so_chunks_do_not():
    assert [buckets_for(rows, 100) for rows in (0, 1, 100, 101, 1_000_000)] == [1, 1, 1, 2, 10_000]


def test_a_version_prefix_sits_after_feasts_key_header_and_length():
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    value = "v1:control:5"
    encoded = serialize_entity_key(EntityKey(join_keys=["list_key"], entity_values=[Value(string_val=value)]), 3)
    head = entity_key_head("list_key", 3)
    assert encoded == head + struct.pack("<I", len(value)) + value.encode()


def test_the_redis_pattern_matches_its_version_only():
    def key(value: str) -> str:
        # fnmatch works on text; latin-1 maps each byte to one character, as Redis matches bytes.
        return (entity_key_head("list_key", 3) + struct.pack("<I", len(value)) + value.encode() + b"movierec").decode("latin-1")

    pattern = version_key_pattern("list_key", "v*", "movierec", 3).decode("latin-1")
    # fnmatch has no backslash escapes: translate Redis's to fnmatch's [x] form.
    translated = "".join(f"[{c}]" if escaped else c for c, escaped in _unescape(pattern))
    assert fnmatch.fnmatchcase(key("v*:control:5"), translated)
    assert not fnmatch.fnmatchcase(key("v1:control:5"), translated)
    assert not fnmatch.fnmatchcase(key("v*:control:5") + "x", translated), "the project name ends the key"
    assert redis_glob_escape(b"a*b?[c]\\") == b"a\\*b\\?\\[c\\]\\\\"


def _unescape(pattern: str):
    chars, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\":
            chars.append((pattern[i + 1], True))
            i += 2
        else:
            chars.append((pattern[i], False))
            i += 1
    return chars
