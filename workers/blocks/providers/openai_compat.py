"""The ``openai`` provider: any OpenAI-compatible ``/chat/completions`` endpoint with JSON-schema
structured outputs, plus ``/embeddings`` (SPEC §4).

Every capability is one chat completion whose ``response_format`` is a strict JSON schema, so the
answer parses as the shape the block needs. Transient failures (429, 5xx, timeouts, connection
errors) are retried here with exponential backoff and full jitter, honouring ``Retry-After``;
anything still failing becomes :class:`ProviderError`, which the engine treats as a failed
sub-call. The provider keeps no global state: retries are reported through ``on_retry``.
"""

from __future__ import annotations

import copy
import email.utils
import json
import random
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import httpx

from workers.blocks.base import Document
from workers.blocks.providers.base import ProviderError, ProviderUnavailable

if TYPE_CHECKING:
    from models.settings import Settings


def is_retryable_status(status: int) -> bool:
    """Rate limits and server faults pass; any other 4xx is the request's fault and would fail again."""
    return status == 429 or status >= 500


@dataclass(frozen=True)
class RetryEvent:
    """One retry about to happen: for metrics and logs (``on_retry`` callback)."""

    path: str  # "/chat/completions" or "/embeddings"
    attempt: int  # 1 for the first retry
    reason: str  # "429", "503", "ReadTimeout", ...
    delay_s: float


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0  # also caps a server's Retry-After, so a call cannot stall a worker for long

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^retry)] (retry counts from 0)."""
        return rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * (2 ** retry)))


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        judge_model: str | None = None,
        embedding_model: str | None = None,
        timeout_s: float | None = None,
        retry: RetryPolicy | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        if settings is None:
            from models.settings import get_settings

            settings = get_settings()
        self.base_url = (base_url or settings.openai_base_url).rstrip("/")
        self.model = model or settings.openai_model
        self.judge_model = judge_model or settings.openai_judge_model or self.model
        self.embedding_model = embedding_model or settings.openai_embedding_model
        self.retry = retry or RetryPolicy(max_retries=settings.openai_max_retries)
        self._on_retry = on_retry
        self._sleep = sleep
        self._rng = rng or random.Random()
        key = api_key if api_key is not None else settings.openai_api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s if timeout_s is not None else settings.openai_timeout_s),
            headers=headers, transport=transport,
        )
        # Providers are often built per call and never closed: release the connection pool with the
        # provider rather than leaving sockets to the garbage collector's whims.
        self._finalizer = weakref.finalize(self, self._client.close)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> OpenAIProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- block capabilities ---------------------------------------------------------------------

    def extract(self, document: Document, json_schema: dict[str, Any], instructions: str | None,
                *, call_index: int, seed: str, config: dict[str, Any]) -> dict[str, Any]:
        system = ("You extract structured data from a document. Fill every field from the document's "
                  "content; use null for a field the document does not provide.")
        if instructions:
            system += f"\n\nInstructions:\n{instructions}"
        answer = self._structured(self.model, system, document_prompt(document), "extraction",
                                  strict_schema(json_schema), config)
        if not isinstance(answer, dict):
            raise ProviderError("the model's extraction is not a JSON object")
        return drop_unrequested_nulls(answer, json_schema)

    def classify(self, document: Document, categories: list[dict[str, Any]],
                 *, call_index: int, seed: str, config: dict[str, Any]) -> dict[str, Any]:
        names = [str(c["name"]) for c in categories]
        system = "You classify a document into exactly one of these categories:\n" + _describe(categories)
        # reasoning first: the model writes its justification before committing to a category
        schema = _object({"reasoning": {"type": "string"}, "category": {"type": "string", "enum": names}})
        answer = self._structured(self.model, system, document_prompt(document), "classification", schema, config)
        if answer.get("category") not in names:
            raise ProviderError(f"the model chose an unknown category {answer.get('category')!r}")
        return {"category": answer["category"], "reasoning": str(answer.get("reasoning", ""))}

    def split(self, document: Document, subdocuments: list[dict[str, Any]],
              *, call_index: int, seed: str, config: dict[str, Any]) -> dict[str, Any]:
        names = [str(s["name"]) for s in subdocuments]
        system = ("You split a multi-page document into subdocuments. Pages are marked "
                  "'=== page N ===' (1-based). Assign pages to these subdocument types:\n"
                  + _describe(subdocuments))
        schema = _object({"splits": {"type": "array", "items": _object({
            "name": {"type": "string", "enum": names},
            "pages": {"type": "array", "items": {"type": "integer"}},
        })}})
        answer = self._structured(self.model, system, document_prompt(document), "split", schema, config)
        return {"splits": clean_splits(answer.get("splits"), names, len(document.pages))}

    def judge(self, value: Any, rubric: str, expected_label: str | None) -> dict[str, Any]:
        if not self.judge_model:
            raise ProviderUnavailable("judge_unavailable", "no judge model is configured (OPENAI_JUDGE_MODEL / OPENAI_MODEL)")
        system = ("You are a strict evaluator. Read the rubric, judge the value against it, give a short label "
                  "for your verdict, and say whether the rubric holds.")
        if expected_label:
            system += f" If the value deserves the label {expected_label!r}, use exactly that label."
        user = f"Rubric:\n{rubric}\n\nValue (JSON):\n{json.dumps(value, ensure_ascii=False, indent=2)}"
        schema = _object({"reasoning": {"type": "string"}, "label": {"type": "string"}, "holds": {"type": "boolean"}})
        answer = self._structured(self.judge_model, system, user, "judgement", schema, {})
        if not isinstance(answer.get("holds"), bool) or not isinstance(answer.get("label"), str):
            raise ProviderError("the judge's answer lacks a label or a boolean 'holds'")
        return {"label": answer["label"], "holds": answer["holds"], "reasoning": str(answer.get("reasoning", ""))}

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not self.embedding_model:
            raise ProviderUnavailable("embeddings_unavailable", "no embeddings model is configured (OPENAI_EMBEDDING_MODEL)")
        if not texts:
            return []
        body = self._post("/embeddings", {"model": self.embedding_model, "input": texts})
        try:
            rows = sorted(body["data"], key=lambda row: row["index"])
            vectors = [[float(x) for x in row["embedding"]] for row in rows]
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderError(f"malformed embeddings response: {exc!r}") from exc
        if len(vectors) != len(texts):
            raise ProviderError(f"asked for {len(texts)} embeddings, got {len(vectors)}")
        return vectors

    # -- transport ------------------------------------------------------------------------------

    def _structured(self, model: str, system: str, user: str, name: str, schema: dict[str, Any],
                    config: dict[str, Any]) -> dict[str, Any]:
        """One chat completion constrained to ``schema``; returns the parsed JSON answer."""
        request: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}},
        }
        if isinstance(config.get("temperature"), (int, float)):
            request["temperature"] = config["temperature"]
        body = self._post("/chat/completions", request)
        return parse_structured_answer(body)

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        url = self.base_url + path
        for retry in range(self.retry.max_retries + 1):
            last_try = retry == self.retry.max_retries
            try:
                response = self._client.post(url, json=payload)
            except httpx.TransportError as exc:  # timeouts, refused/reset connections, protocol errors
                if last_try:
                    raise ProviderError(f"{path}: {type(exc).__name__} after {retry + 1} tries: {exc}") from exc
                self._wait(path, retry, type(exc).__name__, None)
                continue
            if response.status_code < 400:
                try:
                    return response.json()
                except ValueError as exc:
                    raise ProviderError(f"{path}: response is not JSON") from exc
            message = f"{path}: HTTP {response.status_code}: {_error_excerpt(response)}"
            if not is_retryable_status(response.status_code):
                raise ProviderError(message)  # a client error will not fix itself
            if last_try:
                raise ProviderError(f"{message} (after {retry + 1} tries)")
            self._wait(path, retry, str(response.status_code), retry_after_s(response.headers.get("retry-after")))
        raise AssertionError("unreachable")

    def _wait(self, path: str, retry: int, reason: str, retry_after: float | None) -> None:
        if retry_after is not None:
            delay = min(retry_after, self.retry.max_delay_s)
        else:
            delay = self.retry.backoff(retry, self._rng)
        if self._on_retry is not None:
            self._on_retry(RetryEvent(path=path, attempt=retry + 1, reason=reason, delay_s=delay))
        self._sleep(delay)


# -- helpers (pure) -------------------------------------------------------------------------------

def document_prompt(document: Document) -> str:
    """The document as text with explicit page markers, so page numbers are unambiguous."""
    parts = [f"Document: {document.filename} ({document.mime_type}), {len(document.pages)} page(s)."]
    for number, text in enumerate(document.pages, start=1):
        parts.append(f"=== page {number} ===\n{text}")
    return "\n\n".join(parts)


def parse_structured_answer(body: dict[str, Any]) -> dict[str, Any]:
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ProviderError(f"malformed chat completion: {exc!r}") from exc
    if message.get("refusal"):
        raise ProviderError(f"the model refused: {message['refusal']}")
    if choice.get("finish_reason") == "length":
        raise ProviderError("the model's answer was cut off (finish_reason=length)")
    content = message.get("content")
    try:
        answer = json.loads(content) if isinstance(content, str) else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ProviderError(f"the model's answer is not a JSON object: {str(content)[:200]!r}")
    return answer


def retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def strict_schema(schema: Any) -> Any:
    """Make a JSON schema acceptable to strict structured outputs, which demand that every object
    lists all its properties as required and forbids extra ones. Properties the block's schema left
    optional become nullable, so the model can still say "absent" (see :func:`drop_unrequested_nulls`)."""
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> Any:
        if isinstance(node, list):
            return [visit(n) for n in node]
        if not isinstance(node, dict):
            return node
        node = {k: (visit(v) if k not in ("enum", "const", "required", "default", "examples") else v)
                for k, v in node.items()}
        props = node.get("properties")
        if isinstance(props, dict) and _may_be_object(node.get("type")):
            required = set(node.get("required") or [])
            node["properties"] = {k: (v if k in required else _nullable(v)) for k, v in props.items()}
            node["required"] = list(props)
            node["additionalProperties"] = False
        return node

    return visit(schema)


def drop_unrequested_nulls(answer: Any, schema: Any) -> Any:
    """Undo :func:`strict_schema`'s nullability: an optional property the model set to null is dropped."""
    if isinstance(answer, list) and isinstance(schema, dict) and isinstance(schema.get("items"), dict):
        return [drop_unrequested_nulls(item, schema["items"]) for item in answer]
    if not (isinstance(answer, dict) and isinstance(schema, dict) and isinstance(schema.get("properties"), dict)):
        return answer
    required = set(schema.get("required") or [])
    props = schema["properties"]
    return {k: drop_unrequested_nulls(v, props.get(k)) for k, v in answer.items()
            if not (v is None and k in props and k not in required)}


def clean_splits(splits: Any, names: list[str], page_count: int) -> list[dict[str, Any]]:
    """Keep only known subdocument names and existing pages (sorted, unique): the model's page
    numbers are advice, the document's page count is fact."""
    if not isinstance(splits, list):
        raise ProviderError("the model's split answer has no 'splits' list")
    cleaned = []
    for item in splits:
        if not isinstance(item, dict) or item.get("name") not in names:
            continue
        pages = sorted({p for p in item.get("pages") or [] if isinstance(p, int) and not isinstance(p, bool)
                        and 1 <= p <= page_count})
        cleaned.append({"name": item["name"], "pages": pages})
    return cleaned


def _may_be_object(kind: Any) -> bool:
    return kind is None or kind == "object" or (isinstance(kind, list) and "object" in kind)


def _nullable(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if isinstance(kind, str) and "enum" not in schema:
        return {**schema, "type": [kind, "null"]} if kind != "null" else schema
    if isinstance(kind, list):
        return schema if "null" in kind or "enum" in schema else {**schema, "type": [*kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _describe(items: list[dict[str, Any]]) -> str:
    return "\n".join(f"- {item['name']}: {item.get('description') or ''}".rstrip(": ") for item in items)


def _error_excerpt(response: httpx.Response) -> str:
    """The server's error message, short, never the request (which may hold document text)."""
    try:
        error = response.json().get("error")
        text = error.get("message") if isinstance(error, dict) else str(error)
    except (ValueError, AttributeError):
        text = response.text
    return (text or response.reason_phrase or "")[:300]
