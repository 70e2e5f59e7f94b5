"""Loopback HTTP servers that speak the OpenAI, Anthropic and Gemini wire formats.

Standard library only. Each server listens on 127.0.0.1 (port 0), runs in a daemon
thread, records every request it receives (`.requests`: path, headers, JSON body),
and answers from a script of behaviours given by the test, one per request:

    ("ok", "Hello world")                      stream the text (split into words), then the
    ("ok", "Hi", {"input_tokens": 7, ...})     final events; options: input_tokens,
                                               output_tokens, stop (the vendor's stop reason)
    ("status", 429, {"retry-after": "3"})      an error response in the vendor's format,
    ("status", 500)                            with optional extra headers and a third
    ("status", 401, {}, {"message": "..."})    element that overrides body fields
    ("cut",)                                   half the stream, then the socket is closed
                                               mid-body (chunked encoding left unfinished)
    ("truncate", "Hello world")                the text with no final events, closed cleanly
    ("error_event", "overloaded_error", "...") an error inside a 200 stream: Anthropic `event: error`,
                                               OpenAI `data: {"error": …}`
    ("stall", "Hello world", 5.0)              half the stream, then nothing for 5 s, then closed
    ("malformed", "Hello world")               half the stream, then a chunk that is not JSON
    ("tools", [("get_weather", {"city": "Paris"})], {"text": "Let me look."})
                                               tool calls in the vendor's streaming shape (the
                                               arguments in pieces where the vendor streams them),
                                               optionally after some text

When the script is empty the server answers ("ok", "Hello world").
Streams use HTTP/1.1 chunked transfer encoding with `Connection: close`; plain
responses carry a Content-Length.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_INPUT_TOKENS = 1000
DEFAULT_OUTPUT_TOKENS = 500


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or the raw text when it is not JSON


class _CutStream(Exception):
    """Raised inside a handler to drop the connection mid-body."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_HTTPServer"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def do_POST(self) -> None:
        self._handle("POST")

    def do_GET(self) -> None:
        self._handle("GET")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        rec = Recorded(method, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(rec)
            behaviour = owner.script.popleft() if owner.script else ("ok", "Hello world")
        try:
            owner.respond(self, rec, behaviour)
        except _CutStream:
            self.close_connection = True
            try:
                self.wfile.flush()
            except OSError:
                pass
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # --- helpers used by the vendor servers ---
    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def write_chunk(self, text: str) -> None:
        data = text.encode("utf-8")
        self.wfile.write(f"{len(data):x}\r\n".encode("ascii") + data + b"\r\n")
        self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: "VendorServer"


class VendorServer:
    """Base: a scripted loopback server. Subclasses write the vendor's wire format."""

    def __init__(self, *behaviours: tuple) -> None:
        self.script: collections.deque[tuple] = collections.deque(behaviours)
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> "VendorServer":
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "VendorServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push(self, *behaviours: tuple) -> None:
        with self.lock:
            self.script.extend(behaviours)

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    # dispatch
    def respond(self, h: _Handler, rec: Recorded, behaviour: tuple) -> None:
        kind = behaviour[0]
        if kind == "status":
            status = behaviour[1]
            headers = behaviour[2] if len(behaviour) > 2 else {}
            override = behaviour[3] if len(behaviour) > 3 else {}
            h.send_json(status, self.error_body(status, override), headers)
            return
        if kind in ("stall", "malformed"):
            events = self.stream_events(rec, _split(behaviour[1]), {})
            h.start_stream()
            for ev in events[: max(1, len(events) // 2)]:
                h.write_chunk(ev)
            if kind == "stall":
                time.sleep(behaviour[2])
            else:
                h.write_chunk("data: {\"choices\": [{\"delta\": {\"content\": \"oops\"\n\n")
            raise _CutStream()
        if kind == "tools":
            opts = behaviour[2] if len(behaviour) > 2 else {}
            h.start_stream()
            for ev in self.tool_events(rec, behaviour[1], opts):
                h.write_chunk(ev)
            h.end_stream()
            return
        if kind in ("ok", "cut", "truncate"):
            text = behaviour[1] if len(behaviour) > 1 else "Hello world, this is a longer answer"
            opts = behaviour[2] if len(behaviour) > 2 else {}
            pieces = _split(text)
            h.start_stream()
            if kind == "cut":
                events = self.stream_events(rec, pieces, opts)
                for ev in events[: max(1, len(events) // 2)]:
                    h.write_chunk(ev)
                time.sleep(0.01)
                raise _CutStream()
            if kind == "truncate":
                events = self.stream_events(rec, pieces, opts, final=False)
            else:
                events = self.stream_events(rec, pieces, opts)
            for ev in events:
                h.write_chunk(ev)
            h.end_stream()
            return
        self.respond_other(h, rec, behaviour)

    # to override
    def error_body(self, status: int, override: dict) -> Any:
        raise NotImplementedError

    def stream_events(self, rec: Recorded, pieces: list[str], opts: dict, final: bool = True) -> list[str]:
        raise NotImplementedError

    def tool_events(self, rec: Recorded, calls: list[tuple[str, dict]], opts: dict) -> list[str]:
        raise NotImplementedError

    def respond_other(self, h: _Handler, rec: Recorded, behaviour: tuple) -> None:
        raise ValueError(f"unknown behaviour {behaviour!r}")


def _halves(text: str) -> list[str]:
    """A JSON text in two pieces, as vendors stream arguments."""
    mid = len(text) // 2
    return [text[:mid], text[mid:]]


def _split(text: str) -> list[str]:
    """'Hello big world' -> ['Hello', ' big', ' world'] (joins back to the text)."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)] if text else []


def _sse(data: Any, event: str | None = None) -> str:
    payload = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


_STATUS_NAMES = {
    400: ("invalid_request_error", "INVALID_ARGUMENT"),
    401: ("authentication_error", "UNAUTHENTICATED"),
    403: ("permission_error", "PERMISSION_DENIED"),
    404: ("not_found_error", "NOT_FOUND"),
    429: ("rate_limit_error", "RESOURCE_EXHAUSTED"),
    500: ("api_error", "INTERNAL"),
    503: ("api_error", "UNAVAILABLE"),
    529: ("overloaded_error", "UNAVAILABLE"),
}


class OpenAIServer(VendorServer):
    """POST {root}/v1/chat/completions. Use `base_url` (…/v1) with the openai SDK."""

    @property
    def base_url(self) -> str:
        return self.root + "/v1"

    def error_body(self, status: int, override: dict) -> Any:
        etype = _STATUS_NAMES.get(status, ("api_error", ""))[0]
        err = {"message": f"simulated error {status}", "type": etype, "param": None, "code": etype}
        err.update(override)
        return {"error": err}

    def stream_events(self, rec: Recorded, pieces: list[str], opts: dict, final: bool = True) -> list[str]:
        model = (rec.body or {}).get("model", "test-model") if isinstance(rec.body, dict) else "test-model"
        base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
                "system_fingerprint": "fp_test"}
        out = [_sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                           "logprobs": None, "finish_reason": None}]})]
        for p in pieces:
            out.append(_sse({**base, "choices": [{"index": 0, "delta": {"content": p}, "logprobs": None,
                                                   "finish_reason": None}]}))
        if not final:
            return out
        out.append(_sse({**base, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                                               "finish_reason": opts.get("stop", "stop")}]}))
        if opts.get("usage", True):
            inp = opts.get("input_tokens", DEFAULT_INPUT_TOKENS)
            outp = opts.get("output_tokens", DEFAULT_OUTPUT_TOKENS)
            out.append(_sse({**base, "choices": [], "usage": {"prompt_tokens": inp, "completion_tokens": outp,
                                                               "total_tokens": inp + outp}}))
        out.append(_sse("[DONE]"))
        return out

    def tool_events(self, rec: Recorded, calls: list[tuple[str, dict]], opts: dict) -> list[str]:
        model = rec.body.get("model", "test-model") if isinstance(rec.body, dict) else "test-model"
        base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1700000000, "model": model}

        def ev(delta: dict, finish: str | None = None) -> str:
            return _sse({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

        out = [ev({"role": "assistant", "content": opts.get("text")})]
        for i, (name, args) in enumerate(calls):
            out.append(ev({"tool_calls": [{"index": i, "id": f"call_{i}_{name}", "type": "function",
                                           "function": {"name": name, "arguments": ""}}]}))
            for piece in _halves(json.dumps(args)):
                out.append(ev({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
        out.append(ev({}, "tool_calls"))
        out.append(_sse({**base, "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 10,
                                                           "total_tokens": 30}}))
        out.append(_sse("[DONE]"))
        return out


    def respond_other(self, h: _Handler, rec: Recorded, behaviour: tuple) -> None:
        if behaviour[0] == "error_event":  # a 200 stream that carries an error object mid-way
            etype = behaviour[1] if len(behaviour) > 1 else "server_error"
            msg = behaviour[2] if len(behaviour) > 2 else "The server had an error while processing your request."
            h.start_stream()
            for ev in self.stream_events(rec, ["Hel", "lo"], {}, final=False):
                h.write_chunk(ev)
            h.write_chunk(_sse({"error": {"message": msg, "type": etype, "param": None, "code": None}}))
            h.end_stream()
            return
        super().respond_other(h, rec, behaviour)


class AnthropicServer(VendorServer):
    """POST {root}/v1/messages. Use `base_url` (the root, no /v1) with the anthropic SDK."""

    @property
    def base_url(self) -> str:
        return self.root

    def error_body(self, status: int, override: dict) -> Any:
        etype = _STATUS_NAMES.get(status, ("api_error", ""))[0]
        err = {"type": etype, "message": f"simulated error {status}"}
        err.update(override)
        return {"type": "error", "error": err}

    def stream_events(self, rec: Recorded, pieces: list[str], opts: dict, final: bool = True) -> list[str]:
        model = rec.body.get("model", "test-model") if isinstance(rec.body, dict) else "test-model"
        inp = opts.get("input_tokens", DEFAULT_INPUT_TOKENS)
        outp = opts.get("output_tokens", DEFAULT_OUTPUT_TOKENS)
        out = [
            _sse({"type": "message_start", "message": {
                "id": "msg_test", "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": inp, "output_tokens": 1}}}, "message_start"),
            _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                 "content_block_start"),
            _sse({"type": "ping"}, "ping"),
        ]
        for p in pieces:
            out.append(_sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
                            "content_block_delta"))
        if opts.get("error_event"):
            etype, msg = opts["error_event"]
            out.append(_sse({"type": "error", "error": {"type": etype, "message": msg}}, "error"))
            return out
        if not final:
            return out
        out.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        out.append(_sse({"type": "message_delta", "delta": {"stop_reason": opts.get("stop", "end_turn"),
                                                           "stop_sequence": None},
                         "usage": {"output_tokens": outp}}, "message_delta"))
        out.append(_sse({"type": "message_stop"}, "message_stop"))
        return out

    def tool_events(self, rec: Recorded, calls: list[tuple[str, dict]], opts: dict) -> list[str]:
        model = rec.body.get("model", "test-model") if isinstance(rec.body, dict) else "test-model"
        out = [_sse({"type": "message_start", "message": {
            "id": "msg_test", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 20, "output_tokens": 1}}},
            "message_start")]
        index = 0
        if opts.get("text"):
            out.append(_sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                            "content_block_start"))
            out.append(_sse({"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": opts["text"]}}, "content_block_delta"))
            out.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
            index = 1
        for i, (name, args) in enumerate(calls):
            out.append(_sse({"type": "content_block_start", "index": index, "content_block": {
                "type": "tool_use", "id": f"toolu_{i}_{name}", "name": name, "input": {}}}, "content_block_start"))
            for piece in _halves(json.dumps(args)):
                out.append(_sse({"type": "content_block_delta", "index": index,
                                 "delta": {"type": "input_json_delta", "partial_json": piece}}, "content_block_delta"))
            out.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
            index += 1
        out.append(_sse({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                         "usage": {"output_tokens": 10}}, "message_delta"))
        out.append(_sse({"type": "message_stop"}, "message_stop"))
        return out

    def respond_other(self, h: _Handler, rec: Recorded, behaviour: tuple) -> None:
        if behaviour[0] == "error_event":
            etype = behaviour[1] if len(behaviour) > 1 else "overloaded_error"
            msg = behaviour[2] if len(behaviour) > 2 else "Overloaded"
            h.start_stream()
            for ev in self.stream_events(rec, ["Hel", "lo"], {"error_event": (etype, msg)}):
                h.write_chunk(ev)
            h.end_stream()
            return
        super().respond_other(h, rec, behaviour)


class GeminiServer(VendorServer):
    """POST {root}/{api_version}/models/{model}:streamGenerateContent?alt=sse (any api version)."""

    @property
    def base_url(self) -> str:
        return self.root

    def error_body(self, status: int, override: dict) -> Any:
        gstatus = _STATUS_NAMES.get(status, ("", "UNKNOWN"))[1]
        err: dict[str, Any] = {"code": status, "message": f"simulated error {status}", "status": gstatus}
        if "retryDelay" in override:
            err["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                               "retryDelay": override.pop("retryDelay")}]
        err.update(override)
        return {"error": err}

    def stream_events(self, rec: Recorded, pieces: list[str], opts: dict, final: bool = True) -> list[str]:
        inp = opts.get("input_tokens", DEFAULT_INPUT_TOKENS)
        outp = opts.get("output_tokens", DEFAULT_OUTPUT_TOKENS)
        out = []
        for i, p in enumerate(pieces):
            cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": p}]}, "index": 0}
            resp: dict[str, Any] = {"candidates": [cand], "modelVersion": "test", "responseId": "resp-test"}
            last = i == len(pieces) - 1
            if last and final:
                cand["finishReason"] = opts.get("stop", "STOP")
                resp["usageMetadata"] = {"promptTokenCount": inp, "candidatesTokenCount": outp,
                                         "totalTokenCount": inp + outp}
            else:
                resp["usageMetadata"] = {"promptTokenCount": inp, "totalTokenCount": inp}
            out.append(_sse(resp))
        if not pieces and final:
            out.append(_sse({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]},
                                             "finishReason": opts.get("stop", "STOP"), "index": 0}],
                             "usageMetadata": {"promptTokenCount": inp, "candidatesTokenCount": outp,
                                               "totalTokenCount": inp + outp}}))
        return out

    def tool_events(self, rec: Recorded, calls: list[tuple[str, dict]], opts: dict) -> list[str]:
        out = []
        if opts.get("text"):
            out.append(_sse({"candidates": [{"content": {"role": "model", "parts": [{"text": opts["text"]}]},
                                             "index": 0}], "usageMetadata": {"promptTokenCount": 20}}))
        parts = [{"functionCall": {"name": name, "args": args}} for name, args in calls]
        out.append(_sse({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP",
                                         "index": 0}],
                         "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 10, "totalTokenCount": 30}}))
        return out
