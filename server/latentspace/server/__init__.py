"""The gRPC layer over the indexer library: validation, conversion, concurrency, health."""
