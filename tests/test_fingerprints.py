"""Version ids and result fingerprints are stable hashes of canonical JSON."""

from __future__ import annotations

from models.canonical import canonical_json, fingerprint
from workers.blocks.base import BlockSpec
from workers.execute import TestContext, effective_n_consensus


def test_canonical_json_ignores_key_order_and_whitespace():
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == '{"a":[1,{"c":3,"d":2}],"b":1}'
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 1.5})
    assert len(fingerprint("x")) == 32 and len(fingerprint("x", 24)) == 24


def _ctx(config, inputs, n=1):
    block = BlockSpec(id="x", type="extract", label="", config=config)
    return TestContext(run_id="r", test_id="t", block=block, inputs={}, handle_inputs=inputs, assertion={},
                       n_consensus=n, version_id="v", version_content={"blocks": [config]})


def test_result_fingerprints_change_with_what_they_name():
    base = _ctx({"a": 1}, {"in": 1}).fingerprints()
    assert base == _ctx({"a": 1}, {"in": 1}).fingerprints()
    other_inputs = _ctx({"a": 1}, {"in": 2}).fingerprints()
    assert other_inputs["handle_inputs_fingerprint"] != base["handle_inputs_fingerprint"]
    assert other_inputs["block_config_fingerprint"] == base["block_config_fingerprint"]
    other_config = _ctx({"a": 2}, {"in": 1}).fingerprints()
    assert other_config["block_config_fingerprint"] != base["block_config_fingerprint"]
    assert other_config["workflow_draft_fingerprint"] != base["workflow_draft_fingerprint"]
    assert _ctx({"a": 1}, {"in": 1}, n=5).fingerprints()["execution_fingerprint"] != base["execution_fingerprint"]


def test_effective_n_consensus():
    assert effective_n_consensus("extract", {"n_consensus": 5}, None) == 5
    assert effective_n_consensus("extract", {"n_consensus": 5}, 3) == 3
    assert effective_n_consensus("classifier", {}, None) == 1
    assert effective_n_consensus("function", {"n_consensus": 5}, 7) == 1
    assert effective_n_consensus("split", {"n_consensus": True}, None) == 1
