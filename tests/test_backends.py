"""API backends driven through the real ``openai`` / ``anthropic`` SDKs against a local HTTP server, plus the
registry's errors and the option-probability rules.

The server (``http.server`` in a thread on 127.0.0.1) answers from a script of canned replies, so each test
states exactly what the model "said" and checks what the backend made of it.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from psychoml.backends import (
    backend_parameters,
    exact_sequence_probabilities,
    get_backend,
    known_prefixes,
    label_variants,
)
from psychoml.backends._logprobs import TokenLogprob, option_distribution_from_top_logprobs
from psychoml.backends.openai_backend import retry_after_seconds
from psychoml.errors import BackendError, ConfigurationError, ModelSpecError, TransientBackendError
from psychoml.records import Message, Option, Request, ResponseStatus

SECRET = "sk-test-secret-0123456789"
OPTIONS = tuple(Option(str(v), float(v), None) for v in range(1, 6))


# --------------------------------------------------------------------------------------------------
# a scripted chat-completions / messages server


class _Reply:
    def __init__(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None, delay: float = 0.0):
        self.status, self.body, self.headers, self.delay = status, body, headers or {}, delay


class FakeServer:
    """Serves replies from ``script`` in order (the last one repeats); records what it received."""

    def __init__(self) -> None:
        self.script: list[_Reply] = []
        self.received: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.received.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                reply = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Any:
    s = FakeServer()
    yield s
    s.close()


def completion(content: str, positions: list[tuple[str, float, list[tuple[str, float]]]] | None = None) -> dict:
    """A chat.completion body; ``positions`` = [(token, p, [(alt, p), ...]), ...] with probabilities."""
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    if positions is not None:
        choice["logprobs"] = {
            "content": [
                {
                    "token": tok,
                    "logprob": math.log(p),
                    "bytes": None,
                    "top_logprobs": [{"token": t, "logprob": math.log(q), "bytes": None} for t, q in top],
                }
                for tok, p, top in positions
            ]
        }
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "test-model",
        "choices": [choice],
        "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13},
    }


def make_request(mode: str = "logprobs", *, items: tuple[str, ...] = ("q1",), options=OPTIONS, **params: Any) -> Request:
    return Request(
        model="test",
        instrument="demo",
        item_ids=items,
        variant_id="v1",
        sample=0,
        messages=(Message("system", "You answer surveys."), Message("user", "How much do you agree? 1-5")),
        options=options,
        mode=mode,  # type: ignore[arg-type]
        params=params,
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def ask(spec: str, request: Request, **options: Any) -> Any:
    backend = get_backend(spec, **options)
    try:
        return await backend.answer(request)
    finally:
        await backend.aclose()


@pytest.fixture
def compat(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)

    def call(request: Request, **options: Any) -> Any:
        return run(ask(f"openai-compatible:{server.url}/v1#test-model", request, **options))

    return call


# --------------------------------------------------------------------------------------------------
# openai / openai-compatible: logprobs


def test_logprobs_distribution_renormalised_with_outside_mass(server: FakeServer, compat: Any) -> None:
    server.script = [_Reply(body=completion("5", [("5", 0.5, [("5", 0.5), ("4", 0.2), ("3", 0.1), ("Hello", 0.1)])]))]
    ans = compat(make_request())
    assert ans.status is ResponseStatus.OK
    dist = ans.distributions["q1"]
    # 0.8 of the mass fell on options; renormalised: 0.5/0.8, 0.2/0.8, 0.1/0.8
    assert dist == pytest.approx({"1": 0.0, "2": 0.0, "3": 0.125, "4": 0.25, "5": 0.625}, abs=1e-12)
    assert sum(dist.values()) == pytest.approx(1.0, abs=1e-12)
    assert ans.mass_outside["q1"] == pytest.approx(0.2, abs=1e-12)
    assert ans.values["q1"] == pytest.approx(3 * 0.125 + 4 * 0.25 + 5 * 0.625, abs=1e-12)
    assert ans.argmax["q1"] == 5.0
    assert ans.tokens_in == 11 and ans.tokens_out == 2
    sent = server.received[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["logprobs"] is True and sent["body"]["top_logprobs"] == 20
    assert sent["body"]["temperature"] == 0.0
    assert sent["body"]["messages"][0] == {"role": "system", "content": "You answer surveys."}


def test_logprobs_space_variants_are_summed(server: FakeServer, compat: Any) -> None:
    top = [(" 5", 0.4), ("5", 0.3), ("4", 0.1), (" 4", 0.1), ("I", 0.05)]
    server.script = [_Reply(body=completion(" 5", [(" 5", 0.4, top)]))]
    ans = compat(make_request())
    dist = ans.distributions["q1"]
    # " 5" and "5" are one option: 0.7; "4" and " 4": 0.2; outside 0.1 (0.05 listed + 0.05 beyond the top-k)
    assert dist["5"] == pytest.approx(0.7 / 0.9, abs=1e-12)
    assert dist["4"] == pytest.approx(0.2 / 0.9, abs=1e-12)
    assert ans.mass_outside["q1"] == pytest.approx(0.1, abs=1e-12)


def test_logprobs_label_split_over_two_tokens(server: FakeServer, compat: Any) -> None:
    # the model emits a lone space first (p=0.6), then the digit; "4" as a first token took 0.3 directly
    positions = [(" ", 0.6, [(" ", 0.6), ("4", 0.3), ("The", 0.1)]), ("5", 0.5, [("5", 0.5), ("3", 0.5)])]
    server.script = [_Reply(body=completion(" 5", positions))]
    ans = compat(make_request())
    dist = ans.distributions["q1"]
    # 4: 0.3; after the space (0.6): 5 and 3 each 0.6 * 0.5 = 0.3; outside 0.1
    assert dist == pytest.approx({"1": 0, "2": 0, "3": 1 / 3, "4": 1 / 3, "5": 1 / 3}, abs=1e-12)
    assert ans.mass_outside["q1"] == pytest.approx(0.1, abs=1e-12)


def test_logprobs_nothing_on_options_is_unparseable(server: FakeServer, compat: Any) -> None:
    server.script = [_Reply(body=completion("Hello", [("Hello", 0.9, [("Hello", 0.9), ("Hi", 0.1)])]))]
    ans = compat(make_request())
    assert ans.status is ResponseStatus.UNPARSEABLE
    assert ans.values["q1"] is None and "q1" in (ans.reason or "")
    assert ans.mass_outside["q1"] == pytest.approx(1.0)


def test_logprobs_missing_in_reply_is_transient(server: FakeServer, compat: Any) -> None:
    server.script = [_Reply(body=completion("5", None))]
    with pytest.raises(TransientBackendError, match="no logprobs"):
        compat(make_request())


# --------------------------------------------------------------------------------------------------
# generate mode


@pytest.mark.parametrize(
    ("text", "status", "value"),
    [
        ("4", ResponseStatus.OK, 4.0),
        ("Option 2", ResponseStatus.OK, 2.0),
        ("I cannot answer personal questions as an AI.", ResponseStatus.REFUSED, None),
        ("Bananas are yellow.", ResponseStatus.UNPARSEABLE, None),
    ],
)
def test_generate_parses_text(server: FakeServer, compat: Any, text: str, status: ResponseStatus, value: Any) -> None:
    server.script = [_Reply(body=completion(text))]
    ans = compat(make_request("generate", temperature=0.7, seed=3))
    assert ans.status is status
    assert ans.values["q1"] == value
    assert ans.raw == text
    if status is not ResponseStatus.OK:
        assert ans.reason
    body = server.received[-1]["body"]
    assert body["temperature"] == 0.7 and body["seed"] == 3 and "logprobs" not in body


def test_whole_scale_logprobs_is_refused_clearly(server: FakeServer, compat: Any) -> None:
    server.script = [_Reply(body=completion("5"))]
    with pytest.raises(BackendError, match="one item per prompt"):
        compat(make_request(items=("q1", "q2")))
    assert server.received == []  # nothing was sent


# --------------------------------------------------------------------------------------------------
# errors and secrets


def test_429_with_retry_after_is_transient(server: FakeServer, compat: Any) -> None:
    server.script = [_Reply(429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"Retry-After": "7"})]
    with pytest.raises(TransientBackendError) as info:
        compat(make_request())
    assert info.value.retry_after == 7.0
    assert info.value.status == 429
    assert len(server.received) == 1  # the SDK did not retry by itself (max_retries=0)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_transient(server: FakeServer, compat: Any, status: int) -> None:
    server.script = [_Reply(status, {"error": {"message": "boom"}})]
    with pytest.raises(TransientBackendError) as info:
        compat(make_request())
    assert info.value.status == status and info.value.retry_after is None
    assert len(server.received) == 1


@pytest.mark.parametrize("status", [400, 401, 404])
def test_4xx_is_permanent(server: FakeServer, compat: Any, status: int) -> None:
    server.script = [_Reply(status, {"error": {"message": "nope"}})]
    with pytest.raises(BackendError) as info:
        compat(make_request())
    assert not isinstance(info.value, TransientBackendError)
    assert f"HTTP {status}" in str(info.value)


@pytest.mark.parametrize("body", [b"{this is not json", b"", json.dumps({"choices": []}).encode()])
def test_malformed_body_is_transient(server: FakeServer, compat: Any, body: bytes) -> None:
    server.script = [_Reply(200, body)]
    with pytest.raises(TransientBackendError, match="malformed"):
        compat(make_request())


def test_timeout_is_transient(server: FakeServer, compat: Any) -> None:
    server.script = [_Reply(body=completion("5", [("5", 1.0, [("5", 1.0)])]), delay=1.5)]
    t0 = time.perf_counter()
    with pytest.raises(TransientBackendError, match="timed out"):
        compat(make_request(), timeout=0.3)
    assert time.perf_counter() - t0 < 1.4  # gave up at the timeout, no hidden retries


def test_unreachable_server_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientBackendError, match="cannot connect"):
        run(ask(f"openai-compatible:http://127.0.0.1:{port}/v1#m", make_request(), timeout=2))


def test_key_is_sent_but_never_recorded(server: FakeServer, compat: Any) -> None:
    server.script = [_Reply(body=completion("5", [("5", 1.0, [("5", 1.0)])]))]
    ans = compat(make_request())
    assert server.received[-1]["headers"]["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in json.dumps(dict(ans.backend), default=str)
    assert SECRET not in repr(ans)
    assert ans.backend["api_key_env"] == "OPENAI_API_KEY"
    assert ans.backend["base_url"] == f"{server.url}/v1"
    assert SECRET not in json.dumps(backend_parameters(f"openai-compatible:{server.url}/v1#m"))


def test_compatible_server_needs_no_key(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("PSYCHOML_API_KEY", "local-key")
    server.script = [_Reply(body=completion("3", [("3", 1.0, [("3", 1.0)])]))]
    ans = run(ask(f"openai-compatible:{server.url}/v1#m", make_request()))
    assert ans.argmax["q1"] == 3.0
    assert server.received[-1]["headers"]["authorization"] == "Bearer local-key"
    monkeypatch.delenv("PSYCHOML_API_KEY")
    ans = run(ask(f"openai-compatible:{server.url}/v1#m", make_request()))
    assert ans.status is ResponseStatus.OK  # a placeholder key is sent


def test_openai_without_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        get_backend("openai:gpt-4o-mini")


def test_retry_after_formats() -> None:
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "soon"}) is None
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= (retry_after_seconds({"retry-after": when}) or 0) <= 31


# --------------------------------------------------------------------------------------------------
# anthropic


def anthropic_message(text: str) -> dict:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 1},
    }


def test_anthropic_generate(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    server.script = [_Reply(body=anthropic_message("I'd pick 4."))]
    ans = run(ask("anthropic:claude-test", make_request("generate", temperature=0.2), base_url=server.url))
    assert ans.status is ResponseStatus.OK and ans.values["q1"] == 4.0
    assert ans.tokens_in == 9 and ans.tokens_out == 1
    sent = server.received[-1]
    assert sent["path"] == "/v1/messages"
    assert sent["body"]["system"] == "You answer surveys."  # system prompt moved to its own field
    assert [m["role"] for m in sent["body"]["messages"]] == ["user"]
    assert sent["body"]["temperature"] == 0.2
    # SDK versions differ in the header that carries the key (x-api-key or a bearer token)
    assert SECRET in (sent["headers"].get("x-api-key", ""), sent["headers"].get("authorization", "").removeprefix("Bearer "))
    assert SECRET not in json.dumps(dict(ans.backend), default=str)


def test_anthropic_refuses_logprobs_mode(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    with pytest.raises(BackendError, match="log-probabilities"):
        run(ask("anthropic:claude-test", make_request("logprobs"), base_url=server.url))
    assert server.received == []


def test_anthropic_overloaded_and_rate_limited(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    err = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}
    server.script = [_Reply(429, err, {"retry-after": "2"})]
    with pytest.raises(TransientBackendError) as info:
        run(ask("anthropic:claude-test", make_request("generate"), base_url=server.url))
    assert info.value.retry_after == 2.0 and info.value.status == 429
    server.script = [_Reply(529, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})]
    with pytest.raises(TransientBackendError):
        run(ask("anthropic:claude-test", make_request("generate"), base_url=server.url))


def test_anthropic_without_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        get_backend("anthropic:claude-3-5-haiku-latest")


# --------------------------------------------------------------------------------------------------
# registry


@pytest.mark.parametrize("spec", ["gpt-4o", "nonsense:model", "openai:", "", "openai-compatible:no-hash-here"])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(ModelSpecError) as info:
        get_backend(spec)
    assert "openai" in str(info.value)  # the message shows what a valid spec looks like


def test_unknown_prefix_lists_known_ones() -> None:
    with pytest.raises(ModelSpecError) as info:
        get_backend("gemini:pro")
    for prefix in known_prefixes():
        assert prefix in str(info.value)
    assert set(known_prefixes()) >= {"openai", "openai-compatible", "anthropic", "hf", "local", "simulated"}


def test_missing_optional_dependency_names_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)  # import anthropic now raises ImportError
    with pytest.raises(ConfigurationError, match=r"pip install 'psychoml\[api\]'"):
        get_backend("anthropic:claude-test")


def test_unknown_local_model_and_missing_directory() -> None:
    with pytest.raises(ModelSpecError, match="smollm2"):
        get_backend("local:llama-70b")
    with pytest.raises(ConfigurationError, match="no such directory"):
        get_backend("hf:/nonexistent/model/dir")
    with pytest.raises(ModelSpecError, match="gguf=FILE"):
        get_backend("hf:/models/x#quant=q4")


def test_backend_parameters_need_no_model() -> None:
    p = backend_parameters("hf:/models/qwen#gguf=qwen.gguf", batch_size=4)
    assert p["model"] == "/models/qwen" and p["gguf_file"] == "qwen.gguf" and p["batch_size"] == 4
    assert backend_parameters("openai:gpt-4o-mini")["base_url"] == "https://api.openai.com/v1"


# --------------------------------------------------------------------------------------------------
# option probability rules


def test_label_variants() -> None:
    assert label_variants("5") == ["5", " 5"]
    assert label_variants("Agree") == ["Agree", " Agree", "agree", " agree"]


def test_exact_sequences_exclude_longer_labels() -> None:
    # "1" = [1], "10" = [1, 0]: the answer is exactly "1" only when it does not go on into "10"
    out = exact_sequence_probabilities({(1,): 0.5, (1, 0): 0.2, (2,): 0.1})
    assert out == pytest.approx({(1,): 0.3, (1, 0): 0.2, (2,): 0.1})


def test_word_labels_from_top_logprobs() -> None:
    opts = (Option("Disagree", 1.0), Option("Agree", 2.0))
    pos = [TokenLogprob(" Dis", math.log(0.5), ((" Dis", math.log(0.5)), (" Agree", math.log(0.3)), ("I", math.log(0.2))))]
    dist = option_distribution_from_top_logprobs(pos, opts)
    # " Dis" can only become "Disagree" and was sampled with nothing reported after it: it counts for Disagree
    assert dist.probabilities == pytest.approx({"Disagree": 0.625, "Agree": 0.375})
    assert dist.mass_outside == pytest.approx(0.2)


def test_unknown_backend_option_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with pytest.raises(ConfigurationError, match="unknown backend option.*batchsize.*accepted: timeout"):
        get_backend("openai:gpt-4o-mini", batchsize=3)


# --- prefix grouping of the local backend (pure: no model needed) ---------------------------------------------


def test_prefix_groups_join_rows_sharing_a_prefix() -> None:
    from psychoml.backends.hf import prefix_groups

    shared = list(range(100, 140))  # 40 shared tokens
    rows = [shared + [1, 2], shared + [3], shared + [4, 5, 6]]
    assert prefix_groups(rows, min_prefix_tokens=16) == [([0, 1, 2], 40)]


def test_prefix_groups_keep_a_long_prefix_rather_than_recompute_it() -> None:
    """Like SVS-56's value lists: 30 rows share 480 tokens, two more share only 400 of them."""
    from psychoml.backends.hf import prefix_groups

    common = list(range(1000, 1400))
    list_one = [common + [7] * 80 + [k] for k in range(30)]
    list_two = [common + [8] * 80 + [k] for k in range(2)]
    groups = prefix_groups(list_one + list_two, min_prefix_tokens=16)
    assert [(sorted(m), lcp) for m, lcp in groups] == [(list(range(30)), 480), ([30, 31], 480)]


def test_prefix_groups_join_when_cheaper_and_respect_the_minimum() -> None:
    from psychoml.backends.hf import prefix_groups

    # 3 rows share 100 tokens, a 4th shares 90 of them: recomputing 3 x 10 tokens < one more 100-token prefix
    base = list(range(2000, 2100))
    rows = [base + [k] for k in range(3)] + [base[:90] + [5, 5]]
    assert [(sorted(m), lcp) for m, lcp in prefix_groups(rows, min_prefix_tokens=16)] == [([0, 1, 2, 3], 90)]
    # too short a prefix: every row on its own
    short = [[1, 2, 3, k] for k in range(3)]
    assert prefix_groups(short, min_prefix_tokens=16) == [([0], 4), ([1], 4), ([2], 4)]


def test_prefix_groups_partition_rows_and_share_what_they_claim() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from psychoml.backends.hf import prefix_groups

    token_rows = st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=30), min_size=1, max_size=25)

    @settings(max_examples=200, deadline=None)
    @given(token_rows, st.integers(1, 8))
    def check(rows: list[list[int]], minimum: int) -> None:
        groups = prefix_groups(rows, min_prefix_tokens=minimum)
        assert sorted(i for members, _ in groups for i in members) == list(range(len(rows)))
        for members, shared in groups:
            assert all(rows[i][:shared] == rows[members[0]][:shared] for i in members)
            assert shared <= min(len(rows[i]) for i in members)
            if len(members) > 1:
                assert shared >= minimum

    check()
