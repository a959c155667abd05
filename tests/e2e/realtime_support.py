"""WebSocket helpers for the realtime tests (the `websockets` asyncio client).

Sync pytest tests run an async scenario with `run(scenario())`. Inside it, a `Sockets` pool opens
the connections (`chat`, `user_channel`) and closes whatever is still open at the end. Every
receive has a timeout, so a missing event fails fast with what did arrive instead of hanging.
"""
from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State

from e2e_support import client_ip

RECV_TIMEOUT_S = 5
SCENARIO_TIMEOUT_S = 90
# Origins allowed by the default ALLOWED_ORIGINS; the servers under test listen elsewhere.
ALLOWED_ORIGIN = "http://localhost:8787"


def run(coro, timeout: float = SCENARIO_TIMEOUT_S):
    """Run an async scenario from a sync test, with an overall time limit."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def close_code(exc: ConnectionClosed) -> int | None:
    """The code of the close frame the server sent, None when the connection just dropped."""
    return exc.rcvd.code if exc.rcvd is not None else None


def user_id_of(value) -> str:
    """A user named by id, or by an object with `id` (`author`, presence `user`)."""
    if isinstance(value, dict):
        return value["id"]
    return value


async def _open(url: str, *, origin: str | None, headers: dict | None) -> ClientConnection:
    merged = {"CF-Connecting-IP": client_ip(), **(headers or {})}
    return await connect(url, origin=origin, additional_headers=merged, proxy=None,
                         open_timeout=10, close_timeout=2)


async def refusal(url: str, *, origin: str | None = None, headers: dict | None = None):
    """The HTTP response that refused the handshake (`.status_code`, `.body`); fails if the
    server accepted the WebSocket instead."""
    try:
        ws = await _open(url, origin=origin, headers=headers)
    except InvalidStatus as exc:
        return exc.response
    await ws.close()
    raise AssertionError(f"{url} (Origin {origin!r}) was accepted, expected a refusal")


def problem_code(response) -> str | None:
    """The `code` of a refusal's problem body, if it has one."""
    try:
        return json.loads(response.body or b"{}").get("code")
    except (ValueError, AttributeError):
        return None


class Socket:
    """One open WebSocket speaking JSON text frames.

    `received` keeps every event in arrival order; `take(type)` hands out the first event of that
    type not taken yet, reading (and keeping) whatever comes before it.
    """

    def __init__(self, ws: ClientConnection, label: str):
        self.ws = ws
        self.label = label
        self.received: list[dict] = []
        self._inbox: list[dict] = []
        self.closed: ConnectionClosed | None = None

    def __repr__(self) -> str:
        return f"<Socket {self.label}>"

    def _trail(self) -> str:
        return f"{self.label} received so far: {self.received[-20:]}"

    async def send(self, frame) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def _read(self, timeout: float) -> dict:
        if self.closed is not None:
            raise AssertionError(f"{self.label} is closed (code {close_code(self.closed)}); {self._trail()}")
        try:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
        except TimeoutError:
            raise AssertionError(f"{self.label}: nothing within {timeout:.1f}s; {self._trail()}") from None
        except ConnectionClosed as exc:
            self.closed = exc
            raise AssertionError(f"{self.label} closed (code {close_code(exc)}) while waiting; "
                                 f"{self._trail()}") from None
        try:
            event = json.loads(raw)
        except ValueError:
            raise AssertionError(f"{self.label}: a frame that is not JSON: {raw!r}") from None
        assert isinstance(event, dict) and "type" in event, f"{self.label}: a frame without type: {raw!r}"
        self.received.append(event)
        return event

    async def first(self, timeout: float = RECV_TIMEOUT_S) -> dict:
        """The very next event (nothing may be pending)."""
        assert not self._inbox, f"{self.label}: events pending before the first one: {self._inbox}"
        return await self._read(timeout)

    async def take(self, *types: str, timeout: float = RECV_TIMEOUT_S) -> dict:
        """The first not-yet-taken event whose type is one of `types`."""
        for i, event in enumerate(self._inbox):
            if event["type"] in types:
                return self._inbox.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.label}: no {types} within {timeout}s; {self._trail()}")
            try:
                event = await self._read(remaining)
            except AssertionError as exc:
                raise AssertionError(f"waiting for {types}: {exc}") from None
            if event["type"] in types:
                return event
            self._inbox.append(event)

    async def take_n(self, type_: str, n: int, timeout: float = RECV_TIMEOUT_S) -> list[dict]:
        return [await self.take(type_, timeout=timeout) for _ in range(n)]

    async def request(self, frame, reply_types: tuple[str, ...] = ("error",),
                      timeout: float = RECV_TIMEOUT_S) -> dict:
        await self.send(frame)
        return await self.take(*reply_types, timeout=timeout)

    async def sync(self) -> None:
        """A ping answered by a pong: every frame sent before it has been handled."""
        await self.request({"type": "ping"}, ("pong",))

    async def expect_close(self, timeout: float = RECV_TIMEOUT_S) -> int | None:
        """Read (and keep) events until the server closes; the close code."""
        deadline = time.monotonic() + timeout
        while self.closed is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.label}: still open after {timeout}s; {self._trail()}")
            try:
                raw = await asyncio.wait_for(self.ws.recv(), remaining)
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                self.closed = exc
                break
            event = json.loads(raw)
            self.received.append(event)
            self._inbox.append(event)
        return close_code(self.closed)

    async def close_frame(self, timeout: float = RECV_TIMEOUT_S) -> int:
        """Read (and keep) events until the server's close frame arrives; its code. Unlike
        `expect_close` this does not wait for the TCP connection to end: under local workerd a
        hibernatable socket's connection lingers after its close frame until the client's
        close timeout, and the close frame is what the client acts on."""
        deadline = time.monotonic() + timeout
        while True:
            rcvd = self.ws.protocol.close_rcvd
            if rcvd is not None:
                await self._drain()
                return rcvd.code
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.label}: no close frame within {timeout}s; {self._trail()}")
            try:
                raw = await asyncio.wait_for(self.ws.recv(), min(remaining, 0.05))
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                self.closed = exc
                if exc.rcvd is None:
                    raise AssertionError(f"{self.label}: dropped without a close frame") from None
                return exc.rcvd.code
            event = json.loads(raw)
            self.received.append(event)
            self._inbox.append(event)

    async def _drain(self) -> None:
        """Keep the events that arrived before the close frame."""
        while True:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), 0.05)
            except (TimeoutError, ConnectionClosed):
                return
            event = json.loads(raw)
            self.received.append(event)
            self._inbox.append(event)

    async def expect_quiet_and_open(self, seconds: float) -> None:
        """Nothing arrives for `seconds` and the connection is still open."""
        try:
            raw = await asyncio.wait_for(self.ws.recv(), seconds)
        except TimeoutError:
            pass
        except ConnectionClosed as exc:
            raise AssertionError(f"{self.label} was closed (code {close_code(exc)}); "
                                 f"{self._trail()}") from None
        else:
            raise AssertionError(f"{self.label}: unexpected frame {raw!r}; {self._trail()}")
        assert self.ws.state is State.OPEN, f"{self.label}: state {self.ws.state}"

    async def stays_open(self, seconds: float) -> None:
        """The connection is still open after `seconds` (events meanwhile are kept)."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), remaining)
            except TimeoutError:
                break
            except ConnectionClosed as exc:
                self.closed = exc
                raise AssertionError(f"{self.label} was closed (code {close_code(exc)}); "
                                     f"{self._trail()}") from None
            event = json.loads(raw)
            self.received.append(event)
            self._inbox.append(event)
        assert self.ws.state is State.OPEN, f"{self.label}: state {self.ws.state}"

    def pending(self, type_: str) -> list[dict]:
        """Events of `type_` received and not taken yet."""
        return [e for e in self._inbox if e["type"] == type_]


class Sockets:
    """Opens sockets for a scenario and closes them all when it ends (`async with Sockets(app)`)."""

    def __init__(self, app):
        self.app = app
        self._open: list[Socket] = []

    async def __aenter__(self) -> "Sockets":
        return self

    async def __aexit__(self, *exc_info) -> None:
        await asyncio.gather(*(s.ws.close() for s in self._open), return_exceptions=True)

    async def ticket(self, access: str) -> str:
        return await asyncio.to_thread(self.app.new_ticket, access)

    async def open(self, url: str, label: str, *, origin: str | None = None) -> Socket:
        socket = Socket(await _open(url, origin=origin, headers=None), label)
        self._open.append(socket)
        return socket

    async def chat(self, access: str, stream_id: str, label: str, *,
                   origin: str | None = None) -> tuple[Socket, list[dict]]:
        """Join a stream's chat with a fresh ticket: (socket, the chat.history messages)."""
        url = self.app.ws_url(f"/v1/streams/{stream_id}/chat", await self.ticket(access))
        socket = await self.open(url, label, origin=origin)
        history = await socket.first()
        assert history["type"] == "chat.history", f"{label}: first event {history}"
        assert isinstance(history["messages"], list), history
        return socket, history["messages"]

    async def user_channel(self, access: str, label: str) -> Socket:
        """The caller's own event channel (`/v1/realtime/me`) with a fresh ticket."""
        url = self.app.ws_url("/v1/realtime/me", await self.ticket(access))
        return await self.open(url, label)

    async def http(self, fn, *args, **kwargs):
        """A blocking App call, off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)


# ---------------------------------------------------------------- HTTP set-up shared by the tests

STREAM_FIELDS = {"id", "owner_id", "title", "description", "status", "created_at", "updated_at", "ended_at"}
TIP_FIELDS = {"id", "stream_id", "from_user_id", "to_user_id", "amount", "message", "created_at"}
CREDIT_ENTRY_FIELDS = {"id", "kind", "amount", "ref_id", "created_at"}
CREDIT_KINDS = {"grant", "tip_sent", "tip_received", "job_charge", "job_refund"}


def new_user(app, name: str) -> dict:
    """A fresh verified user, logged in: the TokenResponse (`access_token`, `session_id`, `user`)."""
    _email, _password, login = app.create_verified_user(name=name)
    return login


def new_users(app, *names: str) -> list[dict]:
    """One fresh user per name (see `new_user`), made side by side: each waits for its mail."""
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        return list(pool.map(lambda name: new_user(app, name), names))


def live_stream(app, owner: dict, title: str = "Live now", **fields) -> dict:
    resp = app.create_stream(owner["access_token"], {"title": title, **fields})
    assert resp.status_code == 201, f"create stream: {resp.status_code} {resp.text[:300]}"
    return resp.json()


def fund(app, user: dict, amount: int) -> int:
    """Grant `amount` dev credits to `user`; the balance after."""
    resp = app.grant_credits(user["access_token"], amount)
    assert resp.status_code == 201, f"dev credits: {resp.status_code} {resp.text[:300]}"
    return resp.json()["balance"]
