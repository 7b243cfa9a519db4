"""Benchmarks of the DESA explorer (issue 8): ``make bench`` and ``make bench-full``.

Scripts, not tests: each module has a ``run(...)`` function returning a JSON-ready dict and a
``main()``; ``python -m benchmarks.run_all`` runs them and writes ``benchmarks/results/*.json`` and
``benchmarks/RESULTS.md``. Importing any module here has no side effects.
"""
