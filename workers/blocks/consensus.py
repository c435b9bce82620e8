"""Reconcile the n choices of a consensus block into one output plus likelihoods.

Pure functions over JSON values. Only successful sub-calls vote, so a likelihood is the share of
*successful* sub-calls agreeing with the winner; a strict majority of the n sub-calls must have
succeeded at all, otherwise there is no consensus to speak of and the block errors.

Agreement between two leaves:

* ``None`` agrees with ``None`` only, booleans with equal booleans;
* numbers agree when ``|a - b| <= 3% * max(|a|, |b|)``; the winning cluster's value is its mean
  (the exact common value when its members are equal; an int when they are ints with an integral mean);
* strings agree when equal after case folding, dropping punctuation and collapsing whitespace; the
  winner is the most common original spelling in the winning cluster;
* anything else (mixed types) agrees on canonical JSON equality.

The winning cluster is the largest; ties go to a non-null value, then to the cluster holding the
earliest sub-call. Objects are reconciled field by field; lists are first aligned item to item by
similarity (a greedy best match), so a voter that lists the same items in another order or misses
one still votes on the right items.
"""

from __future__ import annotations

import math
import re
from typing import Any

from rapidfuzz import fuzz

from models.canonical import canonical_json
from workers.blocks.base import BlockError

NUMBER_TOLERANCE = 0.03  # relative; Retab's documented clustering threshold for numbers
MIN_ITEM_SIMILARITY = 0.5  # below this, two list items are different items, not two readings of one


# --------------------------------------------------------------------------- quorum

def successful_choices(choices: list[Any | None]) -> list[Any]:
    """The choices of the sub-calls that succeeded, in sub-call order; BlockError without a strict majority."""
    succeeded = [c for c in choices if c is not None]
    if not choices or 2 * len(succeeded) <= len(choices):
        raise BlockError(f"consensus needs a strict majority of successful sub-calls: "
                         f"{len(succeeded)} of {len(choices)} succeeded")
    return succeeded


def single_choice(choices: list[Any | None], errors: list[str]) -> Any:
    """The choice of a block called once; that call's failure is the block's error."""
    if len(choices) != 1:
        raise BlockError(f"expected the choice of one call, got {len(choices)}")
    if choices[0] is None:
        raise BlockError(errors[0] if errors else "the block call failed")
    return choices[0]


# --------------------------------------------------------------------------- agreement

def normalize_text(text: str) -> str:
    """The voting form of a string: case folded, punctuation dropped, whitespace collapsed."""
    return " ".join(re.sub(r"[^\w\s]|_", " ", text.casefold()).split())


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def numbers_close(a: float, b: float) -> bool:
    return abs(a - b) <= NUMBER_TOLERANCE * max(abs(a), abs(b))


def values_agree(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return numbers_close(a, b)
    if isinstance(a, str) and isinstance(b, str):
        return normalize_text(a) == normalize_text(b)
    return canonical_json(a) == canonical_json(b)


def similarity(a: Any, b: Any) -> float:
    """How alike two values are, in [0, 1]; used to align list items, never to vote."""
    if values_agree(a, b):
        return 1.0
    if isinstance(a, dict) and isinstance(b, dict):
        # Fields null on both sides say nothing about whether two items are the same item.
        keys = [k for k in {**a, **b} if a.get(k) is not None or b.get(k) is not None]
        return sum(similarity(a.get(k), b.get(k)) for k in keys) / len(keys) if keys else 1.0
    if isinstance(a, str) and isinstance(b, str):
        return fuzz.ratio(normalize_text(a), normalize_text(b)) / 100
    if is_number(a) and is_number(b):
        return max(0.0, 1 - abs(a - b) / max(abs(a), abs(b)))
    if isinstance(a, list) and isinstance(b, list):
        return fuzz.ratio(canonical_json(a), canonical_json(b)) / 100
    return 0.0


# --------------------------------------------------------------------------- voting

def vote_leaf(values: list[Any]) -> tuple[Any, float]:
    """Winner among one leaf's votes and the share of voters agreeing with it."""
    if not values:
        return None, 0.0
    best_key: tuple[int, bool, int] | None = None
    best_members: list[int] = []
    for center, value in enumerate(values):
        # Star clusters: number agreement is not transitive, so each vote gathers its own neighbours.
        members = [j for j, other in enumerate(values) if values_agree(value, other)]
        key = (len(members), value is not None, -members[0])
        if best_key is None or key > best_key:
            best_key, best_members = key, members
    return representative([values[j] for j in best_members]), len(best_members) / len(values)


def representative(cluster: list[Any]) -> Any:
    """The value a cluster of agreeing votes stands for."""
    first = cluster[0]
    if all(is_number(v) for v in cluster) and any(v != first for v in cluster):
        mean = math.fsum(cluster) / len(cluster)
        return int(mean) if all(isinstance(v, int) for v in cluster) and mean.is_integer() else mean
    if isinstance(first, str):
        spellings = [v for v in cluster if isinstance(v, str)]
        return max(spellings, key=lambda s: (spellings.count(s), -spellings.index(s)))
    return first


def plurality(values: list[Any]) -> tuple[Any, float]:
    """Exact-match vote (for labels such as category names): most votes, non-null, then earliest."""
    if not values:
        return None, 0.0
    winner = max(values, key=lambda v: (values.count(v), v is not None, -values.index(v)))
    return winner, values.count(winner) / len(values)


def reconcile_value(values: list[Any]) -> tuple[Any, Any]:
    """Consensus value and its likelihood tree (same shape; scalar leaves in [0, 1])."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, dict) for v in present):
        return _reconcile_object(values)
    if present and all(isinstance(v, list) for v in present):
        return _reconcile_list(values)
    return vote_leaf(values)


def _reconcile_object(values: list[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = list(dict.fromkeys(k for v in values if isinstance(v, dict) for k in v))
    merged: dict[str, Any] = {}
    likelihoods: dict[str, Any] = {}
    for key in keys:
        merged[key], likelihoods[key] = reconcile_value([v.get(key) if isinstance(v, dict) else None for v in values])
    return merged, likelihoods


def _reconcile_list(values: list[Any]) -> tuple[list[Any], list[Any]]:
    reconciled = [reconcile_value(slot) for slot in align_items([v if isinstance(v, list) else [] for v in values])]
    return [value for value, _ in reconciled], [likelihood for _, likelihood in reconciled]


def align_items(lists: list[list[Any]]) -> list[list[Any]]:
    """Group the voters' list items into slots of "the same item".

    Voters are taken in sub-call order; each voter's items are matched one-to-one to the existing
    slots greedily, best similarity first (ties: earlier slot, earlier item), as long as the
    similarity reaches MIN_ITEM_SIMILARITY to the slot's first item. Unmatched items open new slots.
    A slot survives when at least half of the voters have an item in it. Slots are ordered by their
    items' mean position. Returns, per slot, one entry per voter (None where that voter has no item).
    """
    slots: list[dict[int, tuple[int, Any]]] = []  # voter -> (position in its list, item)
    for voter, items in enumerate(lists):
        anchors = [next(iter(slot.values()))[1] for slot in slots]
        pairs = sorted(((similarity(anchor, item), s, i) for s, anchor in enumerate(anchors) for i, item in enumerate(items)),
                       key=lambda pair: (-pair[0], pair[1], pair[2]))
        used_slots: set[int] = set()
        used_items: set[int] = set()
        for score, s, i in pairs:
            if score < MIN_ITEM_SIMILARITY:
                break
            if s not in used_slots and i not in used_items:
                slots[s][voter] = (i, items[i])
                used_slots.add(s)
                used_items.add(i)
        slots.extend({voter: (i, item)} for i, item in enumerate(items) if i not in used_items)
    kept = [slot for slot in slots if 2 * len(slot) >= len(lists)]
    kept.sort(key=lambda slot: sum(position for position, _ in slot.values()) / len(slot))  # stable: creation order breaks ties
    return [[slot[v][1] if v in slot else None for v in range(len(lists))] for slot in kept]


# --------------------------------------------------------------------------- per block type

def reconcile_extraction(choices: list[Any | None]) -> tuple[Any, Any]:
    """Extract: (consensus object, likelihood tree) from the n choices (None = failed sub-call)."""
    return reconcile_value(successful_choices(choices))


def reconcile_classification(choices: list[dict[str, Any] | None]) -> tuple[dict[str, Any], float]:
    """Classifier: (the earliest choice of the winning category, the category's share of votes)."""
    succeeded = successful_choices(choices)
    category, likelihood = plurality([c.get("category") for c in succeeded])
    return next(c for c in succeeded if c.get("category") == category), likelihood


def reconcile_splits(choices: list[dict[str, Any] | None],
                     names: list[str] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split: vote each page's subdocument; returns (splits, likelihoods).

    ``splits`` is ``[{"name", "pages"}]`` for the subdocuments that won at least one page, in
    ``names`` order (then order of appearance); ``likelihoods`` mirrors it as
    ``[{"name": mean page agreement, "pages": [agreement per page]}]``. A page most voters leave
    unassigned stays unassigned.
    """
    owners = [_page_owners(choice) for choice in successful_choices(choices)]
    votes = {page: plurality([owner.get(page) for owner in owners]) for page in sorted(set().union(*owners))}
    order = list(dict.fromkeys([*(names or []), *(name for owner in owners for name in owner.values())]))
    splits: list[dict[str, Any]] = []
    likelihoods: list[dict[str, Any]] = []
    for name in order:
        pages = [page for page, (winner, _) in votes.items() if winner == name]
        if pages:
            agreement = [votes[page][1] for page in pages]
            splits.append({"name": name, "pages": pages})
            likelihoods.append({"name": sum(agreement) / len(agreement), "pages": agreement})
    return splits, likelihoods


def _page_owners(choice: dict[str, Any]) -> dict[int, str]:
    """page -> subdocument name in one choice; a page listed twice stays with its first subdocument."""
    owners: dict[int, str] = {}
    for split in choice.get("splits") or []:
        for page in split.get("pages") or []:
            owners.setdefault(page, split.get("name"))
    return owners
