"""Decoders: vectors of a model's latent space back to images, behind the Decoder interface.

``base`` holds the interface (and the documented seam for a GPU diffusion decoder), ``manifest`` a
decoder folder's ``decoder.json``, ``registry`` finds and loads the decoder of a model (lazily, bound
to the encoder's fingerprint), and ``attention_decoder`` is the numpy backend the shapes model ships.
"""
