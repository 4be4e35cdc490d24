"""Encoders: one backend per module, behind the Encoder interface, loaded through the registry."""
