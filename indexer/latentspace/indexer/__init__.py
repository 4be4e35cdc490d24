"""The latent-space library: encoders, collection store, latent maths, bulk indexing. No gRPC here."""
