"""The offline provider: derives block outputs from the document text alone, deterministically.

It exists so the whole engine (scheduling, consensus, assertions) runs without a model. Its
document conventions are the contract sample documents are written against:

**extract** — ``label: value`` lines. A label matches a schema property when both are equal
ignoring case, spaces, underscores and hyphens (``Invoice number`` ↔ ``invoice_number``). The label
is everything before the line's first colon; the value is the rest, trimmed.

* Nested objects, two equivalent spellings::

      Vendor.Name: Acme Inc            Vendor:
                                         Name: Acme Inc

  A label with an empty value opens a *heading*; lines indented deeper than it belong to it.
  A label that is not a schema path is also tried as the concatenation of a nested path
  (``Vendor name: Acme`` fills ``vendor.name``).
* Arrays of objects: a 0-based index segment (``items.0.description: Widget``, ``items[1].qty: 2``)
  or YAML-like dash items indented under a heading::

      Items:
        - Description: Widget
          Qty: 2
        - Description: Gadget

  Items are ordered by index; gaps close up.
* Arrays of scalars: indexed lines, dash items, or one value split on ``;`` (or on ``,`` unless the
  items are numbers, whose commas are thousands separators): ``Tags: urgent, paid``.
* Values are coerced to the property's type: ``integer`` / ``number`` take the first number in the
  value (``$1,234.56``, ``1 234 EUR`` → 1234.56 / ``,`` is a thousands separator); an integer property
  rejects a fractional number; ``boolean`` takes yes/no/true/false/y/n/1/0/on/off; ``string`` with an
  ``enum`` takes the enum member it equals (ignoring case and separators). Empty, ``n/a``, ``none``,
  ``null`` and ``-`` mean null, and so does a value that does not fit the type. The first line for a
  path wins. Absent scalars are null, absent arrays ``[]``, absent objects an object of nulls.

**classifier** — the category whose name the document mentions most (case-insensitive, whole words;
spaces, ``-`` and ``_`` between a name's words are interchangeable). Ties, including no mention at
all, go to the earlier category in the config.

**split** — each page goes to the subdocument whose name appears *first* on it (the longer name
when two start at the same place, e.g. "Invoice copy" over "Invoice"). A page naming none follows
the previous page; leading unnamed pages go to the first subdocument. Only subdocuments that got
pages are listed, in config order.

**Simulation knobs** (block config, falling back to settings): ``sim_noise`` (probability in [0, 1]
that a sub-call perturbs each scalar value / picks another category / moves each page; decided by a
hash of (seed, call index, value path), so reruns are identical), ``sim_latency_ms`` (sleep per call),
and ``sim_fail_calls`` (sub-call indices that fail with ProviderError, to exercise failed sub-calls).
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workers.blocks.base import BlockError, Document
from workers.blocks.providers.base import ProviderError, ProviderUnavailable

if TYPE_CHECKING:
    from models.settings import Settings

JsonSchema = dict[str, Any]
Segment = str | int

LABEL_LINE = re.compile(r"^(?P<label>[^:]+?)\s*:\s*(?P<value>.*)$")
BRACKET_INDEX = re.compile(r"\[(\d+)\]")
NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+")
NULL_WORDS = frozenset({"", "n/a", "na", "none", "null", "-", "—", "–"})
TRUE_WORDS = frozenset({"yes", "y", "true", "t", "1", "on"})
FALSE_WORDS = frozenset({"no", "n", "false", "f", "0", "off"})
NOISE_SUFFIXES = ("Ltd", "II", "Corp", "Group", "Intl", "Holdings", "Partners", "Services")
MAX_SCHEMA_DEPTH = 12  # guards recursive $ref schemas


# --------------------------------------------------------------------------- extraction

def extract_from_pages(pages: list[str], schema: JsonSchema) -> dict[str, Any]:
    """The schema-shaped object the document's ``label: value`` lines describe (no noise)."""
    raw: dict[Segment, Any] = {}
    flat_index = _flat_paths(schema, schema)
    for segments, text in label_lines(pages):
        target = _resolve(schema, segments) or flat_index.get("".join(normalize_label(s) for s in segments))
        if target is not None:
            path, node = target
            _store(raw, path, node, text, schema)
    return _materialize(raw, schema, schema)


def label_lines(pages: list[str]) -> list[tuple[tuple[str, ...], str]]:
    """Every non-empty ``label: value`` line as (label path segments, value), headings and dash
    items already folded into the path."""
    found: list[tuple[tuple[str, ...], str]] = []
    open_headings: list[tuple[int, tuple[str, ...]]] = []  # (indent, path), innermost last
    dash_counts: dict[tuple[str, ...], int] = {}
    for line in (line for page in pages for line in page.split("\n")):
        expanded = line.expandtabs(4)
        body = expanded.strip()
        if not body:
            continue
        indent = len(expanded) - len(expanded.lstrip())
        while open_headings and open_headings[-1][0] >= indent:
            open_headings.pop()
        parent = open_headings[-1][1] if open_headings else ()
        if body == "-" or body.startswith("- "):
            index = dash_counts.get(parent, 0)
            dash_counts[parent] = index + 1
            parent = (*parent, str(index))
            open_headings.append((indent, parent))
            body, indent = body[1:].strip(), indent + 2
            if not body:
                continue
            if not LABEL_LINE.match(body):
                found.append((parent, body))  # a dash item that is a bare scalar
                continue
        match = LABEL_LINE.match(body)
        if match is None:
            continue
        path = (*parent, *_label_segments(match["label"]))
        if match["value"].strip():
            found.append((path, match["value"].strip()))
        else:
            open_headings.append((indent, path))
    return found


def normalize_label(label: str) -> str:
    return re.sub(r"[\s_\-]+", "", label).lower()


def _label_segments(label: str) -> list[str]:
    return [s.strip() for s in BRACKET_INDEX.sub(r".\1", label.strip()).split(".") if s.strip()]


def _effective(node: Any, root: JsonSchema, depth: int = 0) -> JsonSchema:
    """Follow local ``$ref``s and pick the first non-null branch of ``anyOf``/``oneOf``/type lists."""
    if not isinstance(node, dict) or depth > MAX_SCHEMA_DEPTH:
        return {}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return _effective(target, root, depth + 1)
    for key in ("anyOf", "oneOf"):
        branches = [b for b in node.get(key) or [] if _effective(b, root, depth + 1).get("type") != "null"]
        if branches:
            return _effective(branches[0], root, depth + 1)
    if isinstance(node.get("type"), list):
        non_null = [t for t in node["type"] if t != "null"]
        return {**node, "type": non_null[0] if non_null else "null"}
    if "type" not in node and "properties" in node:
        return {**node, "type": "object"}
    return node


def _resolve(root: JsonSchema, segments: tuple[str, ...]) -> tuple[list[Segment], JsonSchema] | None:
    """Walk label segments down the schema: property names in objects, indices in arrays."""
    node, path = _effective(root, root), []
    for segment in segments:
        kind = node.get("type")
        if kind == "object":
            name = _match_property(node, segment)
            if name is None:
                return None
            path.append(name)
            node = _effective(node["properties"][name], root)
        elif kind == "array" and segment.isdigit():
            path.append(int(segment))
            node = _effective(node.get("items"), root)
        else:
            return None
    return path, node


def _match_property(node: JsonSchema, label: str) -> str | None:
    wanted = normalize_label(label)
    return next((name for name in node.get("properties") or {} if normalize_label(name) == wanted), None)


def _flat_paths(node: Any, root: JsonSchema, prefix: tuple[str, ...] = (), depth: int = 0,
                index: dict[str, tuple[list[Segment], JsonSchema]] | None = None) -> dict[str, tuple[list[Segment], JsonSchema]]:
    """``"vendorname" → (["vendor", "name"], schema)`` for every path through nested objects, so a
    label like ``Vendor name`` finds ``vendor.name``. The first (shallowest, schema-order) path wins."""
    index = {} if index is None else index
    node = _effective(node, root)
    if depth > MAX_SCHEMA_DEPTH or node.get("type") != "object":
        return index
    for name, child in (node.get("properties") or {}).items():
        path = (*prefix, name)
        index.setdefault("".join(normalize_label(p) for p in path), (list(path), _effective(child, root)))
        _flat_paths(child, root, path, depth + 1, index)
    return index


def _store(raw: dict[Segment, Any], path: list[Segment], node: JsonSchema, text: str, root: JsonSchema) -> None:
    """Record one value at ``path`` in the raw tree (arrays are ``{index: item}`` until materialized).
    The first value for a path wins."""
    if node.get("type") == "object":
        return  # a value on an object heading ("Vendor: Acme" for an object) has nowhere to go
    if node.get("type") == "array":
        items = _effective(node.get("items"), root)
        if items.get("type") in ("object", "array"):
            return
        values = _split_list(text, numeric=items.get("type") in ("number", "integer"))
        leaf: Any = {i: coerce_value(v, items) for i, v in enumerate(values)}
    else:
        leaf = coerce_value(text, node)
    container = raw
    for segment in path[:-1]:
        child = container.setdefault(segment, {})
        if not isinstance(child, dict):
            return  # a scalar already sits where this path needs a container
        container = child
    container.setdefault(path[-1], leaf)


def _split_list(text: str, *, numeric: bool) -> list[str]:
    separator = ";" if ";" in text or numeric else ","
    return [part.strip() for part in text.split(separator) if part.strip()]


def _materialize(raw: Any, node: Any, root: JsonSchema, depth: int = 0) -> Any:
    node = _effective(node, root)
    kind = node.get("type")
    if kind == "object" and depth <= MAX_SCHEMA_DEPTH:
        fields = raw if isinstance(raw, dict) else {}
        return {name: _materialize(fields.get(name), child, root, depth + 1)
                for name, child in (node.get("properties") or {}).items()}
    if kind == "array":
        if not isinstance(raw, dict):
            return []
        return [_materialize(raw[i], node.get("items"), root, depth + 1) for i in sorted(k for k in raw if isinstance(k, int))]
    return None if isinstance(raw, dict) else raw


def coerce_value(text: str, node: JsonSchema) -> Any:
    """The schema type's reading of a value's text; None when it does not fit."""
    text = text.strip()
    if text.lower() in NULL_WORDS:
        return None
    kind = node.get("type")
    if kind in ("number", "integer"):
        number = parse_number(text)
        if number is None or kind == "number":
            return number
        return int(number) if float(number).is_integer() else None
    if kind == "boolean":
        word = text.lower().rstrip(".")
        return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None
    if kind == "null":
        return None
    if isinstance(node.get("enum"), list):
        return next((m for m in node["enum"] if isinstance(m, str) and normalize_label(m) == normalize_label(text)), None)
    return text


def parse_number(text: str) -> int | float | None:
    """First number in ``text``; currency signs and letters around it are ignored, ``(12)`` is -12."""
    cleaned = re.sub(r"(?<=\d) (?=\d{3}\b)", "", text)  # "1 234" thousands groups
    match = NUMBER.search(cleaned)
    if match is None:
        return None
    value = float(match.group().replace(",", ""))
    if cleaned.strip().startswith("(") and cleaned.strip().endswith(")"):
        value = -abs(value)
    return int(value) if value.is_integer() and "." not in match.group() else value


# --------------------------------------------------------------------------- classification and split

def name_pattern(name: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive match of a name whose words may be joined by spaces, - or _."""
    words = [re.escape(w) for w in re.split(r"[\s_\-]+", name.strip()) if w]
    return re.compile(r"(?<!\w)" + r"[\s_\-]+".join(words) + r"(?!\w)", re.IGNORECASE) if words else re.compile(r"(?!)")


def most_mentioned(text: str, names: list[str]) -> tuple[int, list[int]]:
    """Index of the most mentioned name (earliest on ties) and every name's mention count."""
    counts = [len(name_pattern(name).findall(text)) for name in names]
    best = max(range(len(names)), key=lambda i: (counts[i], -i))
    return best, counts


def first_named(page: str, names: list[str]) -> int | None:
    """Index of the name appearing first on ``page`` (the longer match at the same position)."""
    hits = []
    for i, name in enumerate(names):
        match = name_pattern(name).search(page)
        if match:
            hits.append((match.start(), -(match.end() - match.start()), i))
    return min(hits)[2] if hits else None


def assign_pages(pages: list[str], names: list[str]) -> list[int]:
    """Subdocument index for every page: named pages by :func:`first_named`, others follow the previous page."""
    assignment: list[int] = []
    for page in pages:
        named = first_named(page, names)
        assignment.append(named if named is not None else (assignment[-1] if assignment else 0))
    return assignment


# --------------------------------------------------------------------------- noise

@dataclass(frozen=True)
class NoiseDice:
    """Deterministic coin flips keyed by (seed, sub-call index, what is being decided)."""

    seed: str
    call_index: int
    noise: float

    def _draw(self, label: str) -> int:
        digest = hashlib.sha256(f"{self.seed}\x1f{self.call_index}\x1f{label}".encode()).digest()
        return int.from_bytes(digest[:8], "big")

    def flips(self, label: str) -> bool:
        return self.noise > 0 and self._draw(label) / 2**64 < self.noise

    def pick(self, label: str, k: int) -> int:
        return self._draw(f"{label}\x1fpick") % k


def perturb(value: Any, dice: NoiseDice, path: str) -> Any:
    """A wrong but plausible value, far enough off that consensus does not cluster it with the truth."""
    step = 1 + dice.pick(path, 3)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + max(1, math.ceil(abs(value) * 0.1)) * step
    if isinstance(value, float):
        return round(value + max(abs(value), 1.0) * 0.1 * step, 2)
    if isinstance(value, str):
        return f"{value} {NOISE_SUFFIXES[dice.pick(path, len(NOISE_SUFFIXES))]}"
    return value


def add_extraction_noise(value: Any, dice: NoiseDice, path: str = "") -> Any:
    if isinstance(value, dict):
        return {k: add_extraction_noise(v, dice, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [add_extraction_noise(v, dice, f"{path}.{i}") for i, v in enumerate(value)]
    if value is not None and dice.flips(f"extract:{path}"):
        return perturb(value, dice, path)
    return value


def other_index(current: int, k: int, dice: NoiseDice, label: str) -> int:
    """Another index than ``current`` among ``k`` (``current`` itself when there is no other)."""
    return current if k < 2 else (current + 1 + dice.pick(label, k - 1)) % k


# --------------------------------------------------------------------------- provider

@dataclass(frozen=True)
class Simulation:
    """The simulation knobs of one call: block config over settings."""

    noise: float
    latency_ms: float
    fail_calls: frozenset[int]

    @classmethod
    def from_config(cls, config: dict[str, Any], settings: Settings) -> Simulation:
        # An explicit null in the block config means "not set", as an absent key does.
        noise = settings.wft_sim_noise if config.get("sim_noise") is None else config["sim_noise"]
        latency_ms = settings.wft_sim_latency_ms if config.get("sim_latency_ms") is None else config["sim_latency_ms"]
        fail_calls = config.get("sim_fail_calls") or []
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise <= 1:
            raise BlockError(f"sim_noise must be a number between 0 and 1, got {noise!r}")
        if isinstance(latency_ms, bool) or not isinstance(latency_ms, (int, float)) or latency_ms < 0:
            raise BlockError(f"sim_latency_ms must be a non-negative number, got {latency_ms!r}")
        if not isinstance(fail_calls, list) or not all(isinstance(i, int) for i in fail_calls):
            raise BlockError(f"sim_fail_calls must be a list of sub-call indices, got {fail_calls!r}")
        return cls(noise=float(noise), latency_ms=float(latency_ms), fail_calls=frozenset(fail_calls))


class SimulatedProvider:
    """Offline, deterministic :class:`~workers.blocks.providers.base.Provider` (see the module docstring)."""

    name = "simulated"

    def __init__(self, settings: Settings | None = None):
        if settings is None:
            from models.settings import get_settings

            settings = get_settings()
        self._settings = settings

    def extract(self, document: Document, json_schema: dict[str, Any], instructions: str | None,
                *, call_index: int, seed: str, config: dict[str, Any]) -> dict[str, Any]:
        dice = self._start_call(config, call_index, seed)
        return add_extraction_noise(extract_from_pages(document.pages, json_schema), dice)

    def classify(self, document: Document, categories: list[dict[str, Any]],
                 *, call_index: int, seed: str, config: dict[str, Any]) -> dict[str, Any]:
        dice = self._start_call(config, call_index, seed)
        names = [str(c.get("name", "")) for c in categories]
        if not names:
            raise BlockError("no categories to choose from")
        best, counts = most_mentioned(document.text, names)
        reasoning = f"the document mentions {names[best]!r} {counts[best]} time(s)"
        if dice.flips("classify"):
            best = other_index(best, len(names), dice, "classify")
            reasoning += f"; simulated noise picked {names[best]!r}"
        return {"category": names[best], "reasoning": reasoning}

    def split(self, document: Document, subdocuments: list[dict[str, Any]],
              *, call_index: int, seed: str, config: dict[str, Any]) -> dict[str, Any]:
        dice = self._start_call(config, call_index, seed)
        names = [str(s.get("name", "")) for s in subdocuments]
        if not names:
            raise BlockError("no subdocuments to split into")
        assignment = assign_pages(document.pages, names)
        for page, owner in enumerate(assignment, start=1):
            if dice.flips(f"split:page:{page}"):
                assignment[page - 1] = other_index(owner, len(names), dice, f"split:page:{page}")
        splits = [{"name": name, "pages": [p for p, owner in enumerate(assignment, start=1) if owner == i]}
                  for i, name in enumerate(names)]
        return {"splits": [s for s in splits if s["pages"]]}

    def judge(self, value: Any, rubric: str, expected_label: str | None) -> dict[str, Any]:
        raise ProviderUnavailable("judge_unavailable", "the simulated provider has no judge model")

    def embed(self, texts: list[str]) -> list[list[float]]:
        raise ProviderUnavailable("embeddings_unavailable", "the simulated provider has no embeddings model")

    def _start_call(self, config: dict[str, Any], call_index: int, seed: str) -> NoiseDice:
        """Apply latency and scripted failures, and hand back this sub-call's dice."""
        simulation = Simulation.from_config(config or {}, self._settings)
        if simulation.latency_ms:
            time.sleep(simulation.latency_ms / 1000)
        if call_index in simulation.fail_calls:
            raise ProviderError(f"simulated failure of sub-call {call_index} (sim_fail_calls)")
        return NoiseDice(seed=seed, call_index=call_index, noise=simulation.noise)
