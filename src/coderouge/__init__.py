"""coderouge: stress-test, compare and diversify your LLM stack."""

__version__ = "0.1.0"

from .errors import CoderougeError, ProviderError, UsageError  # noqa: E402
from .types import Chunk, Completion, ImagePart, Message, Request, TextPart, Usage  # noqa: E402

__all__ = [
    "__version__",
    "Chunk",
    "Completion",
    "CoderougeError",
    "ImagePart",
    "Message",
    "ProviderError",
    "Request",
    "TextPart",
    "Usage",
    "UsageError",
]
