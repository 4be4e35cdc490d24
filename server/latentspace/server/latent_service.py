"""The ``LatentSpace`` service: protobuf in, library operations off the event loop, protobuf out.

Requests are converted on the event loop; everything after, the operation (which checks the request
against the limits and spends its budget) and the response message, runs on a request thread in one hop.
"""

from __future__ import annotations

from grpc import aio

from latentspace.indexer import points as P
from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.maps import MapSpec, make_map
from latentspace.server import convert
from latentspace.server.map_protos import map_to_proto
from latentspace.server.state import CollectionServing, ServerState
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import latentspace_pb2_grpc as rpc

_METHODS = {
    api.INTERPOLATION_METHOD_UNSPECIFIED: P.InterpolationMethod.SLERP,
    api.INTERPOLATION_METHOD_SLERP: P.InterpolationMethod.SLERP,
    api.INTERPOLATION_METHOD_LERP: P.InterpolationMethod.LERP,
}

#: A search for more hits than this is never run on the event loop (see ServerState.with_serving).
SHORT_SEARCH_MAX_K = 100


class LatentSpaceService(rpc.LatentSpaceServicer):
    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def Encode(self, request: api.EncodeRequest, context: aio.ServicerContext) -> api.EncodeResponse:
        points = convert.points_from_proto(request.queries, "queries")

        def work(serving: CollectionServing) -> api.EncodeResponse:
            return api.EncodeResponse(points=[
                api.EncodedPoint(vector=convert.vector_to_proto(r.vector),
                                 modality=convert.MODALITY_TO_PROTO[r.modality])
                for r in serving.operations.encode(points)
            ])

        return await self.state.with_serving(request.collection, work)

    async def Search(self, request: api.SearchRequest, context: aio.ServicerContext) -> api.SearchResponse:
        point = convert.point_from_proto(request.query, "query")
        options = convert.search_options_from_proto(request.options)

        def work(serving: CollectionServing) -> api.SearchResponse:
            [hits] = serving.operations.search([point], options, ["query"])
            response = api.SearchResponse()
            serving.hits.fill(response.hits, hits)
            return response

        # A vector or an item's own vector needs no model, and without a filter or a long result
        # list the k-NN search is the whole of the work (about a millisecond).
        short = isinstance(point, P.VectorPoint | P.IdPoint) and not options.filter and options.k <= SHORT_SEARCH_MAX_K
        return await self.state.with_serving(request.collection, work, short=short)

    async def SearchBatch(
        self, request: api.SearchBatchRequest, context: aio.ServicerContext
    ) -> api.SearchBatchResponse:
        points = convert.points_from_proto(request.queries, "queries")
        options = convert.search_options_from_proto(request.options)
        fields = [f"queries[{i}]" for i in range(len(points))]

        def work(serving: CollectionServing) -> api.SearchBatchResponse:
            response = api.SearchBatchResponse()
            for hits in serving.operations.search(points, options, fields):
                serving.hits.fill(response.results.add().hits, hits)
            return response

        return await self.state.with_serving(request.collection, work)

    async def Distance(self, request: api.DistanceRequest, context: aio.ServicerContext) -> api.DistanceResponse:
        pairs = [
            (convert.point_from_proto(pair.a, f"pairs[{i}].a"), convert.point_from_proto(pair.b, f"pairs[{i}].b"))
            for i, pair in enumerate(request.pairs)
        ]

        def work(serving: CollectionServing) -> api.DistanceResponse:
            return api.DistanceResponse(distances=[
                api.Distance(
                    cosine=d.cosine,
                    angular=d.angular,
                    euclidean=d.euclidean,
                    cross_modal=d.cross_modal,
                    a_modality=convert.MODALITY_TO_PROTO[d.a_modality],
                    b_modality=convert.MODALITY_TO_PROTO[d.b_modality],
                )
                for d in serving.operations.distance(pairs)
            ])

        return await self.state.with_serving(request.collection, work)

    async def DistanceMatrix(
        self, request: api.DistanceMatrixRequest, context: aio.ServicerContext
    ) -> api.DistanceMatrixResponse:
        rows = convert.points_from_proto(request.rows, "rows")
        columns = convert.points_from_proto(request.columns, "columns") if request.columns else None

        def work(serving: CollectionServing) -> api.DistanceMatrixResponse:
            matrix = serving.operations.distance_matrix(rows, columns)
            return api.DistanceMatrixResponse(
                rows=matrix.cosine.shape[0],
                columns=matrix.cosine.shape[1],
                cosine=matrix.cosine.ravel().tolist(),
                angular=matrix.angular.ravel().tolist(),
                euclidean=matrix.euclidean.ravel().tolist(),
                cross_modal=matrix.cross_modal.ravel().tolist(),
            )

        return await self.state.with_serving(request.collection, work)

    async def Interpolate(
        self, request: api.InterpolateRequest, context: aio.ServicerContext
    ) -> api.InterpolateResponse:
        a = convert.point_from_proto(request.a, "a")
        b = convert.point_from_proto(request.b, "b")
        via = convert.point_from_proto(request.via, "via") if request.HasField("via") else None
        method = _METHODS.get(request.method)
        if method is None:
            raise InvalidInput(f"unknown interpolation method {request.method}", field="method")
        options = convert.neighbour_options(request)

        def work(serving: CollectionServing) -> api.InterpolateResponse:
            result = serving.operations.interpolate(
                a,
                b,
                ts=list(request.ts) or None,
                steps=request.steps,
                method=method,
                via=via,
                allow_extrapolation=request.allow_extrapolation,
                k=request.k,
                options=options,
                distinct=request.distinct,
                decode=request.decode,
            )
            return api.InterpolateResponse(
                angle=result.angle,
                steps=[
                    api.PathStep(
                        t=step.t,
                        cos_to_a=step.cos_to_a,
                        cos_to_b=step.cos_to_b,
                        vector=convert.vector_to_proto(step.vector) if request.with_vectors else None,
                        hits=serving.hits.convert(step.hits),
                        image=step.image,
                    )
                    for step in result.steps
                ],
            )

        return await self.state.with_serving(request.collection, work)

    async def Edit(self, request: api.EditRequest, context: aio.ServicerContext) -> api.EditResponse:
        edit = convert.edit_from_proto(request.edit)
        options = convert.neighbour_options(request)

        def work(serving: CollectionServing) -> api.EditResponse:
            result = serving.operations.edit(edit, k=request.k, options=options, decode=request.decode)
            return api.EditResponse(
                vector=convert.vector_to_proto(result.vector),
                cos_to_base=result.cos_to_base,
                base_projection=result.base_projection,
                result_projection=result.result_projection,
                direction_norm=result.direction_norm,
                hits=serving.hits.convert(result.hits),
                base_image=result.base_image,
                image=result.image,
            )

        return await self.state.with_serving(request.collection, work)

    async def Map(self, request: api.MapRequest, context: aio.ServicerContext) -> api.MapResponse:
        queries = convert.points_from_proto(request.queries, "queries")
        spec = MapSpec(sample_size=request.sample_size, seed=request.seed, clusters=request.clusters,
                       color_by=request.color_by)

        def work(serving: CollectionServing) -> api.MapResponse:
            return map_to_proto(make_map(serving.collection, serving.operations, spec, queries))

        return await self.state.with_serving(request.collection, work)

    async def Decode(self, request: api.DecodeRequest, context: aio.ServicerContext) -> api.DecodeResponse:
        points = convert.points_from_proto(request.queries, "queries")

        def work(serving: CollectionServing) -> api.DecodeResponse:
            decoded = serving.operations.decode(points)
            width, height = decoded.size
            return api.DecodeResponse(images=decoded.images, decoder=decoded.decoder, width=width, height=height)

        return await self.state.with_serving(request.collection, work)

    async def CreateDirection(
        self, request: api.CreateDirectionRequest, context: aio.ServicerContext
    ) -> api.DirectionInfo:
        source = convert.direction_source_from_proto(request.source)
        method = convert.direction_method_from_proto(request.method)
        holdout = request.holdout if request.HasField("holdout") else None

        def work(serving: CollectionServing) -> api.DirectionInfo:
            record = serving.operations.create_direction(request.name, source, method, holdout=holdout,
                                                         seed=request.seed)
            return convert.direction_to_proto(record)

        return await self.state.with_serving(request.collection, work)

    async def ListDirections(
        self, request: api.ListDirectionsRequest, context: aio.ServicerContext
    ) -> api.ListDirectionsResponse:
        def work(serving: CollectionServing) -> api.ListDirectionsResponse:
            return api.ListDirectionsResponse(directions=[
                convert.direction_to_proto(r, request.with_vectors) for r in serving.operations.list_directions()])

        return await self.state.with_serving(request.collection, work)

    async def DeleteDirection(
        self, request: api.DeleteDirectionRequest, context: aio.ServicerContext
    ) -> api.DeleteDirectionResponse:
        def work(serving: CollectionServing) -> api.DeleteDirectionResponse:
            serving.operations.delete_direction(request.name)
            return api.DeleteDirectionResponse()

        return await self.state.with_serving(request.collection, work)
