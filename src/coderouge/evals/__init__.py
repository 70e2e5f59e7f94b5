"""Evaluation tasks: `get_task(name)` gives a Task; `evaluate()` runs one model on one task."""

from .task_types import GenItem, MCItem, Task
from .tasks import get_task, load_task_file, task_names

__all__ = ["GenItem", "MCItem", "Task", "get_task", "load_task_file", "task_names"]
