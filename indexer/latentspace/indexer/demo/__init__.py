"""The offline demo: corpora that need no download, and the build of the two demo collections.

- ``stdlib_corpus``: the Python standard library's docstrings as text records (JSONL);
- ``shapes_corpus``: rendered shape images and their captions (PNG files + JSONL);
- ``build``: ``build_demo`` indexes both through the bulk pipeline into ``shapes`` and ``stdlib``.

Importing this package loads no model; ``build`` imports the data dir only when it runs.
"""
