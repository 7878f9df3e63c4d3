"""The repository's scripts that are Python: run them as modules from the repository's root
(``python -m hack.chaos``, ``python -m hack.bench.scale``), so that ``berth`` (installed
into the virtualenv) and ``tests`` (the operator and cluster harnesses) import as they
are, with no path patched."""
