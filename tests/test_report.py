"""The per-layer report: means as the paper takes them, and every export format."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from n2g_kb.runners.evaluate import Evaluation, NeuronScore
from n2g_kb.views.report import (
    TABLE_COLUMNS,
    layer_table,
    markdown_report,
    neuron_frame,
    report_dict,
    skipped_summary,
    to_markdown,
    write_report,
)


def _figures(f1: float, token_f1: float, ngram_f1: float, support: float = 4.0, nf: float = 0.9) -> dict[str, float]:
    return {
        "precision": f1,
        "recall": f1,
        "f1": f1,
        "support": support,
        "nonfiring_precision": nf,
        "nonfiring_recall": nf,
        "nonfiring_f1": nf,
        "nonfiring_support": 10.0,
        "baseline_token_f1": token_f1,
        "baseline_ngram_f1": ngram_f1,
    }


def _evaluation() -> Evaluation:
    return Evaluation(
        model="tiny",
        kind="held-out",
        settings={"threshold": 0.5, "ngram_context": 1},
        evaluated_at="2025-01-01T00:00:00+00:00",
        neurons=[
            NeuronScore(0, 0, _figures(0.8, 0.6, 0.5)),
            NeuronScore(0, 1, _figures(0.4, 0.2, 0.3, nf=0.7)),
            NeuronScore(0, 2, _figures(1.0, 1.0, 1.0, support=0.0, nf=0.5)),  # nothing to find: out of the firing means
            NeuronScore(0, 3, skipped="no graph: no trie is stored; re-ingest this neuron"),
            NeuronScore(1, 0, _figures(0.5, 0.4, 0.1)),
            NeuronScore(2, 7, skipped="dead: the neuron never fired on the mining corpus"),
            NeuronScore(2, 8, skipped="no graph: no trie is stored; re-ingest this neuron"),
        ],
    )


def test_the_layer_table_averages_firing_figures_over_neurons_with_firing_tokens():
    table = layer_table(_evaluation())
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert list(table["layer"]) == [0, 1, 2, "all"]
    layer0 = table.iloc[0]
    assert (layer0["neurons"], layer0["with_firing"], layer0["skipped"]) == (3, 2, 1)
    assert layer0["f1"] == pytest.approx(0.6)
    assert layer0["baseline_token_f1"] == pytest.approx(0.4)
    assert layer0["baseline_ngram_f1"] == pytest.approx(0.4)
    assert layer0["nonfiring_f1"] == pytest.approx((0.9 + 0.7 + 0.5) / 3)  # every neuron has non-firing tokens
    overall = table.iloc[3]
    assert (overall["neurons"], overall["with_firing"], overall["skipped"]) == (4, 3, 3)
    assert overall["f1"] == pytest.approx((0.8 + 0.4 + 0.5) / 3)


def test_a_layer_whose_neurons_were_all_skipped_has_counts_and_no_means():
    row = layer_table(_evaluation()).iloc[2]
    assert (row["neurons"], row["skipped"]) == (0, 2)
    assert math.isnan(row["f1"]) and math.isnan(row["baseline_token_f1"])


def test_markdown_tables_align_numbers_right_and_show_missing_values_as_a_dash():
    frame = pd.DataFrame({"layer": [0, "all"], "f1": [0.5, math.nan], "name": ["a|b", "c"]})
    assert to_markdown(frame, {"f1": "F1"}) == (
        "| layer | F1 | name |\n"
        "|:---|---:|:---|\n"
        "| 0 | 0.500 | a\\|b |\n"
        "| all | – | c |\n"
    )


def test_the_markdown_report_holds_the_settings_the_table_and_the_skip_reasons():
    text = markdown_report(_evaluation())
    assert text.startswith("# N2G evaluation: tiny\n")
    assert ">= 0.5 of the neuron's max activation" in text
    assert "| Layer | Neurons | Firing | Skipped | P | R | F1 | Non-firing P |" in text
    assert "| 0 | 3 | 2 | 1 | 0.600 | 0.600 | 0.600 | 0.700 | 0.700 | 0.700 | 0.400 | 0.400 |" in text
    assert "Skipped: 2 no graph, 1 dead" in text


def test_skipped_neurons_are_counted_by_kind():
    assert skipped_summary(_evaluation()) == [("no graph", 2), ("dead", 1)]


def test_the_json_report_lists_layers_overall_and_skipped_neurons_with_nulls_for_missing_means():
    payload = json.loads(json.dumps(report_dict(_evaluation())))
    assert payload["model"] == "tiny" and payload["kind"] == "held-out"
    assert payload["neurons"] == {"selected": 7, "evaluated": 4, "skipped": 3, "written": 0}
    assert [row["layer"] for row in payload["layers"]] == [0, 1, 2]
    assert payload["layers"][2]["f1"] is None
    assert payload["overall"]["neurons"] == 4
    assert payload["skipped"][0] == {
        "layer": 0,
        "neuron": 3,
        "kind": "no graph",
        "reason": "no graph: no trie is stored; re-ingest this neuron",
    }


def test_write_report_produces_every_file(tmp_path):
    paths = write_report(_evaluation(), tmp_path / "report")
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == sorted(
        ["table.md", "table.csv", "table.json", "f1_by_layer.png", "neurons.csv"]
    )
    assert paths["f1_by_layer.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["f1_by_layer.png"].stat().st_size > 5_000
    table = pd.read_csv(paths["table.csv"])
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert table.loc[0, "f1"] == pytest.approx(0.6)
    neurons = pd.read_csv(paths["neurons.csv"])
    assert len(neurons) == 7
    assert neurons.loc[neurons["neuron"] == 7, "skipped"].item().startswith("dead:")
    assert json.loads(paths["table.json"].read_text())["overall"]["with_firing"] == 3


def test_a_report_with_no_scored_neuron_still_writes_its_files(tmp_path):
    evaluation = Evaluation("tiny", "corpus", {"threshold": 0.5}, [NeuronScore(0, 0, skipped="dead: never fired")])
    paths = write_report(evaluation, tmp_path)
    assert paths["f1_by_layer.png"].read_bytes()[:4] == b"\x89PNG"
    assert "| 0 | 0 | 0 | 1 | – |" in paths["table.md"].read_text()
    assert "new text" in paths["table.md"].read_text()


def test_the_neuron_frame_has_one_row_per_selected_neuron():
    frame = neuron_frame(_evaluation())
    assert len(frame) == 7
    assert frame["evaluated"].sum() == 4
