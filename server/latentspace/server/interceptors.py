"""Cross-cutting concerns of every RPC, kept out of the handlers, in one wrapper per call.

In order: a request id (the caller's ``x-request-id`` or a fresh one, carried in a context variable
so log lines below can name it); the caller's API key and the RPC's scope (:mod:`.auth`; refused
calls are never admitted); admission (a bound on calls in flight, :mod:`.admission`); the
call's :class:`~latentspace.indexer.deadline.WorkScope` (its deadline and cancellation, which the
worker threads and batchers check before they start work); the handler; library errors turned into
gRPC statuses through the one table in :mod:`.errors`; metrics and one access-log line per call,
naming the key (never the key itself; cancelled calls logged as CANCELLED or DEADLINE_EXCEEDED).
One wrapper, not a chain of interceptors: each layer of a chain costs a coroutine per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, cast

import grpc
from grpc import aio

from latentspace.indexer.deadline import WorkScope, current_scope
from latentspace.server.admission import AdmissionGate
from latentspace.server.auth import UNCHECKED, Authenticator
from latentspace.server.errors import REASON_KEY, REQUEST_ID_KEY, status_for
from latentspace.server.metrics import Metrics

log = logging.getLogger("latentspace.server")
access_log = logging.getLogger("latentspace.access")

#: The id of the request being served, for log lines below the handlers.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

Behaviour = Callable[[Any, aio.ServicerContext], Awaitable[Any]]
StreamBehaviour = Callable[[Any, aio.ServicerContext], AsyncGenerator[Any, None]]

#: Methods that are never refused at admission: a busy server must still answer its health checks.
_ALWAYS_ADMITTED = ("/grpc.health.v1.Health/",)
#: Server-streaming RPCs of these services are wrapped too (health Watch and reflection are not).
_OWN_SERVICES = ("/latentspace.",)


def _writing(stream: StreamBehaviour) -> Behaviour:
    """A server-streaming handler (an async generator) as a coroutine that writes each response with
    ``context.write``, so the one wrapper serves it like a unary call; the generator is closed when
    the call ends, however it ends."""

    async def written(request: Any, context: aio.ServicerContext) -> None:
        async with contextlib.aclosing(stream(request, context)) as responses:
            async for response in responses:
                await context.write(response)

    return written


def _request_id(context: aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return uuid.uuid4().hex[:16]


class ServingInterceptor(aio.ServerInterceptor):
    """Request ids, authentication, admission, deadlines, error mapping, metrics and access logs for
    every RPC of the latentspace services (health Watch and reflection, streams of their own, pass
    through)."""

    def __init__(self, gate: AdmissionGate, metrics: Metrics, authenticator: Authenticator) -> None:
        self.gate = gate
        self.metrics = metrics
        self.authenticator = authenticator
        #: Per method, the servicer's handler and its wrapped form: gRPC asks for the handler on every
        #: call, and building the wrapper each time cost more than the lookup.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap_handler(handler, method)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap_handler(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap(cast(Behaviour, handler.unary_unary), method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap(cast(Behaviour, handler.stream_unary), method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None and method.startswith(_OWN_SERVICES):
            return grpc.unary_stream_rpc_method_handler(
                self._wrap(_writing(cast(StreamBehaviour, handler.unary_stream)), method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _wrap(self, behaviour: Behaviour, method: str) -> Behaviour:
        gate, metrics, authenticator = self.gate, self.metrics, self.authenticator
        admitted_always = method.startswith(_ALWAYS_ADMITTED)
        label = method.rsplit(".", 1)[-1]  # "LatentSpace/Search"

        async def wrapped(request: Any, context: aio.ServicerContext) -> Any:
            request_id = _request_id(context)
            id_token = request_id_var.set(request_id)
            started = time.perf_counter()
            remaining = context.time_remaining()
            scope = WorkScope(None if remaining is None else time.monotonic() + remaining)
            scope_token = current_scope.set(scope)
            code = grpc.StatusCode.OK
            admitted = False
            caller = UNCHECKED
            try:
                caller = authenticator.identify(method, context.invocation_metadata())
                authenticator.authorize(caller, method)
                if not admitted_always:
                    gate.enter()
                    admitted = True
                    metrics.in_flight.inc()
                response = await behaviour(request, context)
                context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
                return response
            except aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except asyncio.CancelledError:
                # The caller went away or its deadline passed: work queued for it is dropped.
                scope.cancel()
                expired = scope.deadline is not None and time.monotonic() >= scope.deadline
                code = grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
                raise
            except Exception as error:
                code, reason, message = status_for(error)
                if code is grpc.StatusCode.INTERNAL:
                    log.exception("request %s %s failed", request_id, method)
                if reason == "OVERLOADED":
                    metrics.rejected.labels(reason).inc()
                await context.abort(
                    code, message, trailing_metadata=((REASON_KEY, reason), (REQUEST_ID_KEY, request_id))
                )
            finally:
                if admitted:
                    gate.leave()
                    metrics.in_flight.dec()
                seconds = time.perf_counter() - started
                metrics.call_finished(label, code.name, seconds)
                access_log.info("%s %s %s %s %.1fms", request_id, caller.name, method, code.name, seconds * 1000)
                current_scope.reset(scope_token)
                request_id_var.reset(id_token)

        return wrapped
