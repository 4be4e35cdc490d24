"""The latent command line: index, serve, and client commands."""
