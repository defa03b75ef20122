"""The one module that imports litellm: `LiteLLMChat` answers ChatRequests through any litellm model.

litellm is imported on first use only, with its network cost-map fetch, telemetry and log output off,
so nothing but the chosen provider is contacted. litellm's own retries and cache are not used:
`max_retries=0`, an explicit timeout, and the retries, the budget and the content cache are here.

The answer's JSON schema goes to the model one way per run (`llm_structured_output`, see
`structured_output_mode`): in `response_format` (json_schema), or once in the system message, with
`response_format` json_object or with nothing. Every answer is validated the same way whatever the mode.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cartridge_bridge.errors import BudgetExceeded, LLMError
from cartridge_bridge.planning.llm.answer_cache import AnswerCache, cache_key, endpoint_of
from cartridge_bridge.planning.llm.backoff import MAX_WAIT_SECONDS, backoff_seconds, retry_after_seconds
from cartridge_bridge.planning.llm.chat import (
    ChatReply,
    ChatRequest,
    LLMSettings,
    StructuredOutput,
    UsageLedger,
)

PLACEHOLDER_KEY = "cartridge-no-key"  # what an OpenAI-compatible local server gets when no key is set
OUTPUT_TOKENS_BOUND = 4096  # what --max-cost assumes an answer may cost at most, in output tokens
_LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
# Where each provider's key lives, for error messages (the value is never read); others: <PROVIDER>_API_KEY.
KEY_VARIABLES = {
    "openai": "OPENAI_API_KEY",
    "text-completion-openai": "OPENAI_API_KEY",
    "azure": "AZURE_API_KEY (with AZURE_API_BASE and AZURE_API_VERSION)",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "vertex_ai": "GOOGLE_APPLICATION_CREDENTIALS",
    "bedrock": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
    "together_ai": "TOGETHERAI_API_KEY",
    "fireworks_ai": "FIREWORKS_AI_API_KEY",
}
# Providers litellm reaches with OpenAI's chat API at the api_base given (a local server, a gateway).
OPENAI_COMPATIBLE = frozenset(
    {"openai", "custom_openai", "openai_like", "hosted_vllm", "lm_studio", "llamafile", "litellm_proxy"}
)
# Where `auto` steps down when an endpoint refuses a response_format.
_WEAKER: dict[StructuredOutput, StructuredOutput] = {"json_schema": "json_object", "json_object": "none"}
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
_KEY_LIKE = re.compile(r"\b(sk|sk-ant|sk-proj|AIza)[-_A-Za-z0-9]{12,}")
_litellm: ModuleType | None = None
_import_lock = threading.Lock()


def load_litellm() -> ModuleType:
    """Import litellm once, offline (local cost map) and quiet (no telemetry, no debug banners)."""
    global _litellm
    with _import_lock:
        if _litellm is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            litellm.telemetry = False
            litellm.suppress_debug_info = True
            litellm.turn_off_message_logging = True
            for name in _LITELLM_LOGGERS:
                logging.getLogger(name).setLevel(logging.CRITICAL)
            _litellm = litellm
        return _litellm


class LiteLLMChat:
    """A ChatModel over litellm with retries, a cost budget and a cache of accepted answers; safe across threads."""

    def __init__(self, settings: LLMSettings, ledger: UsageLedger):
        self.settings = settings
        self.model = settings.model
        self.ledger = ledger
        self._litellm = load_litellm()
        self.provider = _provider_of(self._litellm, settings.model)
        self._lock = threading.Lock()
        self._reserved = 0.0  # estimated cost of the calls in flight, held against --max-cost
        self.mode = structured_output_mode(
            settings.structured_output, self._litellm, settings.model, self.provider, settings.api_base
        )
        self.priced = _in_cost_map(self._litellm, settings.model, self.provider)
        folder = settings.cache_dir
        self._cache = AnswerCache(Path(folder)) if settings.cache and folder else None
        self._endpoint = endpoint_of(settings.api_base)

    def complete(self, request: ChatRequest) -> ChatReply:
        """Answer from the cache, or ask the model within the budget; every reply goes into the ledger."""
        # A re-ask's conversation holds rejected answers: it is never a question whose answer was kept.
        cached = self._cache.read(self._key(request)) if self._cache and not request.reask else None
        if cached is not None:
            reply = ChatReply(text=cached, cost=0.0, cached=True)
            self.ledger.record(request.phase, reply)
            return reply
        estimate = self._reserve(request)
        try:
            reply = self._reply(self._ask(request))
            self.ledger.record(request.phase, reply, request.reask)
        finally:
            with self._lock:
                self._reserved -= estimate
        return reply

    def accepted(self, request: ChatRequest, reply: ChatReply) -> None:
        """Keep an answer the seam accepted, under the question first asked (not when the cache is off)."""
        if self._cache is None or reply.cached:
            return
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs a later run a call
            self._cache.write(self._key(request), self.model, request.schema_name, reply.text)

    def _key(self, request: ChatRequest) -> str:
        return cache_key(self.model, self._endpoint, request)

    # --- the budget ---------------------------------------------------------------------------------

    def _reserve(self, request: ChatRequest) -> float:
        """Hold this call's estimated cost, or raise BudgetExceeded when it would pass --max-cost."""
        limit = self.settings.max_cost
        if limit is None or not self.priced:
            return 0.0  # a model without a price is not limited; the summary says its cost is unknown
        estimate = self._estimate(request)
        with self._lock:
            spent = self.ledger.known_cost()
            if spent + self._reserved + estimate > limit:
                raise BudgetExceeded(
                    f"stopped before the next {request.phase} call to {self.model}: ${spent:.4f} spent so far"
                    f" and ≈${estimate:.4f} more would pass --max-cost ${limit:.4f}"
                )
            self._reserved += estimate
        return estimate

    def _estimate(self, request: ChatRequest) -> float:
        """The prompt's tokens as litellm counts them, plus an answer of OUTPUT_TOKENS_BOUND tokens, priced."""
        litellm = self._litellm
        try:
            prompt = litellm.token_counter(model=self.model, messages=request.messages)
            if request.response_schema is not None:
                prompt += litellm.token_counter(model=self.model, text=json.dumps(request.response_schema))
        except Exception:
            text = json.dumps(request.messages) + json.dumps(request.response_schema)
            prompt = len(text) // 3  # a pessimistic characters-per-token
        try:
            input_cost, output_cost = litellm.cost_per_token(
                model=self.model, prompt_tokens=prompt, completion_tokens=OUTPUT_TOKENS_BOUND
            )
        except Exception:
            return 0.0
        return float(input_cost) + float(output_cost)

    # --- the call ------------------------------------------------------------------------------------

    def _ask(self, request: ChatRequest) -> Any:
        """One answer, the schema sent as the run's mode says; `auto` steps down when the endpoint refuses it."""
        litellm = self._litellm
        try:
            while True:
                with self._lock:
                    mode = self.mode
                try:
                    return self._with_retries(request, self._arguments(request, mode))
                except litellm.BadRequestError as error:
                    if request.response_schema is None or mode == "none" or _overflows_context(error):
                        raise
                    if not _rejects_format(error):
                        raise
                    if self.settings.structured_output != "auto":
                        raise self._refused_mode(mode, error) from None
                    with self._lock:  # litellm's table or the guess was wrong: the rest of the run steps down
                        if self.mode == mode:
                            self.mode = _WEAKER[mode]
        except LLMError:
            raise
        except Exception as error:
            raise self._translate(error, request) from None

    def _refused_mode(self, mode: StructuredOutput, error: Exception) -> LLMError:
        weaker = [_WEAKER[mode]] + ([_WEAKER[_WEAKER[mode]]] if _WEAKER[mode] in _WEAKER else [])
        return LLMError(
            f"{self.model} refused response_format {mode} (HTTP 400: {_provider_message(error)}); set"
            f" llm_structured_output in cartridge.yml (or --llm-structured-output) to {' or '.join(weaker)}"
        )

    def _arguments(self, request: ChatRequest, mode: StructuredOutput) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(message) for message in request.messages],  # litellm may edit what it is given
            "timeout": self.settings.timeout_seconds,
            "max_retries": 0,
        }
        if self.settings.api_base:
            arguments["api_base"] = self.settings.api_base
            if self.provider == "openai" and not os.environ.get("OPENAI_API_KEY"):
                arguments["api_key"] = PLACEHOLDER_KEY  # litellm needs one; a local server ignores it
        schema = request.response_schema
        if schema is None:
            return arguments
        if mode == "json_schema":
            arguments["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": schema, "strict": False},
            }
            return arguments
        arguments["messages"] = _with_schema_instruction(request.messages, request.schema_name, schema)
        if mode == "json_object":
            arguments["response_format"] = {"type": "json_object"}
        return arguments

    def _with_retries(self, request: ChatRequest, arguments: dict[str, Any]) -> Any:
        """Call litellm, retrying 429s, 5xx and dropped connections; other errors go up as they are."""
        retries = self.settings.transport_retries
        last = ""
        for retry in range(retries + 1):
            try:
                return self._litellm.completion(**arguments)
            except Exception as error:
                last = self._transient(error)
                if not last:
                    raise
                if retry == retries:
                    break
                wait = retry_after_seconds(_headers(error))
                if wait is None:
                    wait = backoff_seconds(retry, self.settings.backoff_seconds)
                elif wait > MAX_WAIT_SECONDS:
                    raise LLMError(
                        f"{self.model} is rate limited and asks to wait {wait:.0f} s before the next"
                        f" {request.phase} call; try again later"
                    ) from None
                time.sleep(wait)
        times = "1 retry" if retries == 1 else f"{retries} retries"
        raise LLMError(f"{self.model} still failed after {times} (last: {last})")

    def _transient(self, error: Exception) -> str:
        """How a retryable failure looked (`HTTP 429`, `no connection`), or '' when retrying cannot help."""
        litellm = self._litellm
        if isinstance(error, litellm.Timeout):
            return ""
        status = getattr(error, "status_code", None)
        if isinstance(error, litellm.APIConnectionError) or (
            isinstance(status, int) and status >= 500 and _headers(error) is None
        ):
            return f"no connection to {_public_url(self.settings.api_base) or self.provider}"
        if isinstance(error, litellm.RateLimitError) or (isinstance(status, int) and status >= 500):
            return f"HTTP {status}"
        return ""

    def _reply(self, response: Any) -> ChatReply:
        """The answer's text, its token counts and its cost from litellm's local cost map."""
        choices = getattr(response, "choices", None) or []
        message = getattr(choices[0], "message", None) if choices else None
        text = getattr(message, "content", None) or ""
        usage = getattr(response, "usage", None)
        input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        cost: float | None = None
        if self.priced:
            try:
                cost = float(self._litellm.completion_cost(completion_response=response, model=self.model))
            except Exception:
                cost = None
        return ChatReply(text=text, input_tokens=input_tokens, output_tokens=output_tokens, cost=cost)

    # --- errors --------------------------------------------------------------------------------------

    def _translate(self, error: Exception, request: ChatRequest) -> LLMError:
        """One line a user can act on, naming the model and never a credential."""
        litellm = self._litellm
        model = self.model
        status = getattr(error, "status_code", None)
        said = _provider_message(error)
        if isinstance(error, litellm.Timeout):
            return LLMError(
                f"{model} did not answer the {request.phase} request within {self.settings.timeout_seconds:g} s"
                " (llm_timeout_seconds in cartridge.yml)"
            )
        if isinstance(error, litellm.AuthenticationError):
            variable = KEY_VARIABLES.get(self.provider, f"{self.provider.upper()}_API_KEY")
            first = variable.split()[0]
            state = "is set but was refused" if os.environ.get(first) else "is not set"
            return LLMError(
                f"{model}: authentication failed (HTTP 401); {self.provider} reads its key from {variable},"
                f" which {state}"
            )
        if _overflows_context(error):
            return LLMError(
                f"{model}: the {request.phase} prompt is longer than the model's context window; use a model"
                " with a larger one, or lower context_budget_tokens in cartridge.yml"
            )
        if isinstance(error, litellm.NotFoundError):
            return LLMError(
                f"{model}: the provider does not know this model (HTTP 404: {said}); check the name,"
                " e.g. openai/gpt-4.1 or ollama/qwen2.5-coder"
            )
        if isinstance(status, int):
            return LLMError(f"{model} refused the {request.phase} request (HTTP {status}): {said}")
        return LLMError(f"{model} failed on the {request.phase} request: {type(error).__name__}: {said}")


def _provider_of(litellm: ModuleType, model: str) -> str:
    """The provider litellm routes `model` to; an LLMError (naming the model) when it cannot tell."""
    try:
        return str(litellm.get_llm_provider(model=model)[1])
    except Exception:
        raise LLMError(
            f"unknown model {model!r}: litellm cannot tell its provider; write provider/name,"
            " e.g. openai/gpt-4.1, anthropic/claude-sonnet-4-5 or ollama/qwen2.5-coder"
        ) from None


def structured_output_mode(
    setting: StructuredOutput, litellm: ModuleType, model: str, provider: str, api_base: str | None
) -> StructuredOutput:
    """How the schema goes to this model: the setting, or for `auto` the strongest mode it likely takes.

    `auto` sends the schema in response_format (json_schema) when litellm's table says the model takes it,
    and also to an OpenAI-compatible server at an api_base (vLLM, LM Studio, Ollama's /v1, llama.cpp, a
    gateway), which litellm's table cannot know: those take json_schema and hold the answer to the schema,
    where json_object only makes it JSON (and LM Studio refuses json_object). Other models get the schema in
    the prompt (none), as a hosted provider refuses a parameter it does not know. When an endpoint refuses
    the response_format anyway, `auto` steps down (json_schema, json_object, none) for the rest of the run.
    """
    if setting != "auto":
        return setting
    if _supports_schema(litellm, model) or (api_base and provider in OPENAI_COMPATIBLE):
        return "json_schema"
    return "none"


def _supports_schema(litellm: ModuleType, model: str) -> bool:
    try:
        return bool(litellm.supports_response_schema(model=model))
    except Exception:
        return False


def _in_cost_map(litellm: ModuleType, model: str, provider: str) -> bool:
    """Whether litellm's local cost map prices this model (a local or custom model is not in it)."""
    bare = model.split("/", 1)[1] if model.startswith(f"{provider}/") else model
    known = litellm.model_cost
    return any(name in known for name in (model, bare, f"{provider}/{bare}"))


def _overflows_context(error: Exception) -> bool:
    """Whether an error says the prompt is longer than the model's context (OpenAI's code, or its words)."""
    if type(error).__name__ == "ContextWindowExceededError":
        return True
    body = getattr(error, "body", None)
    if isinstance(body, dict) and body.get("code") == "context_length_exceeded":
        return True
    text = _provider_message(error).lower()
    return "context length" in text or "context window" in text


def _rejects_format(error: Exception) -> bool:
    """Whether a 400 says the provider does not take response_format / json_schema."""
    text = f"{error} {_provider_message(error)}".lower()
    return any(word in text for word in ("response_format", "response format", "json_schema", "json schema"))


def _with_schema_instruction(
    messages: list[dict[str, str]], name: str, schema: dict[str, Any]
) -> list[dict[str, str]]:
    """The messages with the schema stated in the system message (added first when there is none)."""
    instruction = (
        f"Answer with one JSON object and nothing else, following this JSON schema ({name}):\n"
        + json.dumps(schema, separators=(",", ":"))
    )
    if messages and messages[0].get("role") == "system":
        first = {**messages[0], "content": f"{messages[0].get('content', '')}\n\n{instruction}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


def _headers(error: Exception) -> Any:
    """The failed response's headers (httpx.Headers), None when no response came back."""
    headers = getattr(error, "litellm_response_headers", None)
    return headers if headers else None


def _provider_message(error: Exception) -> str:
    """What the provider said, on one line, shortened, with anything key-like blanked."""
    body = getattr(error, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message:
        message = str(getattr(error, "message", "") or error).rsplit(" - ", 1)[-1]
    return _redact(" ".join(message.split()))[:200]


def _redact(text: str) -> str:
    """Blank every secret-looking environment value and anything shaped like an API key."""
    for name, value in os.environ.items():
        if len(value) >= 8 and _SECRET_NAME.search(name) and value in text:
            text = text.replace(value, "***")
    return _KEY_LIKE.sub("***", text)


def _public_url(url: str | None) -> str | None:
    """A URL without user info, query or fragment, fit for a message."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
