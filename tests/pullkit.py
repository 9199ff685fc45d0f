"""Real HTTP servers on 127.0.0.1 for pull tests, and helpers to run a pull in-process.

``ChatServer`` is a small OpenAI-compatible chat-completions endpoint whose answers
are scripted per model; ``FileServer`` serves files with ETag and Last-Modified and
answers conditional requests with 304. Both record every request they get.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flask import Flask

from service import db
from service.models import PullRun
from service.projects import sources
from service.pull import context, runs, worker

# Short limits keep failing tests quick; tests that need more say so.
FAST = {"timeout": 2.0, "retries": 2, "backoff": 0.01, "max_backoff": 0.05}


class _Server:
    handler: type[BaseHTTPRequestHandler]

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        # Set at close, so handlers told to hang let go of their threads.
        self.release = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.httpd.owner = self  # type: ignore[attr-defined]
        # A short poll makes shutdown() quick (it waits for the loop to notice).
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Any:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append({**entry, "at": time.monotonic()})


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    @property
    def owner(self) -> Any:
        return self.server.owner  # type: ignore[attr-defined]

    def send_body(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = {"Content-Length": str(len(body)), **(headers or {})}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def act(self, behaviour: Any, ok: Any) -> None:
        """Play one scripted behaviour; ``ok`` answers normally."""
        kind, *args = behaviour if isinstance(behaviour, tuple) else (behaviour,)
        try:
            if kind == "ok":
                ok(*args)
            elif kind == "status":
                code, headers, body = (list(args) + [{}, b'{"error": "scripted"}'])[:3]
                self.send_body(code, body, headers)
            elif kind == "hang":
                self.owner.release.wait(args[0] if args else 10)
            elif kind == "cut":
                # Promise a longer body than is sent, then close: a partial response.
                self.send_response(200)
                self.send_header("Content-Length", "5000")
                self.end_headers()
                self.wfile.write(b'{"choices": [{"message": {"content": "part')
                self.wfile.flush()
                self.close_connection = True
            elif kind == "raw":
                self.send_body(200, args[0], {"Content-Type": "application/json"})
            elif kind == "delay":
                time.sleep(args[0])
                ok()
            else:
                raise ValueError(f"unknown behaviour {kind!r}")
        except (BrokenPipeError, ConnectionResetError):
            pass


class ChatServer(_Server):
    """An OpenAI-compatible endpoint: POST /v1/chat/completions, scripted per model.

    ``script[model]`` is a queue of behaviours used one per request ("ok" when
    empty): "ok", ("status", code, headers, body), ("hang", seconds), "cut",
    ("raw", bytes), ("delay", seconds), ("finish", reason), ("content", text).
    """

    def __init__(self) -> None:
        self.script: dict[str, deque[Any]] = defaultdict(deque)
        self.in_flight = 0
        self.max_in_flight = 0
        super().__init__()

    def then(self, model: str, *behaviours: Any) -> ChatServer:
        self.script[model].extend(behaviours)
        return self

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"

    class handler(_Handler):  # noqa: N801
        def do_POST(self) -> None:
            owner: ChatServer = self.owner
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length))
            model = body.get("model", "")
            owner.record(
                {"path": self.path, "model": model, "body": body, "headers": dict(self.headers)}
            )
            with owner.lock:
                queue = owner.script[model]
                behaviour = queue.popleft() if queue else "ok"
                owner.in_flight += 1
                owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
            self.counted = True
            try:
                if self.path != "/v1/chat/completions":
                    behaviour = ("status", 404, {}, b'{"error": "no such path"}')
                kind = behaviour[0] if isinstance(behaviour, tuple) else behaviour
                if kind in ("finish", "content"):
                    self.reply(body, **{kind: behaviour[1]})
                else:
                    self.act(behaviour, lambda: self.reply(body))
            finally:
                self._done()

        def send_response(self, code: int, message: str | None = None) -> None:
            # A call ends for the client when the answer starts, not when this thread
            # finishes: the client may send its next call before then.
            self._done()
            super().send_response(code, message)

        def _done(self) -> None:
            if getattr(self, "counted", False):
                self.counted = False
                with self.owner.lock:
                    self.owner.in_flight -= 1

        def reply(
            self, body: dict[str, Any], finish: str = "stop", content: str | None = None
        ) -> None:
            asked = body["messages"][-1]["content"]
            text = content if content is not None else f"{body['model']} answers: {asked}"
            answer = {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": f"{body['model']}-served",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": finish,
                    }
                ],
                "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
            }
            self.send_body(200, json.dumps(answer).encode(), {"Content-Type": "application/json"})


class FileServer(_Server):
    """Serve ``files[path]`` with ETag/Last-Modified validators and conditional GETs.

    ``script[path]`` queues behaviours as for ChatServer; ``etag`` and
    ``last_modified`` turn the validators off; ``encode_gzip`` sends the body with
    Content-Encoding: gzip.
    """

    LAST_MODIFIED = "Sat, 28 Nov 2026 10:00:00 GMT"

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.script: dict[str, deque[Any]] = defaultdict(deque)
        self.etag = True
        self.last_modified = True
        self.encode_gzip = False
        super().__init__()

    def bodies_sent(self, path: str) -> int:
        """Count the full (200) answers given for ``path``."""
        return sum(1 for r in self.requests if r["path"] == path and r["status"] == 200)

    class handler(_Handler):  # noqa: N801
        def do_GET(self) -> None:
            owner: FileServer = self.owner
            with owner.lock:
                queue = owner.script[self.path]
                behaviour = queue.popleft() if queue else "ok"
            status = (
                behaviour[1] if isinstance(behaviour, tuple) and behaviour[0] == "status" else 0
            )
            entry = {"path": self.path, "headers": dict(self.headers), "status": status}
            if behaviour != "ok":
                owner.record(entry)
                self.act(behaviour, self.serve)
                return
            owner.record({**entry, "status": self.serve()})

        def serve(self) -> int:
            owner: FileServer = self.owner
            data = owner.files.get(self.path)
            if data is None:
                self.send_body(404, b"not found")
                return 404
            tag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
            headers = {"Content-Type": "application/x-ndjson"}
            if owner.etag:
                headers["ETag"] = tag
            if owner.last_modified:
                headers["Last-Modified"] = owner.LAST_MODIFIED
            fresh = (owner.etag and self.headers.get("If-None-Match") == tag) or (
                not owner.etag
                and owner.last_modified
                and self.headers.get("If-Modified-Since") == owner.LAST_MODIFIED
            )
            if fresh:
                self.send_response(304)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                return 304
            if owner.encode_gzip:
                data = gzip.compress(data)
                headers["Content-Encoding"] = "gzip"
            self.send_body(200, data, headers)
            return 200


def closed_port() -> int:
    """Return a loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    """Encode rows as JSON Lines."""
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def pull_now(app: Flask, name: str, mode: str = "pull") -> PullRun:
    """Claim and run a pull of source ``name`` in this process, as `rankroom pull` does."""
    ctx = context.from_config(engine=db.engine_of(app), config=app.config)
    with app.app_context(), db.write_session() as s:
        source = sources.get_source(session=s, name=name)
        run = worker.claim_source(session=s, source=source, worker_id=ctx.worker_id, mode=mode)
    return runs.execute(ctx, run.id)


def add_source(app: Flask, **data: Any) -> Any:
    """Create a source through the domain function, committed."""
    with app.app_context(), db.write_session() as s:
        return sources.create_source(session=s, data=data)
