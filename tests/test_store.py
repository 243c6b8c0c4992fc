"""The store against a real Neo4j: atomic, replace-not-duplicate neuron graphs."""

from __future__ import annotations

import json

import pytest

from n2g_kb.errors import ConfigError, DatabaseError, NotFoundError
from n2g_kb.kb.store import WRITE_GROUP_NEURONS as WRITE_GROUP_NEURONS_FOR_TESTS
from n2g_kb.n2g.results import Example, NeuronResult

WEIRD = ["it's", 'say "hi"', "back\\slash", "new\nline", "ünïcødé ✓", "ĠParis", "Ċ", "<|endoftext|>"]


def _rows(firing: str, context: list[str]) -> list[dict]:
    """A one-pattern trie: root -> firing token -> context tokens going back."""
    rows = [dict(id=0, parent=None, kind="root", token=None, depth=0, activation=None, importance=None, end_activation=None)]
    rows.append(dict(id=1, parent=0, kind="token", token=firing, depth=1, activation=0.9, importance=None, end_activation=None))
    for i, tok in enumerate(context):
        last = i == len(context) - 1
        rows.append(
            dict(
                id=i + 2,
                parent=i + 1,
                kind="ignore" if tok == "<IGNORE>" else "token",
                token=tok,
                depth=i + 2,
                activation=None,
                importance=None if tok == "<IGNORE>" else 0.8,
                end_activation=0.9 if last else None,
            )
        )
    return rows


def _result(layer: int, index: int, firing: str = "paris", context: list[str] | None = None) -> NeuronResult:
    context = ["<IGNORE>", "in"] if context is None else context
    return NeuronResult(
        model="tiny",
        layer=layer,
        index=index,
        max_activation=2.5,
        trie_nodes=_rows(firing, context),
        firing_tokens={firing: 0.9},
        context_tokens={t: 0.8 for t in context if t != "<IGNORE>"},
        examples=[
            Example(tokens=["I", " live", " in", " Paris"], activations=[0.0, 0.1, 0.2, 2.5], split="train"),
            Example(tokens=[" in", " Paris"], activations=[0.1, 2.2], split="test"),
        ],
        metrics={"f1": 0.75, "precision": 0.5, "recall": 1.0},
    )


def test_a_written_neuron_reads_back_identically(store):
    original = _result(1, 7)
    store.write_neurons("tiny", [original], run_id=None)
    loaded = store.load_neuron("tiny", 1, 7)
    assert loaded.trie_nodes == original.trie_nodes
    assert loaded.examples == original.examples
    assert loaded.metrics == original.metrics
    assert loaded.firing_tokens == original.firing_tokens
    assert loaded.context_tokens == original.context_tokens
    assert loaded.max_activation == 2.5


def test_rewriting_a_neuron_replaces_its_graph_without_duplicates(store):
    store.write_neurons("tiny", [_result(0, 3, "paris", ["<IGNORE>", "in"])])
    store.write_neurons("tiny", [_result(0, 3, "london", ["to"])])
    counts = store.read("test/neuron_counts", model="tiny", layer=0, index=3)[0]
    assert counts == {"neurons": 1, "trie_nodes": 3, "examples": 2, "example_nodes": 1, "fires_on": ["london"], "roots": 1}


def test_weird_tokens_are_stored_and_found_exactly(store):
    results = [_result(0, i, firing=tok, context=[WEIRD[(i + 1) % len(WEIRD)]]) for i, tok in enumerate(WEIRD)]
    store.write_neurons("tiny", results)
    for r in results:
        loaded = store.load_neuron("tiny", 0, r.index)
        assert loaded.trie_nodes == r.trie_nodes
    texts = {row["text"] for row in store.read("test/tokens")}
    assert set(WEIRD) <= texts


def test_a_failing_batch_leaves_the_previous_graphs_intact(store):
    store.write_neurons("tiny", [_result(0, 1, "paris")])
    good = _result(0, 1, "london")
    bad = _result(0, 2)
    bad.props = {"nested": {"not": "a property value"}}  # Neo4j refuses a map as a property value
    with pytest.raises(DatabaseError):
        store.write_neurons("tiny", [good, bad])
    assert store.load_neuron("tiny", 0, 1).firing_tokens == {"paris": 0.9}
    assert store.neuron_status("tiny", 0) == {1: "ok"}


def test_trie_rows_that_repeat_an_id_are_refused_before_anything_is_written(store):
    from n2g_kb.errors import ConfigError

    store.write_neurons("tiny", [_result(0, 1, "paris")])
    bad = _result(0, 2)
    bad.trie_nodes[1]["id"] = 0
    with pytest.raises(ConfigError, match="repeat trie node id 0"):
        store.write_neurons("tiny", [_result(0, 1, "london"), bad])
    assert store.load_neuron("tiny", 0, 1).firing_tokens == {"paris": 0.9}
    assert store.neuron_status("tiny", 0) == {1: "ok"}


def test_an_unknown_neuron_is_a_clear_not_found_error(store):
    with pytest.raises(NotFoundError, match="n2gkb ingest tiny --layers 4 --neurons 2"):
        store.load_neuron("tiny", 4, 2)


def test_runs_record_provenance_and_link_their_neurons(store):
    store.start_run("run-1", "tiny", config={"n_examples": 20}, layers=[0, 1])
    store.write_neurons("tiny", [_result(0, 1)], run_id="run-1")
    store.finish_run("run-1", "finished", neurons_written=1)
    row = store.read("test/run", id="run-1")[0]
    assert row["status"] == "finished"
    assert row["config_json"] == '{"n_examples": 20}'
    assert row["layers"] == [0, 1]
    assert row["produced"] == 1


def test_the_method_and_its_config_are_stored_on_each_neuron_and_can_be_filtered_on(store):
    paper = _result(0, 1)
    improved = _result(0, 2)
    improved.method, improved.method_config = "n2g+", {"method": "n2g+", "backoff": True}
    store.write_neurons("tiny", [paper, improved], run_id=None)
    rows = store.read("test/neurons_by_method", model="tiny", method="n2g+")
    assert [(r["layer"], r["index"]) for r in rows] == [(0, 2)]
    assert json.loads(rows[0]["config_json"]) == {"method": "n2g+", "backoff": True}
    assert [r["index"] for r in store.read("test/neurons_by_method", model="tiny", method="paper")] == [1]
    loaded = store.load_neuron("tiny", 0, 2)
    assert (loaded.method, loaded.method_config) == ("n2g+", {"method": "n2g+", "backoff": True})
    assert "method" not in loaded.metrics


def test_schema_initialisation_is_idempotent(store):
    store.init_schema()
    store.init_schema()
    names = {row["name"] for row in store.read("test/constraints")}
    assert {"neuron_key", "token_text", "model_name", "run_id"} <= names
    assert not {"trie_node_key", "example_key"} & names  # trie nodes and examples are reached from their Neuron


def test_the_unit_kind_and_sae_are_stored_on_the_neuron_and_read_back(store):
    from dataclasses import replace

    latent = replace(_result(2, 5), model="tiny@sae", kind="sae_latent", sae="blocks.2.hook_resid_post")
    store.write_neurons("tiny@sae", [latent], run_id=None)
    store.write_neurons("tiny", [_result(2, 5)], run_id=None)
    loaded = store.load_neuron("tiny@sae", 2, 5)
    assert (loaded.kind, loaded.sae) == ("sae_latent", "blocks.2.hook_resid_post")
    assert "kind" not in loaded.metrics and loaded.metrics == latent.metrics
    plain = store.load_neuron("tiny", 2, 5)
    assert (plain.kind, plain.sae) == ("neuron", None)


NASTY_TOKENS = [
    "", '"', '""', "\\", '\\"', '\\\\""', "new\nline", "\r\n", "\r", "\t", ";", ",", ",;\"", "\x1f", "a\x1fb", "\x00",
    "[", "]", '["x"]', "\\u0041", "ünïcødé ✓", "日本語", "🙂", "\u2028", "Ġ", "<|endoftext|>", "  spaced  ", "'",
]
NASTY_FLOATS = [
    1e-300, -0.0, 0.0, 3.4028234663852886e38, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
    1.7976931348623157e308, -1.7976931348623157e308, 0.1, 1 / 3, -2.5, 123456789.125, 1e16, float("inf"), float("-inf"),
]


def _nasty_examples() -> list[Example]:
    """Examples whose tokens hold quotes, backslashes, newlines, delimiters, unicode and empty
    strings, and whose activations are extreme, signed-zero and subnormal floats."""
    floats = (NASTY_FLOATS * 3)[: len(NASTY_TOKENS)]
    return [
        Example(NASTY_TOKENS, floats, "train"),
        Example([], [], "sample"),
        Example(list(reversed(NASTY_TOKENS[:7])), list(reversed(floats[:7])), "test"),
        Example([" Paris"], [2.0], "random"),
    ]


def _bits(examples: list[Example]) -> list[tuple[str, list[str], bytes]]:
    """Examples compared exactly: -0.0 is not 0.0 here."""
    import numpy as np

    return [(e.split, list(e.tokens), np.asarray(e.activations, "<f8").tobytes()) for e in examples]


def test_examples_pack_into_two_strings_and_unpack_bit_for_bit():
    import base64

    import numpy as np

    from n2g_kb.kb.store import pack_examples, unpack_examples

    examples = _nasty_examples()
    packed = pack_examples(examples)
    assert set(packed) == {"splits", "lengths", "tokens_json", "activations_f64"}
    assert packed["splits"] == ["train", "sample", "test", "random"]
    assert packed["lengths"] == [len(NASTY_TOKENS), 0, 7, 1]
    # the documented reading of the two strings
    assert json.loads(packed["tokens_json"]) == [t for e in examples for t in e.tokens]
    decoded = np.frombuffer(base64.b64decode(packed["activations_f64"]), "<f8")
    assert decoded.tobytes() == np.asarray([a for e in examples for a in e.activations], "<f8").tobytes()
    assert "\n" not in packed["tokens_json"] and "\x1f" not in packed["tokens_json"]  # written as JSON escapes
    assert _bits(unpack_examples(packed)) == _bits(examples)
    odd = [float("nan"), np.float32(0.1)]  # NaN's bits kept; a numpy float32 stored as its float64
    packed = pack_examples([Example(["a", "b"], odd, "train")])
    assert base64.b64decode(packed["activations_f64"]) == np.asarray(odd, "<f8").tobytes()
    assert pack_examples([]) is None and unpack_examples(None) == []


def test_examples_node_arrays_of_earlier_versions_unpack():
    from n2g_kb.kb.store import unpack_examples

    examples = _nasty_examples()
    earlier = {
        "splits": [e.split for e in examples],
        "lengths": [len(e.tokens) for e in examples],
        "tokens": [t for e in examples for t in e.tokens],
        "activations": [a for e in examples for a in e.activations],
    }
    assert _bits(unpack_examples(earlier)) == _bits(examples)


def test_a_neurons_examples_are_one_node_of_two_strings_and_read_back_in_order(store):
    result = _result(0, 5)
    result.examples = _nasty_examples()
    store.write_neurons("tiny", [result])
    counts = store.read("test/neuron_counts", model="tiny", layer=0, index=5)[0]
    assert (counts["example_nodes"], counts["examples"]) == (1, 4)
    node = store.read("test/examples_node", model="tiny", layer=0, index=5)[0]["props"]
    assert set(node) == {"model", "layer", "neuron", "splits", "lengths", "tokens_json", "activations_f64"}
    assert isinstance(node["tokens_json"], str) and isinstance(node["activations_f64"], str)
    assert _bits(store.load_neuron("tiny", 0, 5).examples) == _bits(result.examples)
    from n2g_kb.kb.store import result_from_record

    loaded = store.read("eval/neurons_load", model="tiny", keys=[{"layer": 0, "index": 5}])
    assert _bits(result_from_record(loaded[0]).examples) == _bits(result.examples)
    evaluable = store.read("eval/neurons", model="tiny", layers=[0], neurons=[5])[0]
    assert (evaluable["n_train"], evaluable["n_test"]) == (1, 1)


def test_an_examples_node_of_arrays_written_before_still_reads_and_is_replaced(store):
    """Knowledge bases written before the two strings hold tokens string[] / activations double[]."""
    from n2g_kb.kb.store import result_from_record

    result = _result(0, 8)
    result.examples = _nasty_examples()
    store.write_neurons("tiny", [result])
    converted = store.write(
        "test/array_examples", model="tiny", layer=0, index=8,
        tokens=[t for e in result.examples for t in e.tokens], activations=[a for e in result.examples for a in e.activations],
    )
    assert converted[0]["converted"] == 1
    node = store.read("test/examples_node", model="tiny", layer=0, index=8)[0]["props"]
    assert "tokens_json" not in node and isinstance(node["tokens"], list) and isinstance(node["activations"], list)
    assert _bits(store.load_neuron("tiny", 0, 8).examples) == _bits(result.examples)
    loaded = store.read("eval/neurons_load", model="tiny", keys=[{"layer": 0, "index": 8}])
    assert _bits(result_from_record(loaded[0]).examples) == _bits(result.examples)
    audit = {row["index"]: row for row in store.read("ingest/audit_neurons", model="tiny")}
    assert audit[8]["examples"] == 4
    store.write_neurons("tiny", [result])  # re-writing stores the two strings
    assert "tokens_json" in store.read("test/examples_node", model="tiny", layer=0, index=8)[0]["props"]
    assert store.read("test/neuron_counts", model="tiny", layer=0, index=8)[0]["example_nodes"] == 1


def test_a_knowledge_base_with_one_example_node_per_example_still_reads_and_is_replaced(store):
    """Knowledge bases written before the Examples node hold one Example node per example."""
    result = _result(0, 6)
    store.write_neurons("tiny", [result])
    examples = [
        {"split": e.split, "idx": [x.split for x in result.examples[:i]].count(e.split), "pos": i, "tokens": e.tokens,
         "activations": e.activations}
        for i, e in enumerate(result.examples)
    ]
    assert store.write("test/legacy_examples", model="tiny", layer=0, index=6, examples=examples)[0]["converted"] == 2
    counts = store.read("test/neuron_counts", model="tiny", layer=0, index=6)[0]
    assert counts["example_nodes"] == 0
    assert store.load_neuron("tiny", 0, 6).examples == result.examples
    loaded = store.read("eval/neurons_load", model="tiny", keys=[{"layer": 0, "index": 6}])
    from n2g_kb.kb.store import result_from_record

    assert result_from_record(loaded[0]).examples == result.examples
    evaluable = store.read("eval/neurons", model="tiny", layers=[0], neurons=[6])[0]
    assert (evaluable["n_train"], evaluable["n_test"]) == (1, 1)
    audit = {row["index"]: row for row in store.read("ingest/audit_neurons", model="tiny")}
    assert audit[6]["examples"] == 2
    store.write_neurons("tiny", [result])  # re-ingesting replaces the old Example nodes
    assert store.read("ingest/audit_orphans", model="tiny")[0]["orphan_examples"] == 0
    assert not [r for r in store.read("test/census") if r["kind"] == "Example"]
    assert store.load_neuron("tiny", 0, 6).examples == result.examples


def _operators(plan) -> list[str]:
    """Each operator of a plan as 'Operator details'."""
    here = f"{plan['operatorType'].split('@')[0]} {plan.get('args', {}).get('Details', '')}"
    return [here, *[op for child in plan.get("children", []) for op in _operators(child)]]


@pytest.mark.parametrize("name", ["read/neuron", "eval/neurons_load", "write/neurons"])
def test_a_neurons_trie_is_reached_from_the_neuron_without_scanning_a_label(store, name):
    """Trie nodes have no per-neuron index: the per-neuron reads and the write's delete walk
    HAS_TRIE / NEXT from the Neuron (found by its unique key)."""
    from n2g_kb.kb import cypher
    from n2g_kb.kb.store import neuron_params

    store.write_neurons("tiny", [_result(1, 2)])
    params = {
        "read/neuron": {"model": "tiny", "layer": 1, "index": 2},
        "eval/neurons_load": {"model": "tiny", "keys": [{"layer": 1, "index": 2}]},
        "write/neurons": {**neuron_params("tiny", [_result(1, 2)]), "run_id": None},
    }[name]
    with store.driver.session(database=store.database) as session:
        result = session.run("PROFILE " + cypher.load(name), params)
        list(result)
        ops = _operators(result.consume().profile)
    assert any(op.split()[0].startswith(("NodeIndexSeek", "NodeUniqueIndexSeek")) and "n:Neuron(model, layer" in op
               for op in ops), ops
    assert any(op.startswith("VarLengthExpand") for op in ops), ops
    assert not [op for op in ops if op.split()[0] in ("NodeByLabelScan", "AllNodesScan")], ops
    assert not [op for op in ops if "Index" in op.split()[0] and ":TrieNode" in op], ops


def test_concurrent_writers_of_one_neuron_leave_one_graph(store):
    """Without the ingest's claim, the write itself locks the Neuron before it replaces its graph."""
    from concurrent.futures import ThreadPoolExecutor

    versions = [_result(2, 9, firing, ["to", "in"]) for firing in ("paris", "london", "rome", "oslo")] * 3
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda r: store.write_neurons("tiny", [r]), versions))
    counts = store.read("test/neuron_counts", model="tiny", layer=2, index=9)[0]
    assert (counts["roots"], counts["trie_nodes"], counts["example_nodes"]) == (1, 4, 1)
    assert len(counts["fires_on"]) == 1
    assert store.read("ingest/audit_orphans", model="tiny")[0] == {
        "orphan_trie_nodes": 0, "orphan_examples": 0, "trie_nodes_without_neuron": 0}


def test_a_large_batch_is_written_in_groups_and_a_failing_group_loses_only_its_own_neurons(store):
    from n2g_kb.kb.store import WRITE_GROUP_NEURONS

    n = 2 * WRITE_GROUP_NEURONS + 5
    results = [_result(0, i, firing=f"tok{i}") for i in range(n)]
    results[-1].props = {"nested": {"not": "a property value"}}  # refused by Neo4j: fails the last group
    _, before = store.kb_version()
    with pytest.raises(DatabaseError):
        store.write_neurons("tiny", results)
    _, after = store.kb_version()
    assert after == before + 2  # the two full groups committed, one transaction each
    written = set(store.neuron_status("tiny", 0))
    assert written == set(range(2 * WRITE_GROUP_NEURONS))
    for r in results[: 2 * WRITE_GROUP_NEURONS]:
        assert store.load_neuron("tiny", 0, r.index).trie_nodes == r.trie_nodes


def test_groups_written_concurrently_land_whole_and_a_neuron_given_twice_keeps_its_later_version(store, monkeypatch):
    from n2g_kb.kb import store as store_module
    from n2g_kb.kb.store import WRITE_GROUP_NEURONS

    monkeypatch.setenv("N2GKB_WRITE_CONCURRENCY", "3")
    n = 4 * WRITE_GROUP_NEURONS + 3
    results = [_result(3, i, firing=f"tok{i}", context=[f"ctx{i % 5}", "in"]) for i in range(n)]
    seen: list[int] = []
    real = store_module.Store._write_group

    def spy(self, model, group, *args):
        seen.append(len(group))
        return real(self, model, group, *args)

    monkeypatch.setattr(store_module.Store, "_write_group", spy)
    _, before = store.kb_version()
    written = store.write_neurons("tiny", results)
    assert [r.index for r in written] == list(range(n))  # in the order given
    assert sorted(seen) == sorted([WRITE_GROUP_NEURONS] * 4 + [3])
    _, after = store.kb_version()
    assert after == before + 5
    for r in results:
        loaded = store.load_neuron("tiny", 3, r.index)
        assert loaded.trie_nodes == r.trie_nodes and loaded.firing_tokens == r.firing_tokens
    assert store.read("ingest/audit_orphans", model="tiny")[0] == {
        "orphan_trie_nodes": 0, "orphan_examples": 0, "trie_nodes_without_neuron": 0}
    # the same neuron in the first and the last group: written one group after another
    twice = [_result(4, 0, firing="first")] + [_result(4, i, firing=f"t{i}") for i in range(1, WRITE_GROUP_NEURONS + 2)]
    twice.append(_result(4, 0, firing="last"))
    store.write_neurons("tiny", twice)
    assert store.load_neuron("tiny", 4, 0).firing_tokens == {"last": 0.9}


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_write_concurrency_is_a_one_line_error(store, monkeypatch, value):
    monkeypatch.setenv("N2GKB_WRITE_CONCURRENCY", value)
    with pytest.raises(ConfigError, match="N2GKB_WRITE_CONCURRENCY"):
        store.write_neurons("tiny", [_result(5, i) for i in range(2 * WRITE_GROUP_NEURONS_FOR_TESTS)])


def test_write_groups_keep_order_and_bound_neurons_and_trie_nodes():
    from n2g_kb.kb.store import WRITE_GROUP_NEURONS, WRITE_GROUP_NODES, _write_groups

    big = NeuronResult(model="tiny", layer=0, index=0, max_activation=1.0, trie_nodes=[{}] * (WRITE_GROUP_NODES - 10))
    small = [NeuronResult(model="tiny", layer=0, index=i, max_activation=1.0, trie_nodes=[{}] * 20) for i in range(1, 40)]
    huge = NeuronResult(model="tiny", layer=0, index=99, max_activation=1.0, trie_nodes=[{}] * (3 * WRITE_GROUP_NODES))
    results = [big, *small, huge]
    groups = _write_groups(results)
    assert [r for g in groups for r in g] == results
    assert groups[0] == [big]  # the next neuron would pass the trie-node budget
    assert groups[-1] == [huge]  # a neuron larger than the budget is a group of its own
    assert all(len(g) <= WRITE_GROUP_NEURONS for g in groups)
    assert all(sum(len(r.trie_nodes) for r in g) <= WRITE_GROUP_NODES for g in groups[:-1])


def test_trie_nodes_store_only_what_the_readers_cannot_derive(store):
    """id, kind, parent and a firing-token node's activation are left out of the stored
    node (derived on reading), and fire/rank are only on context nodes."""
    original = _result(2, 5, "paris", ["<IGNORE>", "in"])
    store.write_neurons("tiny", [original])
    stored = store.read("test/trie_properties", model="tiny", layer=2, index=5)
    keys = {row["depth"]: set(row["keys"]) for row in stored}
    assert all(not ({"id", "kind", "parent"} & k) for k in keys.values())
    assert "activation" not in keys[1] and "fire_rank" in keys[1]
    assert not ({"fire", "rank"} & keys[1]) and {"fire", "rank"} <= keys[3]
    assert store.load_neuron("tiny", 2, 5).trie_nodes == original.trie_nodes


def test_a_node_whose_values_are_not_the_derived_ones_keeps_them(store):
    original = _result(2, 6, "paris", ["in"])
    original.firing_tokens = {"paris": 0.7}  # the depth-1 node's activation (0.9) differs
    store.write_neurons("tiny", [original])
    stored = {row["depth"]: set(row["keys"]) for row in store.read("test/trie_properties", model="tiny", layer=2, index=6)}
    assert "activation" in stored[1]
    assert store.load_neuron("tiny", 2, 6).trie_nodes == original.trie_nodes


def test_fixture_tries_with_many_branches_read_back_row_for_row(store):
    from n2g_kb.kb.fixtures import fixture_results

    results = [r for r in fixture_results() if r.trie_nodes][:6]
    assert any(sum(1 for row in r.trie_nodes if row["depth"] == 1) > 1 for r in results)  # several branches
    store.write_neurons(results[0].model, results)
    for r in results:
        assert store.load_neuron(r.model, r.layer, r.index).trie_nodes == r.trie_nodes


def test_a_knowledge_base_of_the_format_before_neuron_numbers_is_migrated_on_first_read(store, neo4j_driver, neo4j_settings):
    """Trie nodes written with model, layer and neuron (no nid) are given their neuron's number
    the first time a store reads the knowledge base, and then answer as before."""
    from n2g_kb.kb import query
    from n2g_kb.kb.store import Store, neuron_number

    store.write_neurons("tiny", [_result(0, 6), _result(2, 9, firing="rome")])
    store.write_neurons("other", [_result(1, 4)])
    before = query.fires_on(store, "paris").astype(object).values.tolist()
    similar = query.similar(store, model="tiny", layer=0, neuron=6, threshold=0.1, limit=10, engine="cypher").astype(object).values.tolist()
    assert similar  # the two tiny neurons share their context tokens
    assert store.write("test/legacy_nid")[0]["converted"] > 0
    assert store.read("test/trie_properties", model="tiny", layer=0, index=6)  # still reachable
    fresh = Store(neo4j_driver, neo4j_settings.database, settings=neo4j_settings)
    assert query.fires_on(fresh, "paris").astype(object).values.tolist() == before
    assert fresh.migrate() == 0  # done once
    assert query.similar(fresh, model="tiny", layer=0, neuron=6, threshold=0.1, limit=10, engine="cypher").astype(object).values.tolist() == similar
    store.write("test/legacy_nid")
    assert store.migrate(batch=1) == 3  # one neuron per transaction
    assert query.fires_on(store, "paris").astype(object).values.tolist() == before
    props = store.read("test/trie_properties", model="other", layer=1, index=4)
    assert props and all(p["nid"] == neuron_number(2, 1, 4) for p in props)
    assert not any({"model", "layer", "neuron"} & set(p["keys"]) for p in props)
    assert query.fires_on(fresh, "rome").astype(object).values.tolist()[0][:3] == ["tiny", 2, 9]


def test_a_knowledge_base_of_format_2_gets_short_numbers_and_wildcard_keys(store, neo4j_driver, neo4j_settings, capsys):
    """Format 2 numbered neurons with a 9-digit index and wrote '<IGNORE>' in pattern keys:
    a fresh store migrates it back to exactly what this version writes, and fire (Cypher and
    in memory) and fires_on answer as before."""
    from n2g_kb.kb import query
    from n2g_kb.kb.fixtures import FIXTURE_NEURONS, fixture_results
    from n2g_kb.kb.store import Store
    from n2g_kb.n2g.trie import IGNORE

    results = [r for r in fixture_results() if r.trie_nodes]
    for model in dict.fromkeys(r.model for r in results):
        store.write_neurons(model, [r for r in results if r.model == model])
    texts = [["zzz" if t == IGNORE else t for t in p.text] for n in FIXTURE_NEURONS for p in n.patterns]

    def answers(s):
        return ([query.fire(s, text, engine=engine).astype(object).values.tolist() for text in texts for engine in ("cypher", "memory")],
                query.fires_on(s, texts[0][-1]).astype(object).values.tolist())

    before, keys = answers(store), store.read("test/pattern_keys")
    assert any("<IGNORE>" in row[-1] for text in before[0] for row in text)  # wildcard patterns answered
    assert store.write("test/format2")[0]["converted"] > 0
    old = store.read("test/pattern_keys")
    assert any("<IGNORE>" in (r["pkey"] or "") for r in old) and all(r["nid"] >= 10**12 for r in old)
    fresh = Store(neo4j_driver, neo4j_settings.database, settings=neo4j_settings)
    capsys.readouterr()
    assert answers(fresh) == before
    assert "bringing the knowledge base to graph format 3" in capsys.readouterr().err  # the user is told
    assert fresh.read("test/pattern_keys") == keys
    assert fresh.migrate() == 0


def test_summary_edges_read_each_context_tokens_importance_from_the_trie_or_the_neuron(store):
    """CONTEXT edges carry no property: a token's importance is its trie's (the highest of
    its context nodes'), and only importances that differ from the trie's are stored, on the
    Neuron (context_importance, at the token's place in its context list)."""
    from n2g_kb.n2g.trie import Trie

    derived = _result(0, 3, context=["of", "the", "in"])
    rows = [dict(r) for r in derived.trie_nodes]
    for row, value in zip([r for r in rows if r["kind"] == "token" and r["depth"] >= 2], (0.25, 0.5, 0.75, 0.125), strict=False):
        row["importance"] = value
    derived.trie_nodes = rows
    derived.context_tokens = Trie.from_rows(rows).context_tokens()
    derived.firing_tokens = {"paris": 0.9}
    given = _result(0, 4, context=["of", "the", "in"])
    given.context_tokens = {"of": 0.25, "the": 0.5, "in": 0.75}  # not the trie's
    given.firing_tokens = {"paris": 0.9}
    store.write_neurons("tiny", [derived, given])
    stored = store.read("test/neuron_props", model="tiny", layer=0, index=3)[0]["props"]
    assert "context_importance" not in stored and stored["firing_groups"] == [0]
    assert store.read("test/neuron_props", model="tiny", layer=0, index=4)[0]["props"]["context_importance"] == [0.75, 0.25, 0.5]
    rows = store.read("read/summary_edges", model="tiny")
    values = {(r["neuron"], r["role"], r["token"]): r["value"] for r in rows}
    assert {k: v for k, v in values.items() if k[0] == 3} == {
        (3, "CONTEXT", t): i for t, i in derived.context_tokens.items()} | {(3, "FIRES_ON", "paris"): 0.9}
    assert {k: v for k, v in values.items() if k[0] == 4} == {
        (4, "CONTEXT", "of"): 0.25, (4, "CONTEXT", "the"): 0.5, (4, "CONTEXT", "in"): 0.75, (4, "FIRES_ON", "paris"): 0.9,
    }


def test_a_unit_index_beyond_the_knowledge_bases_numbers_is_a_one_line_error():
    from n2g_kb.errors import ConfigError
    from n2g_kb.kb.store import UNITS, neuron_number, neuron_params

    with pytest.raises(ConfigError, match=r"indexes 0-9,999,999 of a layer; this one is out of that range"):
        neuron_params("tiny", [_result(0, UNITS)])
    assert neuron_params("tiny", [_result(0, UNITS - 1)])["neurons"][0]["index"] == UNITS - 1
    assert neuron_number(2, 999, UNITS - 1) < 2**35  # the second model's numbers fit one property block


def test_a_knowledge_base_begun_by_any_write_is_in_the_current_format(store):
    """Whichever write creates the KnowledgeBase node (model, run or neurons) marks it with
    the current format, so a later store finds nothing to migrate."""
    from n2g_kb.kb.store import FORMAT

    for begin in (lambda: store.upsert_model("tiny", n_layers=2, d_mlp=16),
                  lambda: store.start_run("run-format", "tiny"),
                  lambda: store.write_neurons("tiny", [_result(0, 1)])):
        store.clear()
        begin()
        store.write_neurons("tiny", [_result(0, 2)])
        assert store.read("admin/format")[0]["format"] == FORMAT
        assert store.migrate() == 0
