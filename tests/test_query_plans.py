"""No library query scans a label: every cypher/query/*.cypher is PROFILEd on the fixture
knowledge base (with its Browser parameters and with every filter set) and must reach its
nodes through indexes and relationships only."""

from __future__ import annotations

import pytest

from n2g_kb.kb import cypher
from n2g_kb.kb.fixtures import FIXTURE_MODEL
from n2g_kb.kb.query import query_names

FORBIDDEN = ("NodeByLabelScan", "AllNodesScan", "CartesianProduct", "UnionNodeByLabelsScan", "IntersectionNodeByLabelsScan")


def operators(plan) -> list[str]:
    found = [plan["operatorType"].split("@")[0]]
    for child in plan.get("children", []):
        found.extend(operators(child))
    return found


def browser_params(name: str) -> dict:
    """The parameters of the query header's `:param` lines."""
    from n2g_kb.kb import library

    return {key: library.parse_literal(expr) for key, expr in library.browser_params(name)}


def narrowed(params: dict) -> dict:
    """The same parameters with every filter set (model, layer, neuron)."""
    out = dict(params)
    for key, value in (("model", FIXTURE_MODEL), ("layer", 1), ("neuron", 7)):
        if key in out:
            out[key] = value
    return out


@pytest.mark.parametrize("name", sorted(query_names()))
def test_no_library_query_scans_a_label_or_builds_a_cartesian_product(kb, name):
    for params in (browser_params(name), narrowed(browser_params(name))):
        with kb.driver.session(database=kb.database) as session:
            result = session.run("PROFILE " + cypher.load(name), params)
            rows = list(result)
            summary = result.consume()
        ops = operators(summary.profile)
        bad = sorted({op for op in ops if op in FORBIDDEN})
        assert not bad, f"{name} {params}: {bad} in {ops}"
        assert summary.profile["dbHits"] >= 0 and rows is not None


@pytest.mark.parametrize("name", ["query/fires_on", "query/context"])
def test_top_n_queries_read_their_index_in_answer_order(kb, name):
    # the strongest answers come first out of the composite index, so reading stops after
    # $limit rows: no Top/Sort over every neuron of a supernode token before the limit
    params = {**browser_params(name), "limit": 1}
    with kb.driver.session(database=kb.database) as session:
        result = session.run("PROFILE " + cypher.load(name), params)
        list(result)
        plan = result.consume().profile

    def below_limit(node, seen_limit=False) -> list[str]:
        op = node["operatorType"].split("@")[0]
        out = [op] if seen_limit else []
        for child in node.get("children", []):
            out.extend(below_limit(child, seen_limit or op == "Limit"))
        return out

    under = below_limit(plan)
    assert "NodeIndexSeek" in under and not {"Top", "Sort", "PartialSort", "PartialTop"} & set(under), under
