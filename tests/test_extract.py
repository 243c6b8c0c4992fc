"""The batched N2G pipeline: from mined examples to one scored trie per neuron."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from n2g_kb.n2g.augment import MaskedLMAugmenter, load_augmenter
from n2g_kb.n2g.config import N2GConfig
from n2g_kb.errors import ConfigError, ModelError, SelectionError
from n2g_kb.n2g.extract import example_ids, extract_neurons, split_examples
from n2g_kb.lm.model import LoadedModel, load_model
from n2g_kb.n2g.results import Example, NeuronResult
from n2g_kb.testing import build_tiny_gpt2, build_tiny_masked_lm, mine_top_examples, synthetic_corpus
from n2g_kb.n2g.trie import Trie

LAYER = 1
NEURONS = [0, 1, 2, 3, 4, 5]
CONFIG = N2GConfig(augment_model=None, max_length=64, batch_tokens=4096)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return load_model(str(build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))), device="cpu")


@pytest.fixture(scope="module")
def mlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_masked_lm(tmp_path_factory.mktemp("tiny-mlm"))


@pytest.fixture(scope="module")
def augmenter(mlm_dir: Path) -> MaskedLMAugmenter:
    return load_augmenter(str(mlm_dir), device="cpu")


@pytest.fixture(scope="module")
def mined(model: LoadedModel) -> tuple[dict[int, list[Example]], dict[int, float]]:
    return mine_top_examples(model, LAYER, synthetic_corpus(300, seed=1), window=24, k=20, neurons=NEURONS)


@pytest.fixture(scope="module")
def batched(model, mined, augmenter) -> list[NeuronResult]:
    examples, maxima = mined
    return extract_neurons(model, LAYER, NEURONS, examples, maxima, CONFIG, augmenter=augmenter)


def rows_match(a: list[dict], b: list[dict], tol: float = 1e-4) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        for key in x:
            u, v = x[key], y[key]
            if isinstance(u, float) and isinstance(v, float):
                if abs(u - v) > tol:
                    return False
            elif u != v:
                return False
    return True


def examples_of(n: int) -> list[Example]:
    return [Example([f" w{i}", "."], [float(i), 0.0]) for i in range(n)]


def test_examples_split_ten_and_ten_with_a_fixed_seed() -> None:
    train, test = split_examples(examples_of(20), N2GConfig())
    assert (len(train), len(test)) == (10, 10)
    assert {e.split for e in train} == {"train"} and {e.split for e in test} == {"test"}
    assert {e.tokens[0] for e in train} | {e.tokens[0] for e in test} == {f" w{i}" for i in range(20)}
    again, _ = split_examples(examples_of(20), N2GConfig())
    other, _ = split_examples(examples_of(20), N2GConfig(seed=1))
    assert [e.tokens for e in again] == [e.tokens for e in train]
    assert [e.tokens for e in other] != [e.tokens for e in train]


def test_examples_that_carry_a_split_keep_it_and_extra_examples_are_left_out() -> None:
    given = [Example([" a"], [1.0], split="test"), Example([" b"], [1.0]), Example([" c"], [1.0], split="test")]
    train, test = split_examples(given, N2GConfig())
    assert [e.tokens for e in train] == [[" b"]] and [e.tokens for e in test] == [[" a"], [" c"]]
    train, test = split_examples(examples_of(30), N2GConfig())
    assert len(train) + len(test) == 20


def test_example_text_is_retokenised_with_one_bos(model: LoadedModel) -> None:
    tokens = model.to_str_tokens(model.to_tokens("Alice went to Paris."))
    given = [Example(["<|endoftext|>", *tokens], [0.0] * (len(tokens) + 1)), Example(tokens, [0.0] * len(tokens))]
    [with_bos, without] = example_ids(model, given, CONFIG)
    assert with_bos == model.to_tokens("Alice went to Paris.", prepend_bos=True) == without


def test_every_neuron_gets_a_scored_trie_from_its_examples(batched: list[NeuronResult], model: LoadedModel) -> None:
    assert [r.index for r in batched] == NEURONS
    for result in batched:
        assert result.status == "ok", result.error
        assert (result.model, result.layer) == (model.name, LAYER)
        assert result.trie_nodes and result.trie_nodes[0]["kind"] == "root"
        trie = Trie.from_rows(result.trie_nodes)
        assert result.firing_tokens == trie.firing_tokens() and result.firing_tokens
        assert result.context_tokens == trie.context_tokens()
        assert sorted(e.split for e in result.examples) == ["test"] * 10 + ["train"] * 10
        for key in ("precision", "recall", "f1", "nonfiring_f1", "baseline_token_f1", "baseline_ngram_f1"):
            assert 0.0 <= result.metrics[key] <= 1.0
        assert result.metrics["n_train_examples"] == 10 and result.metrics["n_test_examples"] == 10
    assert sum(r.metrics["n_variants"] for r in batched) > 0


def test_metrics_score_the_trie_on_the_held_out_examples(batched: list[NeuronResult]) -> None:
    from n2g_kb.n2g.metrics import firing_scores

    for result in batched:
        trie = Trie.from_rows(result.trie_nodes)
        test = [e for e in result.examples if e.split == "test"]
        truth = [[a / result.max_activation for a in e.activations] for e in test]
        scores = firing_scores(truth, [trie.predict(e.tokens) for e in test])
        assert result.metrics["f1"] == pytest.approx(scores["firing"].f1)
        assert result.metrics["recall"] == pytest.approx(scores["firing"].recall)


def test_batched_and_one_neuron_at_a_time_extraction_build_the_same_tries(
    model, mined, augmenter, batched: list[NeuronResult]
) -> None:
    examples, maxima = mined
    one_by_one = extract_neurons(
        model, LAYER, NEURONS, examples, maxima, CONFIG, augmenter=augmenter, neurons_per_batch=1
    )
    for a, b in zip(batched, one_by_one):
        assert a.status == b.status == "ok"
        assert rows_match(a.trie_nodes, b.trie_nodes), f"neuron {a.index} differs"
        assert a.metrics == pytest.approx(b.metrics, abs=1e-6)


def test_a_trie_predicts_firing_on_the_key_tokens_of_its_own_training_examples(batched: list[NeuronResult]) -> None:
    checked = 0
    for result in batched:
        trie = Trie.from_rows(result.trie_nodes)
        for example in (e for e in result.examples if e.split == "train"):
            truth = np.array(example.activations) / result.max_activation
            key = int(np.argmax(truth))
            if truth[key] < 0.6:
                continue  # near the threshold rescaling of the pruned prompt may tip it
            assert trie.predict(example.tokens)[key] >= 0.5, (result.index, example.tokens[: key + 1])
            checked += 1
    assert checked >= len(batched) * 5


def test_a_neuron_that_never_activates_is_dead_and_has_no_trie(model, mined) -> None:
    examples, maxima = mined
    [dead] = extract_neurons(model, LAYER, [2], examples, {2: -0.1}, CONFIG)
    assert dead.status == "dead" and dead.trie_nodes == [] and dead.error is None
    [zero] = extract_neurons(model, LAYER, [2], examples, {2: 0.0}, CONFIG)
    assert zero.status == "dead"


def test_a_neuron_without_examples_fails_with_what_to_do_and_the_others_carry_on(model, mined) -> None:
    examples, maxima = mined
    bad = dict(examples)
    bad[1] = [Example([None, None], [1.0, 2.0])]  # type: ignore[list-item]
    results = extract_neurons(model, LAYER, [0, 1, 7], bad, {**maxima, 7: 1.0}, CONFIG)
    assert [r.status for r in results] == ["ok", "failed", "failed"]
    assert "TypeError" in results[1].error
    assert "no examples" in results[2].error and "mine" in results[2].error


def test_progress_is_reported_for_every_stage(model, mined, augmenter) -> None:
    examples, maxima = mined
    seen: dict[str, tuple[int, int]] = {}
    def record(stage: str, done: int, total: int) -> None:
        seen[stage] = (done, total)

    extract_neurons(model, LAYER, [0, 3], examples, maxima, CONFIG, augmenter=augmenter, progress=record)
    assert {"prune", "saliency", "augment", "saliency-augmented", "trie", "neurons"} <= set(seen)
    assert seen["neurons"] == (2, 2) and seen["trie"] == (2, 2)
    assert all(done == total for done, total in seen.values())


def test_the_masked_lm_named_in_the_config_is_loaded_when_none_is_given(model, mined, mlm_dir: Path) -> None:
    examples, maxima = mined
    config = N2GConfig(augment_model=str(mlm_dir), max_length=64, batch_tokens=4096)
    [result] = extract_neurons(model, LAYER, [4], examples, maxima, config)
    assert result.status == "ok" and result.metrics["n_variants"] > 0
    with pytest.raises(ModelError, match="could not load masked LM"):
        extract_neurons(model, LAYER, [4], examples, maxima, N2GConfig(augment_model=str(mlm_dir / "missing")))


def test_without_augmentation_no_variants_are_made(model, mined) -> None:
    examples, maxima = mined
    [result] = extract_neurons(model, LAYER, [4], examples, maxima, CONFIG)
    assert result.metrics["n_variants"] == 0


def test_out_of_range_neurons_and_layers_are_refused(model, mined) -> None:
    examples, maxima = mined
    with pytest.raises(SelectionError, match="neuron 256"):
        extract_neurons(model, LAYER, [256], examples, maxima, CONFIG)
    with pytest.raises(ConfigError, match="layer 9"):
        extract_neurons(model, 9, [0], examples, maxima, CONFIG)


def test_config_values_are_checked_and_recorded() -> None:
    with pytest.raises(ConfigError, match="train_fraction=1.5"):
        N2GConfig(train_fraction=1.5)
    with pytest.raises(ConfigError, match="augment_model=''"):
        N2GConfig(augment_model="")
    record = N2GConfig().to_dict()
    assert record["n_examples"] == 20 and record["augment_model"] == "distilbert-base-uncased"
    assert record["importance_threshold"] == 0.75 and record["prune_step"] == 5


# -- the methods ------------------------------------------------------------------------------


def test_the_paper_method_builds_exactly_what_it_built_before_n2g_plus(batched: list[NeuronResult]) -> None:
    """tests/data/paper_method_golden.json was written by the code before n2g+ existed
    (commit 71732fa), on this module's fixtures: same tries, same figures."""
    import json

    golden = json.loads((Path(__file__).parent / "data" / "paper_method_golden.json").read_text())
    assert [g["index"] for g in golden] == [r.index for r in batched]
    for g, result in zip(golden, batched):
        assert result.status == g["status"] and result.method == "paper"
        assert rows_match(result.trie_nodes, g["trie_nodes"], tol=2e-4), f"neuron {result.index} differs"
        assert set(result.metrics) == set(g["metrics"])
        assert result.metrics == pytest.approx(g["metrics"], abs=2e-4)


def test_n2g_plus_learns_every_firing_token_and_scores_the_held_out_random_text(model, mined, augmenter) -> None:
    from n2g_kb.n2g.results import ExtraExamples

    examples, maxima = mined
    # a stand-in for the mining pass's extra windows: the same windows' tails as samples and held-out text
    extra = {
        n: ExtraExamples(samples=[Example(e.tokens[:12], e.activations[:12]) for e in examples[n][10:13]],
                         heldout=[Example(e.tokens[12:], e.activations[12:]) for e in examples[n][:3]])
        for n in NEURONS
    }
    config = N2GConfig.for_method("n2g+", augment_model=None, max_length=64, batch_tokens=4096, negative_examples=0)
    paper = extract_neurons(model, LAYER, NEURONS, examples, maxima, CONFIG, augmenter=augmenter, extra=extra)
    improved = extract_neurons(model, LAYER, NEURONS, examples, maxima, config, augmenter=augmenter, extra=extra)
    for p, r in zip(paper, improved):
        assert r.status == "ok" and (r.method, r.method_config["method"]) == ("n2g+", "n2g+")
        assert [e.split for e in r.examples].count("sample") == 3 and [e.split for e in r.examples].count("random") == 3
        assert [e.split for e in p.examples].count("sample") == 0  # the paper trains on its top examples only
        assert set(p.firing_tokens) <= set(r.firing_tokens)
        assert r.metrics["n_firing_prompts"] > 0
        for key in ("random_f1", "random_nonfiring_f1", "random_baseline_token_f1"):
            assert 0.0 <= r.metrics[key] <= 1.0 and key in p.metrics
        # the back-off: every token that fired in training is predicted somewhere by the trie
        trie = Trie.from_rows(r.trie_nodes)
        assert all(node is not None for node in (trie.root.children.get(t) for t in r.firing_tokens))
    assert any(set(r.firing_tokens) > set(p.firing_tokens) for p, r in zip(paper, improved))
