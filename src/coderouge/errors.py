"""One exception tree for all of coderouge.

CoderougeError
├── UsageError            bad input from the user: unknown model, missing key, bad file, bad option
│   ├── UnknownModelError
│   ├── MissingKeyError
│   ├── MissingPackageError
│   ├── TaskFileError      (names the file and the line)
│   ├── CheckSpecError     an invalid answer-check spec (also a ValueError); task files wrap it in TaskFileError
│   ├── DataNotFoundError  (says what to put where)
│   ├── BattleLogError     a battle log that is not valid clean_battle JSON (names the file, record, field)
│   ├── RatingsError       battles that cannot be rated as given (also a ValueError)
│   │   ├── TooFewModelsError
│   │   ├── NoBattlesError
│   │   ├── SelfBattleError
│   │   ├── BadBattleError           an unknown winner or model, a bad outcome, columns that do not line up
│   │   ├── DisconnectedModelsError  groups of models that never met
│   │   └── UnboundedRatingsError    no finite maximum-likelihood ratings
│   ├── StoreOpenError     the store cannot be opened: unreachable, bad credentials, not a coderouge
│   │                      store, written by a newer coderouge (nothing is written to it)
│   └── SandboxUnavailableError  no operating-system sandbox for model-written code here
├── GatewayError           the gateway's answer to a bad or refused request (HTTP status, OpenAI's shape)
├── StoreError             the store could not be written or read during a run: the run stops
└── ProviderError          a call to a model failed; carries status, retryable, retry_after
    ├── RateLimitError       429: retryable, honours Retry-After
    ├── ServerError          5xx / overloaded: retryable
    ├── ProviderTimeout      no answer in time: retryable
    ├── ProviderConnectionError  could not connect: retryable
    ├── StreamCutError       the stream ended before it finished: retryable
    ├── AuthenticationError  401/403: not retryable
    ├── BadRequestError      400/404/422: not retryable
    └── UnsupportedError     the provider cannot do what was asked (e.g. images): not retryable

Vendor SDK exceptions are translated into this tree once, in each adapter; nothing
else looks at vendor errors.
"""

from __future__ import annotations

import os


class CoderougeError(Exception):
    """Base of every error coderouge raises on purpose."""


class UsageError(CoderougeError):
    """The user asked for something that cannot be done as asked. Shown as one line."""


class UnknownModelError(UsageError):
    pass


class MissingKeyError(UsageError):
    pass


class MissingPackageError(UsageError):
    pass


class TaskFileError(UsageError):
    def __init__(self, path: str, line: int | None, problem: str):
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")


class CheckSpecError(UsageError, ValueError):
    """An invalid check spec; the message names the offending field."""


class DataNotFoundError(UsageError):
    pass


class BattleLogError(UsageError, ValueError):
    """A battle log that is not valid clean_battle JSON; ``record`` is 1-based, ``field`` may be None."""

    def __init__(self, path: str | os.PathLike[str], record: int | None, field: str | None, problem: str):
        self.path, self.record, self.field, self.problem = str(path), record, field, problem
        where = [self.path] + ([f"record {record}"] if record is not None else [])
        where += [f"field {field!r}"] if field is not None else []
        super().__init__(f"{': '.join(where)}: {problem}")


class RatingsError(UsageError, ValueError):
    """Battles that cannot be rated as given."""


class TooFewModelsError(RatingsError):
    pass


class NoBattlesError(RatingsError):
    pass


class SelfBattleError(RatingsError):
    pass


class BadBattleError(RatingsError):
    """An unknown winner or model, an outcome other than 1, 0.5 or 0, or arrays that do not line up."""


class DisconnectedModelsError(RatingsError):
    """Groups of models that never met, even through other models: ratings across groups are not comparable."""

    def __init__(self, components: list[list[str]]):
        self.components = components
        groups = " | ".join("{" + ", ".join(c) + "}" for c in components)
        super().__init__(f"the models fall into {len(components)} groups that never met, directly or through "
                         f"other models, so their ratings are not comparable: {groups}; add battles between them")


class UnboundedRatingsError(RatingsError):
    """No finite maximum-likelihood ratings: some models never lost (and some never won) against the rest."""

    def __init__(self, never_lost: list[str], never_won: list[str]):
        self.never_lost, self.never_won = never_lost, never_won
        super().__init__(f"no finite ratings exist: {{{', '.join(never_lost)}}} never lost or tied to a model outside "
                         f"that group and {{{', '.join(never_won)}}} never won or tied against one, so maximum "
                         "likelihood pushes them infinitely far apart; add battles, or pass reg > 0 (a ridge)")


class StoreOpenError(UsageError):
    """The store named by --store / CODEROUGE_STORE cannot be used; nothing was written to it."""


class SandboxUnavailableError(UsageError):
    """No operating-system sandbox works on this machine, and the unsafe fallback was not allowed."""


class GatewayError(CoderougeError):
    """An error the gateway answers in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code
        self.headers = dict(headers or {})


class StoreError(CoderougeError):
    """A read or write of the store failed mid-run (disk full, read-only file, lost connection).
    The run stops: a result that was not stored is never reported as done."""


class ProviderError(CoderougeError):
    """A model call failed. `retryable` says whether trying again may help, `retry_after` after how long."""

    retryable_default = False
    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.retryable = self.retryable_default if retryable is None else retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status else ""
        who = f"{self.provider}: " if self.provider else ""
        return f"{who}{self.kind}{status}: {self.message}"


class RateLimitError(ProviderError):
    retryable_default = True
    kind = "rate_limited"


class ServerError(ProviderError):
    retryable_default = True
    kind = "server_error"


class ProviderTimeout(ProviderError):
    retryable_default = True
    kind = "timeout"


class ProviderConnectionError(ProviderError):
    retryable_default = True
    kind = "connection_error"


class StreamCutError(ProviderError):
    retryable_default = True
    kind = "stream_cut"


class AuthenticationError(ProviderError):
    kind = "authentication"


class BadRequestError(ProviderError):
    kind = "bad_request"


class UnsupportedError(ProviderError):
    kind = "unsupported"


def error_for_status(status: int | None, message: str, *, provider: str = "", retry_after: float | None = None) -> ProviderError:
    """Map an HTTP status to the right ProviderError subclass."""
    if status == 429:
        return RateLimitError(message, provider=provider, status=status, retry_after=retry_after)
    if status in (401, 403):
        return AuthenticationError(message, provider=provider, status=status)
    if status == 408:
        return ProviderTimeout(message, provider=provider, status=status, retry_after=retry_after)
    if status is not None and (status >= 500 or status == 529):
        return ServerError(message, provider=provider, status=status, retry_after=retry_after)
    if status is not None and 400 <= status < 500:
        return BadRequestError(message, provider=provider, status=status)
    return ProviderError(message, provider=provider, status=status, retry_after=retry_after)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After / retry-after-ms header value (seconds or HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime
    from datetime import datetime, timezone

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
