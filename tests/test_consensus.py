"""Reconciling consensus choices: votes per leaf, aligned lists, quorum, and their properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.blocks.base import BlockError
from workers.blocks.consensus import (
    align_items,
    reconcile_classification,
    reconcile_extraction,
    reconcile_splits,
    single_choice,
    successful_choices,
    values_agree,
    vote_leaf,
)


def leaves(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in leaves(v)]
    if isinstance(tree, list):
        return [leaf for v in tree for leaf in leaves(v)]
    return [tree]


# --------------------------------------------------------------------------- leaves

def test_numbers_within_three_percent_cluster_to_their_mean():
    assert vote_leaf([100, 102, 150]) == (101, 2 / 3)
    assert vote_leaf([100.0, 103.0, 97.0]) == (100.0, 1.0)
    value, likelihood = vote_leaf([1234.56, 1234.57, 9.99])
    assert value == pytest.approx(1234.565) and likelihood == pytest.approx(2 / 3)
    assert not values_agree(100, 104)


def test_equal_numbers_keep_their_exact_value():
    value, _ = vote_leaf([0.1 + 0.2, 0.1 + 0.2, 5])
    assert value == 0.1 + 0.2


def test_strings_vote_normalized_and_keep_the_most_common_spelling():
    assert vote_leaf(["Acme, Inc.", "acme inc", "ACME  Inc", "acme inc", "Globex"]) == ("acme inc", 4 / 5)
    assert vote_leaf(["Acme Inc.", "acme inc"]) == ("Acme Inc.", 1.0)  # a spelling tie: the earliest


def test_booleans_and_null_are_votes():
    assert vote_leaf([True, True, False, None]) == (True, 0.5)
    assert vote_leaf([None, None, "x"]) == (None, 2 / 3)
    assert vote_leaf([None, "x"]) == ("x", 0.5)  # a value beats null on a tie
    assert vote_leaf([False, True]) == (False, 0.5)  # otherwise the earliest sub-call wins
    assert vote_leaf([1, True]) == (1, 0.5)  # a boolean is not a number


def test_objects_vote_field_by_field_and_missing_fields_vote_null():
    value, likelihoods = reconcile_extraction([
        {"vendor": {"name": "Acme"}, "total": 10},
        {"vendor": {"name": "Acme"}, "total": 99},
        {"vendor": {"name": "Globex"}, "total": 10, "extra": 1},
    ])
    assert value == {"vendor": {"name": "Acme"}, "total": 10, "extra": None}
    assert likelihoods == {"vendor": {"name": 2 / 3}, "total": 2 / 3, "extra": 2 / 3}


# --------------------------------------------------------------------------- lists

WIDGET = {"description": "Widget", "qty": 2, "price": 10.0}
GADGET = {"description": "Gadget", "qty": 1, "price": 25.0}
GIZMO = {"description": "Gizmo", "qty": 7, "price": 3.5}


def test_list_items_are_aligned_by_similarity_not_index():
    value, likelihoods = reconcile_extraction([
        {"items": [WIDGET, GADGET]},
        {"items": [GADGET, {**WIDGET, "qty": 3}]},  # reordered, one field off
        {"items": [WIDGET, GADGET]},
    ])
    assert value == {"items": [WIDGET, GADGET]}
    assert likelihoods == {"items": [{"description": 1.0, "qty": 2 / 3, "price": 1.0},
                                     {"description": 1.0, "qty": 1.0, "price": 1.0}]}


def test_an_item_most_voters_miss_is_dropped_and_a_missed_item_counts_against_it():
    value, likelihoods = reconcile_extraction([
        {"items": [WIDGET, GADGET]},
        {"items": [WIDGET, GADGET, GIZMO]},
        {"items": [WIDGET]},
    ])
    assert value == {"items": [WIDGET, GADGET]}
    assert likelihoods["items"][1] == {"description": 2 / 3, "qty": 2 / 3, "price": 2 / 3}


def test_lists_of_scalars():
    value, likelihoods = reconcile_extraction([{"tags": ["a", "b"]}, {"tags": ["b", "a"]}, {"tags": ["a"]}])
    assert value == {"tags": ["a", "b"]} and likelihoods == {"tags": [1.0, 2 / 3]}


def test_align_items_gives_one_entry_per_voter():
    assert align_items([[WIDGET], [], [WIDGET]]) == [[WIDGET, None, WIDGET]]
    assert align_items([[], [], []]) == []


# --------------------------------------------------------------------------- classification and split

def test_classification_majority_and_tie_break():
    chosen, likelihood = reconcile_classification([
        {"category": "Receipt", "reasoning": "r1"}, {"category": "Invoice", "reasoning": "i1"},
        {"category": "Invoice", "reasoning": "i2"}])
    assert chosen == {"category": "Invoice", "reasoning": "i1"} and likelihood == 2 / 3
    chosen, likelihood = reconcile_classification([{"category": "B"}, {"category": "A"}, None])
    assert chosen["category"] == "B" and likelihood == 0.5


def test_split_votes_each_page():
    splits, likelihoods = reconcile_splits([
        {"splits": [{"name": "Invoice", "pages": [1, 2]}, {"name": "Receipt", "pages": [3]}]},
        {"splits": [{"name": "Invoice", "pages": [1]}, {"name": "Receipt", "pages": [2, 3]}]},
        {"splits": [{"name": "Receipt", "pages": [3]}, {"name": "Invoice", "pages": [1, 2]}]},
    ], ["Invoice", "Receipt"])
    assert splits == [{"name": "Invoice", "pages": [1, 2]}, {"name": "Receipt", "pages": [3]}]
    assert likelihoods == [{"name": pytest.approx(5 / 6), "pages": [1.0, pytest.approx(2 / 3)]},
                           {"name": 1.0, "pages": [1.0]}]


def test_split_page_left_out_by_most_voters_stays_unassigned():
    splits, _ = reconcile_splits([{"splits": [{"name": "A", "pages": [1, 2]}]}, {"splits": [{"name": "A", "pages": [1]}]},
                                  {"splits": [{"name": "A", "pages": [1]}]}])
    assert splits == [{"name": "A", "pages": [1]}]


# --------------------------------------------------------------------------- quorum

def test_quorum():
    assert successful_choices([1, None, 3]) == [1, 3]
    for choices in ([None], [1, None], [None, None, 3], [], [1, 2, None, None]):
        with pytest.raises(BlockError, match="strict majority"):
            successful_choices(choices)
    assert single_choice([{"a": 1}], []) == {"a": 1}
    with pytest.raises(BlockError, match="timeout"):
        single_choice([None], ["timeout"])


# --------------------------------------------------------------------------- properties

json_scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(-1e6, 1e6, allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                           max_leaves=20)
objects = st.dictionaries(st.text(max_size=5), json_values, max_size=5)


@settings(max_examples=150, deadline=None)
@given(objects, st.integers(1, 7))
def test_unanimous_choices_give_the_value_with_likelihood_one_everywhere(choice, n):
    value, likelihoods = reconcile_extraction([choice] * n)
    assert value == choice
    assert all(leaf == 1.0 for leaf in leaves(likelihoods))


# Flat-and-nested objects whose every leaf a "dissenting" voter can change into a value that agrees
# with nothing else: the setting in which "k agreeing of n" has one meaning.
truth_leaves = st.none() | st.booleans() | st.integers(-100, 100) | st.floats(-100, 100, allow_nan=False) | st.text("abcXYZ ,.", max_size=6)
truths = st.recursive(truth_leaves, lambda inner: st.dictionaries(st.sampled_from("abcdef"), inner, min_size=1, max_size=3),
                      max_leaves=10).filter(lambda v: isinstance(v, dict))


def dissent(value: Any, voter: int) -> Any:
    """A reading of ``value`` that agrees with neither the truth nor any other dissenter's numbers/strings."""
    if isinstance(value, dict):
        return {k: dissent(v, voter) for k, v in value.items()}
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1000 * (voter + 1)
    if isinstance(value, str):
        return f"{value} zz{voter}"
    return f"made up {voter}"


@st.composite
def k_of_n(draw: st.DrawFn) -> tuple[dict, int, list[dict]]:
    truth = draw(truths)
    n = draw(st.integers(1, 7))
    k = draw(st.integers(n // 2 + 1, n))
    choices = [truth] * k + [dissent(truth, voter) for voter in range(n - k)]
    return truth, k, draw(st.permutations(choices))


@settings(max_examples=150, deadline=None)
@given(k_of_n())
def test_k_agreeing_of_n_give_the_agreed_value_with_likelihood_k_over_n(case):
    truth, k, choices = case
    value, likelihoods = reconcile_extraction(choices)
    assert value == truth
    assert all(leaf == pytest.approx(k / len(choices)) for leaf in leaves(likelihoods))


@settings(max_examples=150, deadline=None)
@given(k_of_n(), st.randoms(use_true_random=False))
def test_permuting_the_choices_changes_nothing(case, rng):
    _, _, choices = case
    shuffled = list(choices)
    rng.shuffle(shuffled)
    assert reconcile_extraction(shuffled) == reconcile_extraction(choices)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=9))
def test_fewer_than_a_strict_majority_of_successes_raises(succeeded):
    choices = [{"a": 1} if ok else None for ok in succeeded]
    if 2 * sum(succeeded) > len(succeeded):
        assert reconcile_extraction(choices)[0] == {"a": 1}
        assert reconcile_classification([{"category": "x"} if ok else None for ok in succeeded])[1] == 1.0
    else:
        with pytest.raises(BlockError):
            reconcile_extraction(choices)
        with pytest.raises(BlockError):
            reconcile_splits([{"splits": []} if ok else None for ok in succeeded])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["Invoice", "Receipt", "Other"]), min_size=1, max_size=7), st.randoms(use_true_random=False))
def test_classification_likelihood_is_the_winners_share_whatever_the_order(votes, rng):
    choices = [{"category": c} for c in votes]
    chosen, likelihood = reconcile_classification(choices)
    assert likelihood == votes.count(chosen["category"]) / len(votes) == max(votes.count(c) for c in votes) / len(votes)
    rng.shuffle(choices)
    assert reconcile_classification(choices)[1] == likelihood
