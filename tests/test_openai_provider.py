"""The OpenAI-compatible provider against a scripted server on loopback (never the internet)."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from models.settings import Settings
from workers.blocks.base import Document
from workers.blocks.providers.base import ProviderError, ProviderUnavailable
from workers.blocks.providers.openai_compat import (
    OpenAIProvider, RetryEvent, RetryPolicy, clean_splits, drop_unrequested_nulls, retry_after_s, strict_schema,
)

API_KEY = "sk-test-loopback"
DOC = Document(id="file_1", filename="packet.pdf", mime_type="application/pdf",
               pages=["INVOICE\nTotal: 42", "Invoice page 2", "RECEIPT\nPaid"])


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # sleep before answering: a reply slower than the client's timeout


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeOpenAI:
    """Answers POSTs from a script, in order, and records every request it received."""

    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def add(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def _next(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            return self.script.popleft() if self.script else Reply(500, {"error": {"message": "script exhausted"}})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                reply = fake._next(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if reply.delay_s:
                    threading.Event().wait(reply.delay_s)
                data = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a slow reply: that is the point of that test

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def completion(answer: dict[str, Any]) -> Reply:
    return Reply(200, {"id": "chatcmpl-1", "object": "chat.completion", "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": json.dumps(answer)}}]})


@pytest.fixture()
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.retries: list[RetryEvent] = []


@pytest.fixture()
def recorder() -> Recorder:
    return Recorder()


def make_provider(server: FakeOpenAI, recorder: Recorder, **overrides: Any) -> OpenAIProvider:
    settings = Settings(openai_base_url=server.base_url, openai_api_key=API_KEY, openai_model="test-model",
                        openai_judge_model=overrides.pop("judge_model", None),
                        openai_embedding_model=overrides.pop("embedding_model", None),
                        openai_timeout_s=overrides.pop("timeout_s", 5.0), openai_max_retries=3)
    return OpenAIProvider(settings, retry=overrides.pop("retry", RetryPolicy(max_retries=3, base_delay_s=0.01)),
                          sleep=recorder.sleeps.append, on_retry=recorder.retries.append, **overrides)


@pytest.fixture()
def provider(server, recorder) -> Iterator[OpenAIProvider]:
    with make_provider(server, recorder) as p:
        yield p


INVOICE_SCHEMA = {"type": "object", "properties": {
    "total": {"type": "number"},
    "vendor": {"type": "string"},
    "items": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}},
}, "required": ["total"]}


def extract(provider: OpenAIProvider) -> dict[str, Any]:
    return provider.extract(DOC, INVOICE_SCHEMA, "Totals are in EUR.", call_index=0, seed="s", config={})


# -- requests and answers -------------------------------------------------------------------------

def test_extract_sends_model_key_and_strict_schema(server, provider):
    server.add(completion({"total": 42, "vendor": None, "items": [{"sku": None}]}))
    assert extract(provider) == {"total": 42, "items": [{}]}  # optional fields answered null are dropped

    [seen] = server.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {API_KEY}"
    assert seen.body["model"] == "test-model"
    fmt = seen.body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "extraction" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["total", "vendor", "items"]
    assert schema["properties"]["total"] == {"type": "number"}
    assert schema["properties"]["vendor"] == {"type": ["string", "null"]}
    assert schema["properties"]["items"]["items"]["additionalProperties"] is False
    system, user = seen.body["messages"]
    assert "Totals are in EUR." in system["content"]
    assert "=== page 1 ===\nINVOICE\nTotal: 42" in user["content"] and "=== page 3 ===" in user["content"]


def test_classify_constrains_the_category(server, provider):
    categories = [{"name": "Invoice", "description": "a bill"}, {"name": "Receipt", "description": "proof of payment"}]
    server.add(completion({"reasoning": "it says INVOICE", "category": "Invoice"}))
    assert provider.classify(DOC, categories, call_index=0, seed="s", config={}) == {
        "category": "Invoice", "reasoning": "it says INVOICE"}
    schema = server.requests[0].body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["category"] == {"type": "string", "enum": ["Invoice", "Receipt"]}
    assert schema["properties"]["reasoning"] == {"type": "string"}
    assert set(schema["required"]) == {"category", "reasoning"}

    server.add(completion({"reasoning": "?", "category": "Letter"}))
    with pytest.raises(ProviderError, match="unknown category"):
        provider.classify(DOC, categories, call_index=0, seed="s", config={})


def test_split_sends_page_markers_and_cleans_pages(server, provider):
    subdocs = [{"name": "invoice", "description": ""}, {"name": "receipt", "description": ""}]
    server.add(completion({"splits": [{"name": "invoice", "pages": [2, 1, 2, 9]}, {"name": "receipt", "pages": [3]},
                                      {"name": "memo", "pages": [1]}]}))
    assert provider.split(DOC, subdocs, call_index=1, seed="s", config={}) == {
        "splits": [{"name": "invoice", "pages": [1, 2]}, {"name": "receipt", "pages": [3]}]}
    body = server.requests[0].body
    item = body["response_format"]["json_schema"]["schema"]["properties"]["splits"]["items"]
    assert item["properties"]["name"]["enum"] == ["invoice", "receipt"]
    assert item["properties"]["pages"] == {"type": "array", "items": {"type": "integer"}}
    assert "=== page 2 ===\nInvoice page 2" in body["messages"][1]["content"]


def test_judge_uses_the_judge_model_or_falls_back(server, recorder):
    answer = {"reasoning": "polite", "label": "polite", "holds": True}
    server.add(completion(answer), completion(answer))
    with make_provider(server, recorder, judge_model="judge-model") as judge:
        assert judge.judge({"reply": "Thank you!"}, "The reply is polite", "polite") == answer
    with make_provider(server, recorder) as fallback:
        fallback.judge("x", "rubric", None)
    first, second = server.requests
    assert first.body["model"] == "judge-model" and second.body["model"] == "test-model"
    schema = first.body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["holds"] == {"type": "boolean"} and set(schema["required"]) == {"label", "holds", "reasoning"}
    assert "The reply is polite" in first.body["messages"][1]["content"]


def test_embeddings(server, recorder, provider):
    with pytest.raises(ProviderUnavailable) as info:
        provider.embed(["a"])
    assert info.value.code == "embeddings_unavailable"
    assert server.requests == []

    server.add(Reply(200, {"data": [{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1.0, 0.0]}]}))
    with make_provider(server, recorder, embedding_model="embed-model") as embedder:
        assert embedder.embed(["first", "second"]) == [[1.0, 0.0], [0.0, 1.0]]
    [seen] = server.requests
    assert seen.path == "/v1/embeddings"
    assert seen.body == {"model": "embed-model", "input": ["first", "second"]}
    assert seen.headers["authorization"] == f"Bearer {API_KEY}"


def test_constructor_overrides_beat_settings(server, recorder):
    server.add(completion({"total": 1}))
    with make_provider(server, recorder, model="override-model", api_key="sk-other") as p:
        extract(p)
    assert server.requests[0].body["model"] == "override-model"
    assert server.requests[0].headers["authorization"] == "Bearer sk-other"


# -- retries --------------------------------------------------------------------------------------

def test_429_with_retry_after_waits_as_told(server, provider, recorder):
    server.add(Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "2"}), completion({"total": 7}))
    assert extract(provider) == {"total": 7}
    assert len(server.requests) == 2
    assert recorder.sleeps == [2.0]
    assert [(e.attempt, e.reason, e.delay_s) for e in recorder.retries] == [(1, "429", 2.0)]


def test_429_without_retry_after_backs_off_with_jitter(server, provider, recorder):
    server.add(Reply(429, {"error": {"message": "slow down"}}), Reply(429, {}), completion({"total": 7}))
    assert extract(provider) == {"total": 7}
    assert len(server.requests) == 3
    first, second = recorder.sleeps
    assert 0 <= first <= 0.01 and 0 <= second <= 0.02  # full jitter under base * 2^retry


def test_retry_after_is_capped(server, recorder):
    server.add(Reply(503, {}, {"Retry-After": "3600"}), completion({"total": 1}))
    with make_provider(server, recorder, retry=RetryPolicy(max_retries=1, base_delay_s=0.01, max_delay_s=5)) as p:
        extract(p)
    assert recorder.sleeps == [5]


def test_500_then_success(server, provider, recorder):
    server.add(Reply(500, {"error": {"message": "oops"}}), completion({"total": 3}))
    assert extract(provider) == {"total": 3}
    assert [e.reason for e in recorder.retries] == ["500"]


def test_slow_reply_times_out_then_retry_succeeds(server, recorder):
    server.add(Reply(delay_s=2.0, body={"too": "late"}), completion({"total": 5}))
    with make_provider(server, recorder, timeout_s=0.3) as p:
        assert extract(p) == {"total": 5}
    assert [e.reason for e in recorder.retries] == ["ReadTimeout"]
    assert len(server.requests) == 2


def test_400_fails_at_once(server, provider, recorder):
    server.add(Reply(400, {"error": {"message": "Invalid schema for response_format"}}), completion({"total": 1}))
    with pytest.raises(ProviderError, match="HTTP 400: Invalid schema for response_format"):
        extract(provider)
    assert len(server.requests) == 1
    assert recorder.sleeps == [] and recorder.retries == []


def test_persistent_5xx_gives_up_after_max_retries(server, provider, recorder):
    server.add(*[Reply(503, {"error": {"message": "overloaded"}}) for _ in range(10)])
    with pytest.raises(ProviderError, match="HTTP 503: overloaded .after 4 tries"):
        extract(provider)
    assert len(server.requests) == 4  # 1 try + openai_max_retries (3)
    assert [e.attempt for e in recorder.retries] == [1, 2, 3]


def test_connection_errors_are_retried_then_fail(recorder):
    with FakeOpenAI() as closed:
        url = closed.base_url
    settings = Settings(openai_base_url=url, openai_api_key=API_KEY, openai_max_retries=2)
    with OpenAIProvider(settings, retry=RetryPolicy(max_retries=2, base_delay_s=0.001), on_retry=recorder.retries.append) as p:
        with pytest.raises(ProviderError, match="ConnectError after 3 tries"):
            extract(p)
    assert [e.reason for e in recorder.retries] == ["ConnectError", "ConnectError"]


def test_malformed_answers_are_provider_errors(server, provider):
    server.add(Reply(200, {"choices": [{"finish_reason": "stop", "message": {"content": "not json"}}]}),
               Reply(200, {"choices": [{"finish_reason": "stop", "message": {"content": None, "refusal": "no"}}]}),
               Reply(200, {"choices": [{"finish_reason": "length", "message": {"content": "{\"tot"}}]}))
    for expected in ("not a JSON object", "refused", "cut off"):
        with pytest.raises(ProviderError, match=expected):
            extract(provider)


# -- pure helpers ---------------------------------------------------------------------------------

def test_strict_schema_round_trip():
    schema = {"type": "object", "properties": {"a": {"type": "string", "enum": ["x", "y"]}, "b": {"type": "integer"}},
              "required": ["b"]}
    strict = strict_schema(schema)
    assert strict["properties"]["a"] == {"anyOf": [{"type": "string", "enum": ["x", "y"]}, {"type": "null"}]}
    assert strict["required"] == ["a", "b"] and strict["additionalProperties"] is False
    assert schema["required"] == ["b"], "the block's schema is not modified"
    assert drop_unrequested_nulls({"a": None, "b": None}, schema) == {"b": None}


def test_helpers():
    assert retry_after_s("1.5") == 1.5 and retry_after_s(None) is None and retry_after_s("soon") is None
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: retry now
    assert clean_splits([{"name": "a", "pages": [True, 0, 1]}], ["a"], 1) == [{"name": "a", "pages": [1]}]
    with pytest.raises(ProviderError):
        clean_splits(None, ["a"], 1)
