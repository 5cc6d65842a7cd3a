"""``openai:MODEL`` and ``openai-compatible:BASE_URL#MODEL`` through the official ``openai`` SDK.

Chat completions only, sent with the SDK's documented low-level call
(``client.post("/chat/completions", body=..., cast_to=object)``: the SDK's
transport, timeouts and typed errors, without re-validating the body psychoml
built or building typed reply objects).  ``openai-compatible`` covers vLLM,
llama.cpp's server, Ollama, LM Studio and hosted OpenAI-compatible APIs.

Scoring modes
-------------
``logprobs``
    One short completion (``max_tokens`` a few tokens, enough to spell the
    longest label) with ``logprobs=True, top_logprobs=20``; option
    probabilities are read off the top log-probabilities along the sampled
    path (:func:`~psychoml.backends._logprobs.option_distribution_from_top_logprobs`),
    renormalised over the options, with ``mass_outside`` recorded.
    Temperature defaults to 0 so that the walked path is the most likely one.
    One item per prompt: a whole-scale prompt in logprobs mode is a
    :class:`BackendError`.
``generate``
    Sampled text (temperature from the request, default 1), parsed to an
    option per item; refusals and unparseable text are recorded as such.

Errors (the backend never retries: ``max_retries=0``, the runner does)
-----------------------------------------------------------------------
* HTTP 429, 408, 409 and 5xx, timeouts and connection errors ->
  :class:`TransientBackendError` with ``retry_after`` from ``Retry-After``
  (seconds or an HTTP date) or ``retry-after-ms``.
* Other 4xx (bad request, authentication, unknown model) -> :class:`BackendError`.
* A malformed body (not JSON, no choices, no message, a logprobs structure
  that cannot be read, or no logprobs at all in logprobs mode) ->
  :class:`TransientBackendError` with ``status=200``: a truncated or garbled
  body is typically a proxy or server hiccup, and retrying it loses nothing,
  whereas recording it as a final UNPARSEABLE answer would lose the item.
  A *well-formed* reply whose text names no option is an UNPARSEABLE answer.

Keys come from the environment only: ``OPENAI_API_KEY`` (required for
``openai:``; optional for ``openai-compatible:``, which also reads
``PSYCHOML_API_KEY`` and sends a placeholder when neither is set, as local
servers expect; the variable can be renamed with the ``api_key_env=`` option).  The key
never appears in :attr:`Answer.backend`, in reprs or in error messages.
"""

from __future__ import annotations

import email.utils
import math
import os
import time
from collections.abc import Mapping
from typing import Any

from psychoml.backends._logprobs import TokenLogprob, option_distribution_from_top_logprobs
from psychoml.backends._parse import answer_from_text
from psychoml.backends._protocol import answer_from_distributions, check_capability, check_options
from psychoml.backends._registry import split_spec
from psychoml.errors import BackendError, ConfigurationError, ModelSpecError, TransientBackendError
from psychoml.records import Answer, Request

__all__ = ["OpenAIBackend", "from_spec", "parameters_from_spec", "retry_after_seconds"]

_PLACEHOLDER_KEY = "sk-no-key-required"
DEFAULT_TIMEOUT = 60.0
TOP_LOGPROBS = 20


def _parse_spec(spec: str) -> tuple[str, str, str | None]:
    """-> (prefix, model, base_url)."""
    prefix, rest = split_spec(spec)
    if prefix == "openai":
        return prefix, rest.strip(), None
    if "#" not in rest:
        raise ModelSpecError(
            f"model spec {spec!r}: expected 'openai-compatible:BASE_URL#MODEL', "
            "e.g. 'openai-compatible:http://127.0.0.1:8000/v1#llama-3.1-8b'"
        )
    base_url, model = rest.rsplit("#", 1)
    if not base_url.startswith(("http://", "https://")) or not model.strip():
        raise ModelSpecError(
            f"model spec {spec!r}: BASE_URL must start with http:// or https:// and MODEL must not be empty "
            "(e.g. 'openai-compatible:http://127.0.0.1:8000/v1#llama-3.1-8b')"
        )
    return prefix, model.strip(), base_url


def parameters_from_spec(
    spec: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    api_key_env: str = "OPENAI_API_KEY",
    max_tokens_param: str | None = None,
    top_logprobs: int = TOP_LOGPROBS,
    **_: Any,
) -> dict[str, Any]:
    """Backend parameters (no secrets) for an ``openai``/``openai-compatible`` spec."""
    prefix, model, base_url = _parse_spec(spec)
    return {
        "backend": prefix,
        "model": model,
        "base_url": base_url or "https://api.openai.com/v1",
        "timeout_s": float(timeout),
        "api_key_env": api_key_env,
        "max_tokens_param": max_tokens_param or ("max_completion_tokens" if prefix == "openai" else "max_tokens"),
        "top_logprobs": int(top_logprobs),
        "max_retries": 0,
    }


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (delta-seconds or HTTP date), or None."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
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


def map_sdk_error(exc: BaseException, where: str, *, sdk: Any) -> BackendError:
    """Translate an ``openai`` or ``anthropic`` SDK exception (same class names in both) to our errors."""
    if isinstance(exc, sdk.APITimeoutError):
        return TransientBackendError(f"{where}: request timed out ({exc})")
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f": {cause}" if cause else ""
        return TransientBackendError(f"{where}: cannot connect to the server ({exc}{detail})")
    if isinstance(exc, sdk.APIStatusError):
        status = int(exc.status_code)
        headers = getattr(exc.response, "headers", None)
        message = _short(str(getattr(exc, "message", exc)))
        if status in (408, 409, 429) or status >= 500:
            return TransientBackendError(
                f"{where}: HTTP {status} ({message})", retry_after=retry_after_seconds(headers), status=status
            )
        hint = ""
        if status == 401:
            hint = " - check the API key in the environment"
        elif status == 404:
            hint = " - check the model name and base URL"
        return BackendError(f"{where}: HTTP {status} ({message}){hint}")
    if isinstance(exc, (getattr(sdk, "APIResponseValidationError", ()), ValueError)):
        return TransientBackendError(f"{where}: malformed response body ({_short(str(exc))})", status=200)
    return BackendError(f"{where}: {type(exc).__name__}: {_short(str(exc))}")


def _short(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


class OpenAIBackend:
    """Chat-completions backend for OpenAI and OpenAI-compatible servers.

    Parameters
    ----------
    spec
        ``openai:MODEL`` or ``openai-compatible:BASE_URL#MODEL``.
    timeout
        Per-request timeout in seconds (default 60).
    api_key_env
        Environment variable holding the key (default ``OPENAI_API_KEY``).
    max_tokens_param
        ``"max_completion_tokens"`` (default for ``openai:``) or
        ``"max_tokens"`` (default for ``openai-compatible:``, which local
        servers understand).
    top_logprobs
        Alternatives per position in logprobs mode (default 20, OpenAI's maximum).
    http_client
        Optional ``httpx.AsyncClient`` handed to the SDK (tests, proxies).
    """

    capabilities = frozenset({"logprobs", "generate"})

    def __init__(
        self,
        spec: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        api_key_env: str = "OPENAI_API_KEY",
        max_tokens_param: str | None = None,
        top_logprobs: int = TOP_LOGPROBS,
        http_client: Any = None,
    ) -> None:
        import openai

        self._sdk = openai
        self.spec = spec
        prefix, self.model, base_url = _parse_spec(spec)
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ConfigurationError(f"{spec}: timeout must be a positive number of seconds, got {timeout!r}")
        if not 1 <= int(top_logprobs) <= 20:
            raise ConfigurationError(f"{spec}: top_logprobs must be between 1 and 20, got {top_logprobs!r}")
        key = os.environ.get(api_key_env) or None
        if key is None and prefix == "openai-compatible":
            key = os.environ.get("PSYCHOML_API_KEY") or None
        if key is None:
            if prefix == "openai":
                raise ConfigurationError(
                    f"model spec {spec!r} needs an API key: set the environment variable {api_key_env}"
                )
            key = _PLACEHOLDER_KEY
        self._parameters = parameters_from_spec(
            spec, timeout=timeout, api_key_env=api_key_env, max_tokens_param=max_tokens_param, top_logprobs=top_logprobs
        )
        self._max_tokens_param = self._parameters["max_tokens_param"]
        self._top_logprobs = int(top_logprobs)
        kwargs: dict[str, Any] = {"api_key": key, "timeout": float(timeout), "max_retries": 0}
        if base_url is not None:
            kwargs["base_url"] = base_url
        if http_client is not None:
            kwargs["http_client"] = http_client
        self._client = openai.AsyncOpenAI(**kwargs)

    @property
    def parameters(self) -> Mapping[str, Any]:
        return dict(self._parameters)

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.spec!r})"

    async def aclose(self) -> None:
        await self._client.close()

    def _where(self) -> str:
        return f"{self.spec}"

    async def answer(self, request: Request) -> Answer:
        check_capability(self, request)
        if request.mode == "logprobs" and len(request.item_ids) != 1:
            raise BackendError(
                f"{self.spec}: logprobs mode scores one item per prompt, this request has {len(request.item_ids)} "
                "(use layout 'item', or mode 'generate' for whole-scale prompts)"
            )
        params = dict(request.params)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if request.mode == "logprobs":
            longest = max(len(o.label) for o in request.options)
            max_tokens = int(params.get("max_tokens") or (4 if longest <= 3 else 12))
            body.update(logprobs=True, top_logprobs=self._top_logprobs, temperature=float(params.get("temperature", 0.0)))
        else:
            max_tokens = int(params.get("max_tokens") or (32 * len(request.item_ids) + 32))
            body["temperature"] = float(params.get("temperature", 1.0))
        body[self._max_tokens_param] = max_tokens
        for name in ("seed", "top_p"):
            if params.get(name) is not None:
                body[name] = params[name]
        used = {
            **self._parameters,
            "temperature": body["temperature"],
            "max_tokens": max_tokens,
            **({"seed": body["seed"]} if "seed" in body else {}),
        }
        t0 = time.perf_counter()
        try:
            # The SDK's documented low-level call (``client.post``, same retries, timeouts and typed errors) with
            # the body as built here and the reply read as plain JSON: re-validating the request against the
            # typed parameters and building typed reply objects cost the client more CPU per answer than
            # everything else psychoml does with it.
            completion = await self._client.post("/chat/completions", body=body, cast_to=object)
        except self._sdk.OpenAIError as exc:
            raise map_sdk_error(exc, self._where(), sdk=self._sdk) from exc
        except ValueError as exc:  # a body the SDK cannot decode as JSON
            raise TransientBackendError(f"{self._where()}: malformed response body ({_short(str(exc))})", status=200) from exc
        latency = time.perf_counter() - t0
        if not isinstance(completion, dict):
            raise TransientBackendError(f"{self._where()}: malformed response body (not a JSON object)", status=200)
        choice, text = self._first_choice(completion)
        usage = completion.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        tokens_in = usage.get("prompt_tokens") if isinstance(usage.get("prompt_tokens"), int) else None
        tokens_out = usage.get("completion_tokens") if isinstance(usage.get("completion_tokens"), int) else None
        fingerprint = completion.get("system_fingerprint")
        if fingerprint:
            used["system_fingerprint"] = fingerprint
        served = completion.get("model")
        if isinstance(served, str) and served:
            used["served_model"] = served
        if request.mode == "generate":
            return answer_from_text(
                request, text, backend=used, tokens_in=tokens_in, tokens_out=tokens_out, latency_s=latency
            )
        positions = self._positions(choice)
        dist = option_distribution_from_top_logprobs(positions, request.options)
        item = request.item_ids[0]
        return answer_from_distributions(
            request,
            {item: dist.probabilities},
            {item: dist.mass_outside},
            raw=text,
            backend=used,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_s=latency,
        )

    def _first_choice(self, completion: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
        choices = completion.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise TransientBackendError(f"{self._where()}: malformed response body (no choices)", status=200)
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            raise TransientBackendError(f"{self._where()}: malformed response body (choice without message)", status=200)
        text = message.get("content")
        if text is not None and not isinstance(text, str):
            raise TransientBackendError(f"{self._where()}: malformed response body (message content is not text)", status=200)
        refusal = message.get("refusal")
        if text is None and isinstance(refusal, str):
            text = refusal
        return choice, text

    def _positions(self, choice: Mapping[str, Any]) -> list[TokenLogprob]:
        logprobs = choice.get("logprobs")
        content = logprobs.get("content") if isinstance(logprobs, dict) else None
        if not content:
            raise TransientBackendError(
                f"{self._where()}: the response carries no logprobs (malformed body, or a server without logprobs "
                "support: use mode 'generate' for it)",
                status=200,
            )
        out = []
        try:
            for pos in content:
                top = tuple((str(t["token"]), float(t["logprob"])) for t in (pos.get("top_logprobs") or ()))
                lp = float(pos["logprob"])
                if not isinstance(pos["token"], str) or math.isnan(lp) or any(math.isnan(v) for _, v in top):
                    raise TypeError("token or logprob of the wrong type")
                out.append(TokenLogprob(pos["token"], lp, top))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise TransientBackendError(
                f"{self._where()}: malformed response body (unreadable logprobs: {exc})", status=200
            ) from exc
        return out


def from_spec(spec: str, **options: Any) -> OpenAIBackend:
    check_options(spec, options, OpenAIBackend)
    return OpenAIBackend(spec, **options)
