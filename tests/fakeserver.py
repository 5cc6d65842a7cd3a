"""A real HTTP server speaking OpenAI's chat-completions API, answering as a simulated respondent.

Used by the administration tests and ``benchmarks/administer.py``: the real ``openai`` SDK talks to it over
TCP on 127.0.0.1.  It is stdlib only (``http.server.ThreadingHTTPServer`` in a daemon thread).

* The item is identified from the prompt text: every prompt the given designs render for the instrument is
  looked up exactly (which also gives the options as presented and their scored values); a prompt from
  another design falls back to finding the item's text in the user message, with numeric option labels.
* Answers come from :class:`psychoml.backends.simulated.SimulatedBackend` (``simulated`` spec): in logprobs
  mode the reply is the most probable option with ``top_logprobs`` over the option labels (plus 2 % of mass on
  a non-option token, so ``mass_outside`` is exercised); in generate mode one option drawn with the request's
  temperature, seeded by the prompt and ``seed``.  The respondent's sample is the request's ``seed`` (0 when
  absent).
* Faults are injected deterministically: ``Faults(fraction={"429": 0.2, ...}, times=1)`` picks, by a hash of
  the prompt, which prompts get which fault, and applies it to their first ``times`` attempts only, so every
  request eventually succeeds within the runner's retries and no test is flaky.  Kinds: ``"429"`` (with
  ``Retry-After``), ``"500"``, ``"slow"`` (the reply is delayed ``slow_s`` seconds, past the client timeout),
  ``"malformed"`` (HTTP 200 with a body that is not JSON, or JSON without choices), ``"refuse"`` (a refusal
  text: a final REFUSED answer, not a fault the runner retries).
* ``delay_s`` delays every reply (to make runs long enough to kill mid-run).
* ``served`` counts replies by outcome, ``max_in_flight`` is the most requests handled at once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from psychoml.backends.simulated import from_spec as simulated_from_spec
from psychoml.instruments import load as load_instrument
from psychoml.prompts import item_groups, load_design, render
from psychoml.records import Message, Option, Request

__all__ = ["FakeOpenAIServer", "Faults"]

FAULT_KINDS = ("429", "500", "slow", "malformed", "refuse")


@dataclass
class Faults:
    """Which share of prompts gets which fault, and for how many of their attempts."""

    fraction: Mapping[str, float] = field(default_factory=dict)
    times: int = 1
    retry_after: float = 0.2
    slow_s: float = 3.0

    def __post_init__(self) -> None:
        unknown = set(self.fraction) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}; known: {FAULT_KINDS}")
        if sum(self.fraction.values()) > 1:
            raise ValueError("fault fractions add up to more than 1")

    def pick(self, prompt_hash: int) -> str | None:
        u = (prompt_hash % 10_000) / 10_000
        acc = 0.0
        for kind in FAULT_KINDS:
            acc += self.fraction.get(kind, 0.0)
            if u < acc:
                return kind
        return None


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


class FakeOpenAIServer:
    """``with FakeOpenAIServer() as server: ... server.base_url ...``.

    Parameters
    ----------
    instrument
        Instrument whose items it answers.
    designs
        Designs whose prompts are looked up exactly (names or Design objects).
    simulated
        The simulated respondent spec that answers.
    faults
        Injected faults (see :class:`Faults`).
    delay_s
        Delay of every reply in seconds.
    """

    def __init__(
        self,
        instrument: str = "svs56",
        *,
        designs: Sequence[Any] = ("quick", "minimal"),
        simulated: str = "simulated:grm?seed=1",
        faults: Faults | None = None,
        delay_s: float = 0.0,
        api_key: str | None = None,
    ) -> None:
        self.instrument = load_instrument(instrument)
        self.sim = simulated_from_spec(simulated)
        self.faults = faults or Faults()
        self.delay_s = delay_s
        self.api_key = api_key
        self.lock = threading.Lock()
        self.attempts: Counter[int] = Counter()  # prompt hash -> attempts seen
        self.log: list[tuple[float, int, str]] = []  # (time, prompt hash, outcome)
        self.served: Counter[str] = Counter()
        self.auth_headers: set[str] = set()
        self.in_flight = 0  # chat-completion requests being handled right now
        self.max_in_flight = 0  # the most handled at once (the client's concurrency, seen from the server)
        self._lookup: dict[tuple[tuple[str, str], ...], tuple[tuple[str, ...], tuple[Option, ...], str | None]] = {}
        for design in designs:
            for variant in load_design(design).variants():
                for group in item_groups(self.instrument, variant):
                    rp = render(self.instrument, variant, group)
                    key = tuple((m.role, m.content) for m in rp.messages)
                    self._lookup[key] = (tuple(group), rp.options, variant.facets["persona"])
        self._texts = sorted(((it.text.strip(), it.id) for it in self.instrument.items), key=lambda t: -len(t[0]))
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> FakeOpenAIServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go in two writes: without this, 40 ms delayed ACKs

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if self.headers.get("authorization"):
                    server.auth_headers.add(self.headers["authorization"])
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                try:
                    payload = json.loads(body)
                except ValueError:
                    self._send(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                    return
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    status, reply, headers, delay = server.handle(payload)
                    if delay:
                        time.sleep(delay)
                    self._send(status, reply, headers)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _send(self, status: int, reply: Any, headers: Mapping[str, str] | None = None) -> None:
                data = reply if isinstance(reply, bytes) else json.dumps(reply).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and went away
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

            def handle_error(self, request: Any, client_address: Any) -> None:  # clients that time out and go
                pass

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def spec(self, model: str = "sim") -> str:
        """The ``openai-compatible:`` model spec pointing at this server."""
        return f"openai-compatible:{self.base_url}#{model}"

    # --- answering ---------------------------------------------------------------------------------------------
    def identify(self, messages: Sequence[Mapping[str, str]]) -> tuple[tuple[str, ...], tuple[Option, ...], str | None]:
        """(item ids, options as presented, persona) of a prompt."""
        key = tuple((m["role"], m["content"]) for m in messages)
        hit = self._lookup.get(key)
        if hit is not None:
            return hit
        user = next((m["content"] for m in messages if m["role"] == "user"), "")
        item = next((iid for text, iid in self._texts if text and text in user), None)
        if item is None:
            raise LookupError("no item of the instrument in the prompt")
        block = user.split("Response options:", 1)[1].strip().split("\n\n", 1)[0]
        options = []
        for line in block.splitlines():
            label, _, text = line.partition(" = ")
            options.append(Option(label.strip(), float(label), text or None))
        system = next((m["content"] for m in messages if m["role"] == "system"), None)
        return (item,), tuple(options), system

    def handle(self, payload: Mapping[str, Any]) -> tuple[int, Any, dict[str, str], float]:
        """(HTTP status, body, extra headers, delay) for one request body."""
        messages = payload.get("messages") or []
        seed = int(payload.get("seed") or 0)
        prompt_hash = _hash(json.dumps(messages, sort_keys=True) + f"|{seed}")
        with self.lock:
            self.attempts[prompt_hash] += 1
            attempt = self.attempts[prompt_hash]
        kind = self.faults.pick(prompt_hash)
        faulty = kind is not None and kind != "refuse" and attempt <= self.faults.times
        outcome = kind if faulty else "ok"
        with self.lock:
            self.log.append((time.monotonic(), prompt_hash, outcome))
            self.served[outcome] += 1
        delay = self.delay_s
        if faulty:
            if kind == "429":
                return 429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}, {
                    "retry-after": f"{self.faults.retry_after:g}"}, delay
            if kind == "500":
                return 500, {"error": {"message": "internal server error", "type": "server_error"}}, {}, delay
            if kind == "slow":
                delay += self.faults.slow_s
            elif kind == "malformed":
                bad = b'{"id": "chatcmpl-x", "object": "chat.completion", "choi' if prompt_hash % 2 else json.dumps(
                    {"id": "chatcmpl-x", "object": "chat.completion", "created": 0, "model": "sim"}).encode()
                return 200, bad, {}, delay
        try:
            items, options, persona = self.identify(messages)
        except (LookupError, ValueError, IndexError) as exc:
            return 400, {"error": {"message": f"fake server: {exc}", "type": "invalid_request_error"}}, {}, delay
        request = Request(
            model="sim", instrument=self.instrument.id, item_ids=items, variant_id="", sample=seed,
            messages=tuple(Message(m["role"], m["content"]) for m in messages), options=options, persona=persona,
        )
        dists, _ = self.sim.distributions(request)
        labels = [o.label for o in options]
        if kind == "refuse":  # a refusal, with the log-probabilities of its first token when asked for
            refusal = None
            if payload.get("logprobs"):
                top = [{"token": t, "logprob": math.log(p), "bytes": list(t.encode())} for t, p in
                       (("I'm", 0.9), ("Sorry", 0.1))]
                refusal = {"content": [{"token": "I'm", "logprob": math.log(0.9), "bytes": list(b"I'm"),
                                        "top_logprobs": top}], "refusal": None}
            return 200, self._completion(payload, "I'm sorry, but I can't answer that question.", refusal), {}, delay
        if len(items) > 1:  # whole-scale prompt: "k: label" lines (generate mode)
            lines = []
            for k, item in enumerate(items, start=1):
                lines.append(f"{k}: {self._choose(dists[item], labels, payload, prompt_hash + k)}")
            return 200, self._completion(payload, "\n".join(lines), None), {}, delay
        dist = dists[items[0]]
        chosen = self._choose(dist, labels, payload, prompt_hash)
        logprobs = None
        if payload.get("logprobs"):
            top_n = int(payload.get("top_logprobs") or 0)
            alts = sorted(((lab, 0.98 * dist[lab]) for lab in labels if dist[lab] > 0), key=lambda t: -t[1])
            alts.append(("The", 0.02))
            alts.sort(key=lambda t: -t[1])
            top = [{"token": t, "logprob": math.log(p), "bytes": list(t.encode())} for t, p in alts[:max(1, top_n)]]
            p_chosen = 0.98 * dist[chosen]
            logprobs = {"content": [{"token": chosen, "logprob": math.log(p_chosen), "bytes": list(chosen.encode()),
                                     "top_logprobs": top}], "refusal": None}
        return 200, self._completion(payload, chosen, logprobs), {}, delay

    @staticmethod
    def _choose(dist: Mapping[str, float], labels: Sequence[str], payload: Mapping[str, Any], h: int) -> str:
        temperature = float(payload.get("temperature") if payload.get("temperature") is not None else 1.0)
        if temperature <= 0 or payload.get("logprobs"):
            return max(labels, key=lambda lab: dist[lab])
        w = [dist[lab] ** (1.0 / temperature) for lab in labels]
        u = (h % 1_000_003) / 1_000_003 * sum(w)
        acc = 0.0
        for lab, wi in zip(labels, w):
            acc += wi
            if u < acc:
                return lab
        return labels[-1]

    @staticmethod
    def _completion(payload: Mapping[str, Any], text: str, logprobs: Any) -> dict[str, Any]:
        prompt_tokens = sum(len(m.get("content", "")) for m in payload.get("messages", [])) // 4
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload.get("model", "sim"),
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                         "logprobs": logprobs, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1},
        }

    # --- inspection --------------------------------------------------------------------------------------------
    def retry_gaps(self, outcome: str) -> list[float]:
        """Seconds between each ``outcome`` fault and the next attempt of the same prompt."""
        by_prompt: dict[int, list[tuple[float, str]]] = defaultdict(list)
        with self.lock:
            for t, h, o in self.log:
                by_prompt[h].append((t, o))
        gaps = []
        for events in by_prompt.values():
            for (t1, o1), (t2, _) in itertools.pairwise(events):
                if o1 == outcome:
                    gaps.append(t2 - t1)
        return gaps


if __name__ == "__main__":  # a manual server: python tests/fakeserver.py
    with FakeOpenAIServer() as s:
        print(s.spec(), flush=True)
        threading.Event().wait()
