"""Layer and neuron selections: syntax, bounds, and the messages users see."""

from __future__ import annotations

import pytest

from n2g_kb.errors import SelectionError
from n2g_kb.selection import format_ranges, parse_layers, parse_neurons, parse_ranges


def test_a_single_number_a_range_and_a_list_parse_to_sorted_distinct_numbers():
    assert parse_ranges("3") == (3,)
    assert parse_ranges("0-11") == tuple(range(12))
    assert parse_ranges("9-10, 0-3,7,2") == (0, 1, 2, 3, 7, 9, 10)


def test_a_reversed_range_says_how_to_write_it():
    with pytest.raises(SelectionError) as e:
        parse_ranges("3-1", "--layers")
    assert str(e.value) == "--layers 3-1: range end 1 is before start 3; use e.g. 1-3"


@pytest.mark.parametrize("text", ["x", "1-", "-1", "1,,2", "1.5", "0-3-5"])
def test_malformed_layers_are_rejected_with_the_offending_item(text):
    with pytest.raises(SelectionError, match=r"^--layers .*is not a layer number or range; use e.g. 0-11"):
        parse_ranges(text, "--layers")


def test_an_empty_selection_is_rejected():
    with pytest.raises(SelectionError, match="--neurons is empty"):
        parse_ranges("  ", "--neurons")


def test_layers_beyond_the_model_name_the_valid_range():
    with pytest.raises(SelectionError) as e:
        parse_layers("0-12", 12, "gpt2")
    assert str(e.value) == "--layers: layer 12 is out of range; gpt2 has 12 layers (use 0-11)"


def test_neurons_beyond_the_layer_width_are_rejected():
    with pytest.raises(SelectionError, match="neuron 3072 is out of range; gpt2 has 3072 neurons per layer"):
        parse_neurons("0,3072", 3072, "gpt2")


def test_no_neuron_selection_means_every_neuron():
    assert parse_neurons(None, 5) == (0, 1, 2, 3, 4)
    assert parse_neurons("all", 3) == (0, 1, 2)


def test_format_ranges_writes_the_compact_form_that_parses_back():
    values = (0, 1, 2, 3, 7, 9, 10, 42)
    assert format_ranges(values) == "0-3,7,9-10,42"
    assert parse_ranges(format_ranges(values)) == values
    assert format_ranges([]) == ""


def test_a_huge_neuron_range_is_rejected_from_its_bounds_without_being_expanded():
    import tracemalloc

    tracemalloc.start()
    with pytest.raises(SelectionError) as e:
        parse_neurons("0-999999999", 64, "tiny")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(e.value) == "--neurons: neuron 64 is out of range; tiny has 64 neurons per layer (use 0-63)"
    assert peak < 1_000_000  # bytes: nothing was expanded
    with pytest.raises(SelectionError, match="layer 12 is out of range"):
        parse_layers("5-7,12-999999999999", 12, "gpt2")


def test_a_selection_without_a_model_to_bound_it_refuses_to_expand_past_a_million():
    with pytest.raises(SelectionError, match=r"^--neurons 0-999999999: selects 1,000,000,000 numbers"):
        parse_ranges("0-999999999", "--neurons")
