"""query/context (the fast form of issue #10) answers exactly as its earlier form did.

cypher/test/context_reference.cypher keeps the earlier query, which re-walks each chosen
neuron's whole subtree. Both run on a random knowledge base built to be hard for the fast
form: a few tokens shared by every neuron (so a neuron holds the context token at several
distances and ranks), repeated tokens, wildcards merged as N2G does, and end activations from
a small grid (so neurons tie and a $limit cuts through ties). Every row must be the same, in
the same order, for many random (token, context, distance, model, layer, limit) combinations.
Only where two completions of one neuron tie (merged wildcards copy an end activation)
may the pattern differ, and then it must be an equally good completion of that neuron.
"""

from __future__ import annotations

import random

from n2g_kb.kb.fixtures import Pattern, trie_from_patterns
from n2g_kb.n2g.results import NeuronResult
from n2g_kb.n2g.trie import IGNORE

MODELS = ("ctx-a", "ctx-b")
TOKENS = ("a", "b", "c", "d", "e")
FIRING = ("a", "b", "c")
GRID = [round(0.5 + i * 0.0125, 4) for i in range(40)]


def random_neuron(
    model: str, layer: int, index: int, rng: random.Random
) -> tuple[NeuronResult, list[Pattern], set[tuple[tuple[str, ...], float]]]:
    patterns = []
    # distinct end activations inside one neuron (so its best completion is one node),
    # shared with other neurons (so neurons tie)
    activations = iter(rng.sample(GRID, len(GRID)))
    for firing in rng.sample(FIRING, rng.randint(1, 3)):
        for _ in range(rng.randint(1, 6)):
            context = [IGNORE if rng.random() < 0.25 else rng.choice(TOKENS) for _ in range(rng.randint(0, 4))]
            while context and context[0] == IGNORE:
                context.pop(0)
            patterns.append(Pattern((*context, firing), next(activations)))
    trie = trie_from_patterns(patterns, importance=0.8)
    trie.merge_ignores()
    result = NeuronResult(
        model=model, layer=layer, index=index, max_activation=1.0, trie_nodes=trie.to_rows(),
        firing_tokens=trie.firing_tokens(), context_tokens=trie.context_tokens(), metrics={"f1": 0.5},
    )
    completions = {(tuple(reversed(tokens)), end) for tokens, end in trie.patterns()}
    return result, patterns, completions


def random_params(rng: random.Random, patterns: list[Pattern]) -> dict:
    if rng.random() < 0.7:
        # a consecutive piece of a stored pattern's context (its distance varies)
        text = rng.choice([p.text for p in patterns if len(p.text) > 1])
        context, token = list(text[:-1]), text[-1]
        start = rng.randrange(len(context))
        end = rng.randint(start + 1, len(context))
        context, natural = context[start:end], len(context) - end + 1
    else:
        token = rng.choice(FIRING)
        context = [rng.choice((*TOKENS, IGNORE)) for _ in range(rng.randint(1, 3))]
        natural = rng.randint(1, 4)
    return {
        "token": token,
        "context": context,
        "distance": rng.choice((None, None, natural, rng.randint(1, 4))),
        "model": rng.choice((None, None, MODELS[0])),
        "layer": rng.choice((None, None, None, rng.randrange(3))),
        "limit": rng.choice((None, 1, 2, 3, 5, 8)),
    }


def same_answer(got: dict, expected: dict, completions: set) -> bool:
    """Equal rows, or rows that differ only in the pattern of a tie: an equally long stored
    completion of the neuron with the same end activation that holds the context."""
    if got == expected:
        return True
    if {k: v for k, v in got.items() if k != "pattern"} != {k: v for k, v in expected.items() if k != "pattern"}:
        return False
    pattern, context = tuple(got["pattern"]), tuple(got["context"])
    holds = any(pattern[i : i + len(context)] == context for i in range(len(pattern) - len(context)))
    return len(pattern) == len(expected["pattern"]) and (pattern, got["end_activation"]) in completions and holds


def test_context_answers_as_the_reference_query_on_random_tries_and_parameters(store):
    rng = random.Random(10)
    patterns: list[Pattern] = []
    completions: dict[tuple, set] = {}
    for model in MODELS:
        store.upsert_model(model, n_layers=3, d_mlp=16, hook="test")
        results = []
        for i in range(30):
            result, drawn, completions[(model, i % 3, i // 3)] = random_neuron(model, i % 3, i // 3, rng)
            results.append(result)
            patterns.extend(drawn)
        store.write_neurons(model, results)

    answered = cut = 0
    for _ in range(400):
        params = random_params(rng, patterns)
        expected = store.read("test/context_reference", **params)
        got = store.read("query/context", **params)
        assert len(got) == len(expected), params
        for g, e in zip(got, expected, strict=True):
            assert same_answer(g, e, completions[(g["model"], g["layer"], g["neuron"])]), (params, g, e)
        answered += bool(expected)
        if params["limit"] is not None and len(expected) == params["limit"]:
            whole = store.read("test/context_reference", **{**params, "limit": None})
            cut += len(whole) > params["limit"]
    # the comparison covers answers, and limits that leave neurons out
    assert answered > 150 and cut > 30, (answered, cut)
