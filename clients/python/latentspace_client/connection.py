"""The channel beneath each client: the part of a client that is not one method per RPC.

:class:`Connection` (sync, ``grpc``) and :class:`AsyncConnection` (asyncio, ``grpc.aio``) open the
channel, close it (also as a context manager) and do the I/O of a call: ``_send`` (one request, one
reply), ``_send_stream`` (a request stream, one reply) and ``_export`` (a server stream read as an
:class:`~latentspace_client.calls.ExportStream`). They are written by hand, side by side, because
this is where sync and asyncio gRPC differ beyond ``await``.

The methods above them are written once, in :mod:`.client` on :class:`Connection`;
``scripts/generate_async_client.py`` derives :mod:`.aio` from it on :class:`AsyncConnection`: every
method becomes a coroutine and every call of a client method or of an ``async`` method here is
awaited. So an ``async`` method here must have a sync namesake in :class:`Connection`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc
from grpc import aio

from latentspace_client import calls
from latentspace_client.calls import DEFAULT_ADDRESS, ClientSettings, ExportStream, RequestStream, Rpc
from latentspace_client.errors import translate

__all__ = ["AsyncConnection", "Connection"]

_R = TypeVar("_R")


class Connection(ClientSettings):
    """A blocking channel to a latentspace server; the arguments are described on :class:`~.client.Client`."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        timeout: float | None = 30.0,
        collection: str | None = None,
        api_key: str | None = None,
        tls: bool = False,
        tls_ca: calls.PemFile | None = None,
        tls_client_cert: calls.PemFile | None = None,
        tls_client_key: calls.PemFile | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, Any]] = (),
        metadata: Sequence[tuple[str, str]] = (),
        channel: grpc.Channel | None = None,
    ):
        super().__init__(address, timeout, collection, calls.call_metadata(metadata, api_key))
        if channel is None:
            merged = calls.channel_options(options)
            credentials = calls.channel_credentials(credentials, tls, tls_ca, tls_client_cert, tls_client_key)
            channel = (
                grpc.secure_channel(address, credentials, options=merged)
                if credentials is not None
                else grpc.insecure_channel(address, options=merged)
            )
        self._channel = channel
        self._methods: dict[Rpc[Any], Callable[..., Any]] = calls.stub_methods(channel)

    def close(self) -> None:
        """Close the channel; calls made afterwards fail."""
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, rpc: Rpc[_R], request: Any, timeout: float | None) -> _R:
        try:
            reply = self._methods[rpc](request, timeout=self._deadline(timeout), metadata=self._metadata)
        except grpc.RpcError as error:
            raise translate(error) from error
        return rpc.reply(reply)

    def _send_stream(self, rpc: Rpc[_R], requests: RequestStream[Any], timeout: float | None) -> _R:
        try:
            return self._send(rpc, requests, timeout)
        except Exception:
            requests.reraise()  # grpc reports a failing request iterator as CANCELLED: give the real error
            raise

    def _export(self, request: Any, timeout: float | None) -> ExportStream:
        pages = self._methods[calls.EXPORT](request, timeout=self._deadline(timeout), metadata=self._metadata)
        try:
            first = next(pages, None)
        except grpc.RpcError as error:
            raise translate(error) from error
        return ExportStream(ExportStream.first_page(first), pages, pages)


class AsyncConnection(ClientSettings):
    """An asyncio channel to a latentspace server; the arguments are described on :class:`~.aio.AsyncClient`."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        timeout: float | None = 30.0,
        collection: str | None = None,
        api_key: str | None = None,
        tls: bool = False,
        tls_ca: calls.PemFile | None = None,
        tls_client_cert: calls.PemFile | None = None,
        tls_client_key: calls.PemFile | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, Any]] = (),
        metadata: Sequence[tuple[str, str]] = (),
        channel: aio.Channel | None = None,
    ):
        super().__init__(address, timeout, collection, calls.call_metadata(metadata, api_key))
        if channel is None:
            merged = calls.channel_options(options)
            credentials = calls.channel_credentials(credentials, tls, tls_ca, tls_client_cert, tls_client_key)
            channel = (
                aio.secure_channel(address, credentials, options=merged)
                if credentials is not None
                else aio.insecure_channel(address, options=merged)
            )
        self._channel = channel
        self._methods: dict[Rpc[Any], Callable[..., Any]] = calls.stub_methods(channel)

    async def close(self) -> None:
        """Close the channel (calls in flight are cancelled); calls made afterwards fail."""
        await self._channel.close(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _send(self, rpc: Rpc[_R], request: Any, timeout: float | None) -> _R:
        try:
            reply = await self._methods[rpc](request, timeout=self._deadline(timeout), metadata=self._metadata)
        except grpc.RpcError as error:  # grpc.aio.AioRpcError is one
            raise translate(error) from error
        return rpc.reply(reply)

    async def _send_stream(self, rpc: Rpc[_R], requests: RequestStream[Any], timeout: float | None) -> _R:
        try:
            return await self._send(rpc, requests, timeout)
        except (Exception, asyncio.CancelledError):
            # grpc.aio cancels the call when the request iterator raises, and awaiting a cancelled
            # call raises CancelledError: give the caller the real error (a task cancelled from
            # outside has none, and its CancelledError goes on).
            requests.reraise()
            raise

    async def _export(self, request: Any, timeout: float | None) -> ExportStream:
        pages = self._methods[calls.EXPORT](request, timeout=self._deadline(timeout), metadata=self._metadata)
        responses = pages.__aiter__()
        try:
            first = await anext(responses, None)
        except grpc.RpcError as error:
            raise translate(error) from error
        return ExportStream(ExportStream.first_page(first), responses, pages)
