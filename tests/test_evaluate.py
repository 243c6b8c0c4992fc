"""Evaluation of stored graphs: hand-checked figures, the round trip, skips, new text."""

from __future__ import annotations

import json
import random

import pytest

from n2g_kb.errors import ConfigError, NotFoundError
from n2g_kb.runners.evaluate import (
    CorpusOptions,
    EvalSettings,
    NotEvaluableError,
    Tally,
    corpus_windows,
    evaluate_neuron,
    evaluate_on_corpus,
    evaluate_stored,
    normalise,
    score_examples,
)
from n2g_kb.n2g.metrics import metrics_dict
from n2g_kb.n2g.results import Example, NeuronResult
from n2g_kb.n2g.trie import IGNORE, Trie

ROOT = dict(id=0, parent=None, kind="root", token=None, depth=0, activation=None, importance=None, end_activation=None)


def _paris_rows() -> list[dict]:
    """One pattern: 'paris' fires when the token before it is 'in' (predicts 0.9)."""
    return [
        ROOT,
        dict(id=1, parent=0, kind="token", token="paris", depth=1, activation=0.9, importance=None, end_activation=None),
        dict(id=2, parent=1, kind="token", token="in", depth=2, activation=None, importance=0.8, end_activation=0.9),
    ]


def _hand_neuron(model: str = "tiny", layer: int = 0, index: int = 0) -> NeuronResult:
    """Max activation 2.0. Test examples give, at threshold 0.5 (normalised):
    N2G    tp=1 fp=1 fn=2 tn=5 -> P 1/2, R 1/3, F1 2/5; non-firing P 5/7, R 5/6, F1 10/13
    token  (fit on train: ' Paris' -> 1.0, ' now' -> 0.1)
           tp=2 fp=1 fn=1 tn=5 -> P 2/3, R 2/3, F1 2/3; non-firing P 5/6, R 5/6, F1 5/6
    n-gram (fit on train: (' in', ' Paris') -> 1.0): the same counts as N2G
    """
    return NeuronResult(
        model=model,
        layer=layer,
        index=index,
        max_activation=2.0,
        trie_nodes=_paris_rows(),
        firing_tokens={"paris": 0.9},
        context_tokens={"in": 0.8},
        examples=[
            Example([" in", " Paris", " now"], [0.0, 2.0, 0.2], "train"),
            Example(["I", " live", " in", " Paris"], [0.0, 0.2, 0.4, 2.0], "test"),  # tp
            Example([" to", " Paris", " now"], [0.0, 1.6, 1.2], "test"),  # fn, fn
            Example([" in", " Paris"], [0.2, 0.6], "test"),  # fp
        ],
        metrics={"f1": 0.123, "n_variants": 4.0},
    )


HAND = {
    "precision": 1 / 2,
    "recall": 1 / 3,
    "f1": 2 / 5,
    "support": 3.0,
    "nonfiring_precision": 5 / 7,
    "nonfiring_recall": 5 / 6,
    "nonfiring_f1": 10 / 13,
    "nonfiring_support": 6.0,
    "baseline_token_precision": 2 / 3,
    "baseline_token_recall": 2 / 3,
    "baseline_token_f1": 2 / 3,
    "baseline_token_support": 3.0,
    "baseline_token_nonfiring_precision": 5 / 6,
    "baseline_token_nonfiring_recall": 5 / 6,
    "baseline_token_nonfiring_f1": 5 / 6,
    "baseline_token_nonfiring_support": 6.0,
    "baseline_ngram_precision": 1 / 2,
    "baseline_ngram_recall": 1 / 3,
    "baseline_ngram_f1": 2 / 5,
    "baseline_ngram_support": 3.0,
    "baseline_ngram_nonfiring_precision": 5 / 7,
    "baseline_ngram_nonfiring_recall": 5 / 6,
    "baseline_ngram_nonfiring_f1": 10 / 13,
    "baseline_ngram_nonfiring_support": 6.0,
    "n_train_examples": 1.0,
    "n_test_examples": 3.0,
}


def _unscorable(model: str = "tiny") -> list[NeuronResult]:
    good = _hand_neuron(model)
    no_graph = NeuronResult(model, 0, 1, 2.0, trie_nodes=[], examples=good.examples)
    no_test = NeuronResult(model, 0, 2, 2.0, trie_nodes=_paris_rows(), examples=good.examples[:1])
    dead = NeuronResult(model, 1, 3, 0.0, status="dead")
    failed = NeuronResult(model, 1, 4, 1.5, status="failed", error="RuntimeError: out of memory")
    return [no_graph, no_test, dead, failed]


def _random_trie(rng: random.Random, vocab: list[str]) -> Trie:
    trie = Trie()
    for _ in range(6):
        n = rng.randrange(3, 10)
        tokens = [rng.choice(vocab) for _ in range(n)]
        acts = [rng.random() for _ in range(n)]
        importances = [[rng.random() for _ in range(n)] for _ in range(n)]
        trie.add_sample(tokens, acts, importances)
    trie.merge_ignores()
    return trie


def _random_neuron(rng: random.Random, vocab: list[str], layer: int, index: int) -> tuple[NeuronResult, Trie]:
    trie = _random_trie(rng, vocab)
    max_act = rng.uniform(0.5, 3.0)

    def example(split: str) -> Example:
        n = rng.randrange(4, 16)
        return Example([rng.choice(vocab) for _ in range(n)], [rng.uniform(-0.2, 1.1) * max_act for _ in range(n)], split)

    examples = [example("train") for _ in range(4)] + [example("test") for _ in range(4)]
    result = NeuronResult(
        "tiny", layer, index, max_act, trie_nodes=trie.to_rows(), firing_tokens=trie.firing_tokens(), examples=examples
    )
    return result, trie


VOCAB = [" in", " Paris", "paris", " the", "The", " of", ",", "\n", " 2019", "Ġ", "ünï", " I", "I", "<|endoftext|>"]


# -- the pure core -------------------------------------------------------------------


def test_a_hand_built_trie_scores_the_figures_worked_out_by_hand():
    figures = evaluate_neuron(_hand_neuron())
    assert figures == pytest.approx(HAND, abs=1e-12)
    assert set(figures) == set(HAND)


def test_normalising_matches_extraction_bit_for_bit():
    raw = [0.1, 0.7, 1.3, 2.9]
    assert normalise(raw, 2.9) == [a * (1.0 / 2.9) for a in raw]


def test_a_neuron_without_graph_or_test_examples_is_not_evaluable():
    no_graph, no_test, dead, failed = _unscorable()
    with pytest.raises(NotEvaluableError, match="no graph"):
        evaluate_neuron(no_graph)
    with pytest.raises(NotEvaluableError, match="no test examples"):
        evaluate_neuron(no_test)
    with pytest.raises(NotEvaluableError, match="dead"):
        evaluate_neuron(dead)
    with pytest.raises(NotEvaluableError, match="out of memory"):
        evaluate_neuron(failed)


def test_a_higher_threshold_changes_which_tokens_fire():
    figures = evaluate_neuron(_hand_neuron(), EvalSettings(threshold=0.95))
    # Only ' Paris' at 1.0 fires in truth; the trie predicts 0.9 < 0.95 everywhere: recall 0.
    assert figures["support"] == 1.0
    assert figures["recall"] == 0.0 and figures["precision"] == 1.0


def test_invalid_settings_say_how_to_fix_them():
    with pytest.raises(ConfigError, match="--threshold"):
        EvalSettings(threshold=0.0)
    with pytest.raises(ConfigError, match="--ngram-context"):
        EvalSettings(ngram_context=-1)
    with pytest.raises(ConfigError, match="--max-tokens"):
        CorpusOptions(context=64, max_tokens=10)


def test_a_tally_over_many_texts_equals_the_metrics_of_all_texts_at_once():
    rng = random.Random(3)
    truths = [[rng.random() for _ in range(rng.randrange(1, 9))] for _ in range(20)]
    preds = {name: [[rng.random() for _ in t] for t in truths] for name in ("n2g", "token", "ngram")}
    tally = Tally(threshold=0.5)
    for i, truth in enumerate(truths):
        tally.add(truth, {name: p[i] for name, p in preds.items()})
    expected = metrics_dict(truths, preds["n2g"], {"token": preds["token"], "ngram": preds["ngram"]})
    figures = tally.metrics()
    assert figures.pop("n_tokens") == sum(len(t) for t in truths)
    assert figures == expected


# -- against the store ---------------------------------------------------------------


def test_evaluating_the_stored_graph_writes_the_hand_figures_onto_the_neuron(store):
    store.write_neurons("tiny", [_hand_neuron()])
    evaluation = evaluate_stored(store, "tiny")
    assert [n.metrics for n in evaluation.neurons] == [pytest.approx(HAND, abs=1e-12)]
    assert evaluation.written == 1
    loaded = store.load_neuron("tiny", 0, 0)
    assert {k: loaded.metrics[k] for k in HAND} == pytest.approx(HAND, abs=1e-12)
    assert loaded.metrics["n_variants"] == 4.0  # extraction's other figures stay
    row = store.read("eval/evaluated", model="tiny", layers=None)[0]
    assert row["evaluated_at"] is not None
    assert json.loads(row["eval_settings_json"])["threshold"] == 0.5
    assert json.loads(row["eval_settings_json"])["ngram_context"] == 1


def test_a_neuron_whose_examples_node_holds_the_arrays_of_earlier_versions_still_evaluates(store):
    """Examples nodes written before tokens_json / activations_f64 hold a string[] and a double[]."""
    neuron = _hand_neuron()
    store.write_neurons("tiny", [neuron])
    converted = store.write(
        "test/array_examples", model="tiny", layer=0, index=0,
        tokens=[t for e in neuron.examples for t in e.tokens], activations=[a for e in neuron.examples for a in e.activations],
    )
    assert converted[0]["converted"] == 1
    assert "tokens_json" not in store.read("test/examples_node", model="tiny", layer=0, index=0)[0]["props"]
    evaluation = evaluate_stored(store, "tiny")
    assert [n.metrics for n in evaluation.neurons] == [pytest.approx(HAND, abs=1e-12)]


def test_a_trie_loaded_from_neo4j_predicts_exactly_what_the_in_memory_trie_predicts(store):
    rng = random.Random(0)
    built = [_random_neuron(rng, VOCAB, layer, index) for layer in range(2) for index in range(4)]
    store.write_neurons("tiny", [r for r, _ in built])
    for result, trie in built:
        loaded = Trie.from_rows(store.load_neuron("tiny", result.layer, result.index).trie_nodes)
        assert loaded == trie
        for _ in range(30):
            tokens = [rng.choice(VOCAB) for _ in range(rng.randrange(1, 20))]
            assert loaded.predict(tokens) == trie.predict(tokens)
            assert loaded.predict(tokens, greedy=True) == trie.predict(tokens, greedy=True)


def test_held_out_figures_from_the_store_equal_those_computed_in_memory(store):
    rng = random.Random(1)
    built = [_random_neuron(rng, VOCAB, layer, index) for layer in range(2) for index in range(5)]
    in_memory = {
        r.key[1:]: score_examples(
            trie, [e for e in r.examples if e.split == "train"], [e for e in r.examples if e.split == "test"], r.max_activation
        )
        for r, trie in built
    }
    store.write_neurons("tiny", [r for r, _ in built])
    evaluation = evaluate_stored(store, "tiny", settings=EvalSettings(batch_size=3))
    assert len(evaluation.scored) == 10
    for n in evaluation.neurons:
        assert n.metrics == in_memory[(n.layer, n.index)]
        stored = store.load_neuron("tiny", n.layer, n.index).metrics
        assert {k: stored[k] for k in n.metrics} == in_memory[(n.layer, n.index)]


def test_neurons_without_graph_or_test_examples_are_reported_and_skipped(store):
    store.write_neurons("tiny", [_hand_neuron(), *_unscorable()])
    evaluation = evaluate_stored(store, "tiny")
    reasons = {(n.layer, n.index): n.skipped for n in evaluation.neurons}
    assert reasons[(0, 0)] is None
    assert reasons[(0, 1)].startswith("no graph:")
    assert reasons[(0, 2)].startswith("no test examples:")
    assert reasons[(1, 3)].startswith("dead:")
    assert reasons[(1, 4)] == "failed: RuntimeError: out of memory"
    assert evaluation.written == 1
    stamped = {(r["layer"], r["index"]): r["evaluated_at"] for r in store.read("eval/evaluated", model="tiny", layers=None)}
    assert stamped[(0, 0)] is not None
    assert [stamped[k] for k in [(0, 1), (0, 2), (1, 3), (1, 4)]] == [None] * 4


def test_an_inconsistent_stored_trie_is_skipped_with_its_reason(store):
    bad = _hand_neuron(index=5)
    bad.trie_nodes[2]["parent"] = 7  # points to a node that does not exist
    store.write_neurons("tiny", [_hand_neuron(), bad])
    evaluation = evaluate_stored(store, "tiny")
    skipped = {n.index: n.skipped for n in evaluation.skipped}
    assert list(skipped) == [5]
    assert skipped[5].startswith("bad graph:") and "missing parent" in skipped[5]


def test_no_write_scores_without_touching_the_neurons(store):
    store.write_neurons("tiny", [_hand_neuron()])
    evaluation = evaluate_stored(store, "tiny", write=False)
    assert evaluation.scored[0].metrics["f1"] == pytest.approx(0.4)
    assert evaluation.written == 0
    assert store.load_neuron("tiny", 0, 0).metrics["f1"] == 0.123


def test_layer_and_neuron_selections_pick_only_those_neurons(store):
    store.write_neurons("tiny", [_hand_neuron(layer=0, index=0), _hand_neuron(layer=1, index=0), _hand_neuron(layer=1, index=2)])
    evaluation = evaluate_stored(store, "tiny", layers=[1], neurons=[2])
    assert [(n.layer, n.index) for n in evaluation.neurons] == [(1, 2)]


def test_an_empty_selection_names_the_layers_the_knowledge_base_holds(store):
    store.write_neurons("tiny", [_hand_neuron(layer=0), _hand_neuron(layer=1)])
    with pytest.raises(NotFoundError, match=r"match --layers 5-6; the knowledge base holds layers 0-1"):
        evaluate_stored(store, "tiny", layers=[5, 6])


def test_an_unknown_model_says_to_ingest_it_first(store):
    with pytest.raises(NotFoundError, match="No neurons of model 'nope'.*n2gkb ingest nope"):
        evaluate_stored(store, "nope")


# -- on new text ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from n2g_kb.lm.model import load_model
    from n2g_kb.testing import build_tiny_gpt2

    path = build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), n_layers=2, d_mlp=16, vocab_size=300, n_ctx=64)
    return load_model(str(path), device="cpu")


def test_scores_on_new_text_use_the_models_own_activations_as_truth(store, tiny_model):
    from n2g_kb.lm.model import batched_neuron_activations
    from n2g_kb.testing import synthetic_corpus

    name = tiny_model.name
    rng = random.Random(2)
    text_vocab = tiny_model.to_str_tokens(tiny_model.to_tokens(" ".join(synthetic_corpus(40, seed=1)))[:60])
    built = [_random_neuron(rng, sorted(set(text_vocab)), layer, index) for layer in (0, 1) for index in (3, 9)]
    for r, _ in built:
        r.model = name
        r.max_activation = 0.05  # low, so this random model's activations cross the threshold
        r.metrics = {"f1": 0.5}
    store.write_neurons(name, [r for r, _ in built])
    documents = synthetic_corpus(30, seed=5)
    options = CorpusOptions(context=16, max_tokens=160, batch_size=4)
    evaluation = evaluate_on_corpus(
        store, tiny_model, name, corpus_windows(tiny_model, documents, options), options=options, corpus={"name": "synthetic"}
    )
    assert len(evaluation.scored) == 4
    assert evaluation.settings["tokens_scored"] == 160

    windows = list(corpus_windows(tiny_model, documents, options))
    sequences = [[tiny_model.bos_token_id, *w] for w in windows]
    for r, trie in built:
        acts = batched_neuron_activations(tiny_model, r.layer, sequences, [r.index] * len(sequences), max_batch_rows=4)
        texts = [tiny_model.to_str_tokens(s) for s in sequences]
        truth = [normalise(a.tolist(), r.max_activation)[1:] for a in acts]
        train = [e for e in r.examples if e.split == "train"]
        from n2g_kb.n2g.metrics import NGramBaseline, TokenLookupBaseline

        fit = ([e.tokens for e in train], [normalise(e.activations, r.max_activation) for e in train])
        token, ngram = TokenLookupBaseline().fit(*fit), NGramBaseline(1, 0.5).fit(*fit)
        expected = metrics_dict(
            truth,
            [trie.predict(t)[1:] for t in texts],
            {"token": [token.predict(t)[1:] for t in texts], "ngram": [ngram.predict(t)[1:] for t in texts]},
        )
        got = next(n for n in evaluation.neurons if (n.layer, n.index) == (r.layer, r.index)).metrics
        assert {k: got[k] for k in expected} == pytest.approx(expected, abs=1e-6)
        assert got["support"] > 0  # the check is not vacuous
        stored = store.load_neuron(name, r.layer, r.index).metrics
        assert stored["corpus_f1"] == got["f1"]
        assert stored["f1"] == 0.5  # held-out figures stay
    row = store.read("eval/evaluated", model=name, layers=[0])[0]
    assert json.loads(row["corpus_eval_settings_json"])["corpus"] == {"name": "synthetic"}
    assert row["evaluated_at"] is None and row["corpus_evaluated_at"] is not None


def test_new_text_scoring_refuses_neurons_the_loaded_model_does_not_have(store, tiny_model):
    far = _hand_neuron(model=tiny_model.name, layer=0, index=tiny_model.d_mlp + 3)
    store.write_neurons(tiny_model.name, [far])
    with pytest.raises(ConfigError, match="--model-path"):
        evaluate_on_corpus(store, tiny_model, tiny_model.name, iter([[1, 2, 3]]), options=CorpusOptions(context=16, max_tokens=64))


def test_new_text_windows_must_fit_the_models_context(store, tiny_model):
    store.write_neurons(tiny_model.name, [_hand_neuron(model=tiny_model.name)])
    with pytest.raises(ConfigError, match="--context 64 does not fit .* use at most 63"):
        evaluate_on_corpus(store, tiny_model, tiny_model.name, iter([[1, 2, 3]]), options=CorpusOptions(context=64))


def test_ignore_nodes_survive_the_round_trip(store):
    trie = Trie()
    trie.add_sample([" in", " the", " Paris"], [0.0, 0.0, 1.0], [[1.0], [0.0, 1.0], [0.9, 0.1, 1.0]])
    assert IGNORE in trie.root.children["paris"].children
    store.write_neurons("tiny", [NeuronResult("tiny", 0, 0, 1.0, trie_nodes=trie.to_rows())])
    loaded = Trie.from_rows(store.load_neuron("tiny", 0, 0).trie_nodes)
    assert loaded.predict([" in", " a", " Paris"]) == [0.0, 0.0, 1.0]
