"""Model backends behind one small async protocol, chosen by a model spec string.

>>> from psychoml.backends import get_backend
>>> backend = get_backend("local:smollm2")                    # doctest: +SKIP
>>> answer = await backend.answer(request)                    # doctest: +SKIP

Specs: ``openai:MODEL``, ``openai-compatible:BASE_URL#MODEL``,
``anthropic:MODEL``, ``hf:PATH_OR_ID[#gguf=FILE]``, ``local:smollm2`` and
``simulated:SPEC``.  Backend modules (and torch, transformers, the API SDKs)
are imported only when a spec asks for them.
"""

from typing import Any

from psychoml.backends._logprobs import (
    OptionDistribution,
    TokenLogprob,
    exact_sequence_probabilities,
    label_variants,
    normalise_distribution,
    option_distribution_from_top_logprobs,
)
from psychoml.backends._parse import ParsedText, answer_from_text, parse_generated
from psychoml.backends._protocol import Backend, answer_from_distributions, check_capability
from psychoml.backends._registry import (
    backend_parameters,
    get_backend,
    known_prefixes,
    register_backend,
    split_spec,
)

__all__ = [
    "AnthropicBackend",
    "Backend",
    "HFBackend",
    "OpenAIBackend",
    "OptionDistribution",
    "ParsedText",
    "TokenLogprob",
    "answer_from_distributions",
    "answer_from_text",
    "backend_parameters",
    "check_capability",
    "exact_sequence_probabilities",
    "get_backend",
    "known_prefixes",
    "label_variants",
    "normalise_distribution",
    "option_distribution_from_top_logprobs",
    "parse_generated",
    "register_backend",
    "split_spec",
]

# backend classes resolve on first use, so that importing psychoml.backends stays light
_LAZY = {
    "OpenAIBackend": "psychoml.backends.openai_backend",
    "AnthropicBackend": "psychoml.backends.anthropic_backend",
    "HFBackend": "psychoml.backends.hf",
    "SimulatedBackend": "psychoml.backends.simulated",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'psychoml.backends' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
