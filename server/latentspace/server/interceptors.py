"""Cross-cutting concerns of every RPC, kept out of the handlers.

:class:`RequestContextInterceptor` gives each call a request id (the caller's
``x-request-id`` or a fresh one), carried in a ``contextvars`` variable so log lines
anywhere below can name it; turns library errors into gRPC statuses through the one
table in :mod:`latentspace.server.errors`; and writes one access-log line per call.
Later interceptors (auth with API-key scopes) join the same chain in ``app.py``.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import grpc
from grpc import aio

from latentspace.server.errors import REASON_KEY, REQUEST_ID_KEY, status_for

log = logging.getLogger("latentspace.server")
access_log = logging.getLogger("latentspace.access")

#: The id of the request being served, for log lines below the handlers.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

Behaviour = Callable[[Any, aio.ServicerContext], Awaitable[Any]]


def _request_id(context: aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return uuid.uuid4().hex[:16]


class RequestContextInterceptor(aio.ServerInterceptor):
    """Request ids, error mapping and access logs for unary and client-streaming RPCs."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap(cast(Behaviour, handler.unary_unary), method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _wrap(cast(Behaviour, handler.stream_unary), method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        # Server-streaming methods (health Watch, reflection) keep their own handling.
        return handler


def _wrap(behaviour: Behaviour, method: str) -> Behaviour:
    async def wrapped(request: Any, context: aio.ServicerContext) -> Any:
        request_id = _request_id(context)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            response = await behaviour(request, context)
            context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
            return response
        except aio.AbortError:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        except Exception as error:
            code, reason, message = status_for(error)
            if code is grpc.StatusCode.INTERNAL:
                log.exception("request %s %s failed", request_id, method)
            await context.abort(
                code, message, trailing_metadata=((REASON_KEY, reason), (REQUEST_ID_KEY, request_id))
            )
        finally:
            access_log.info(
                "%s %s %s %.1fms", request_id, method, code.name, (time.perf_counter() - started) * 1000
            )
            request_id_var.reset(token)

    return wrapped

