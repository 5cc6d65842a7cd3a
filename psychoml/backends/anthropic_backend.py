"""``anthropic:MODEL`` through the official ``anthropic`` SDK (Messages API, generate mode only).

Anthropic's API exposes no token log-probabilities, so a logprobs-mode
request is a :class:`~psychoml.errors.BackendError` that says so (``capabilities``
is ``{"generate"}``, which the runner can check before starting).  System
messages go to the ``system`` parameter; the key comes from
``ANTHROPIC_API_KEY`` only and never appears in answers or messages.  Errors
map as for the OpenAI backend (429 / 5xx / 529 overloaded / timeouts /
connection errors are transient, other 4xx permanent); the SDK never retries
(``max_retries=0``).
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Mapping
from typing import Any

from psychoml.backends._parse import answer_from_text
from psychoml.backends._protocol import check_capability, check_options
from psychoml.backends._registry import split_spec
from psychoml.backends.openai_backend import map_sdk_error
from psychoml.errors import ConfigurationError, TransientBackendError
from psychoml.records import Answer, Request

__all__ = ["AnthropicBackend", "from_spec", "parameters_from_spec"]

DEFAULT_TIMEOUT = 60.0


def parameters_from_spec(
    spec: str, *, timeout: float = DEFAULT_TIMEOUT, api_key_env: str = "ANTHROPIC_API_KEY", **_: Any
) -> dict[str, Any]:
    """Backend parameters (no secrets) for an ``anthropic:`` spec."""
    _, model = split_spec(spec)
    return {
        "backend": "anthropic",
        "model": model.strip(),
        "timeout_s": float(timeout),
        "api_key_env": api_key_env,
        "max_retries": 0,
    }


class AnthropicBackend:
    """Messages-API backend (generate mode only).

    Parameters
    ----------
    spec
        ``anthropic:MODEL``.
    timeout
        Per-request timeout in seconds (default 60).
    api_key_env
        Environment variable holding the key (default ``ANTHROPIC_API_KEY``).
    base_url, http_client
        For proxies and tests.
    """

    capabilities = frozenset({"generate"})

    def __init__(
        self,
        spec: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        api_key_env: str = "ANTHROPIC_API_KEY",
        base_url: str | None = None,
        http_client: Any = None,
    ) -> None:
        import anthropic

        self._sdk = anthropic
        self.spec = spec
        self._parameters = parameters_from_spec(spec, timeout=timeout, api_key_env=api_key_env)
        self.model = self._parameters["model"]
        key = os.environ.get(api_key_env)
        if not key:
            raise ConfigurationError(f"model spec {spec!r} needs an API key: set the environment variable {api_key_env}")
        kwargs: dict[str, Any] = {"api_key": key, "timeout": float(timeout), "max_retries": 0}
        if base_url is not None:
            kwargs["base_url"] = base_url
            self._parameters["base_url"] = base_url
        if http_client is not None:
            kwargs["http_client"] = http_client
        self._client = anthropic.AsyncAnthropic(**kwargs)
        try:
            self._create_params = frozenset(inspect.signature(self._client.messages.create).parameters)
        except (TypeError, ValueError):  # pragma: no cover - a C-level or wrapped signature
            self._create_params = frozenset({"temperature", "top_p"})

    @property
    def parameters(self) -> Mapping[str, Any]:
        return dict(self._parameters)

    def __repr__(self) -> str:
        return f"AnthropicBackend({self.spec!r})"

    async def aclose(self) -> None:
        await self._client.close()

    async def answer(self, request: Request) -> Answer:
        check_capability(self, request)
        params = dict(request.params)
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        messages = [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"]
        max_tokens = int(params.get("max_tokens") or (32 * len(request.item_ids) + 32))
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": float(params.get("temperature", 1.0)),
        }
        if system:
            body["system"] = system
        if params.get("top_p") is not None:
            body["top_p"] = params["top_p"]
        # newer SDKs dropped the sampling keywords from ``messages.create``; they still go in the body
        extra = {k: body.pop(k) for k in ("temperature", "top_p") if k in body and k not in self._create_params}
        if extra:
            body["extra_body"] = extra
        used = {**self._parameters, "temperature": float(params.get("temperature", 1.0)), "max_tokens": max_tokens}
        t0 = time.perf_counter()
        try:
            message = await self._client.messages.create(**body)
        except self._sdk.AnthropicError as exc:
            raise map_sdk_error(exc, self.spec, sdk=self._sdk) from exc
        except ValueError as exc:
            raise TransientBackendError(f"{self.spec}: malformed response body ({exc})", status=200) from exc
        latency = time.perf_counter() - t0
        blocks = getattr(message, "content", None)
        if not isinstance(blocks, list):
            raise TransientBackendError(f"{self.spec}: malformed response body (no content)", status=200)
        text = "".join(getattr(b, "text", "") or "" for b in blocks if getattr(b, "type", None) == "text")
        usage = getattr(message, "usage", None)
        served = getattr(message, "model", None)
        if isinstance(served, str) and served:
            used["served_model"] = served
        answer = answer_from_text(
            request,
            text,
            backend=used,
            tokens_in=getattr(usage, "input_tokens", None),
            tokens_out=getattr(usage, "output_tokens", None),
            latency_s=latency,
        )
        return answer


def from_spec(spec: str, **options: Any) -> AnthropicBackend:
    check_options(spec, options, AnthropicBackend)
    return AnthropicBackend(spec, **options)
