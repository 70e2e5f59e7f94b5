"""What `coderouge demo` runs: the embedded model (when it is usable here) plus every API model whose
key is set, on the built-in `business` suite and a seeded ARC-Easy sample."""

from __future__ import annotations

from ..errors import DataNotFoundError
from ..providers import api_models_with_keys, provider_status
from .task_types import Task
from .tasks import get_task

LOCAL = "local/gemma-3-270m"
VENDORS = ("openai", "gemini", "anthropic")


def demo_models(requested: list[str] | None = None) -> tuple[list[str], str | None]:
    """(the models to compare, why the embedded model is left out: None when it is in or not wanted)."""
    if requested:
        return list(requested), None
    local = next(s for s in provider_status() if s.provider == "local")
    models = [LOCAL] if local.usable else []
    return models + api_models_with_keys(), None if local.usable else local.detail


def missing_keys() -> list[str]:
    """What to set to add each big vendor that is not usable now ("set OPENAI_API_KEY", …)."""
    return [s.detail.replace("no key: ", "") for s in provider_status() if s.provider in VENDORS and not s.usable]


def demo_tasks(business_limit: int | None, arc_limit: int | None, seed: int = 1234) -> tuple[list[Task], str | None]:
    """(business and the ARC-Easy sample, why ARC-Easy was left out: None when its data is here)."""
    tasks = [get_task("business").sample(business_limit, seed)]
    try:
        tasks.append(get_task("arc_easy").sample(arc_limit, seed))
    except DataNotFoundError as e:
        return tasks, str(e)
    return tasks, None
