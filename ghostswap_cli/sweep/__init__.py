"""Sweeps: a grid of traces × settings, each point one deterministic replay or design-lab run.

``spec.py`` reads the TOML spec and expands the grid into points keyed by a hash of their inputs;
``point.py`` runs one point in a fresh state directory (in a worker process); ``engines.py``
spreads points over a local process pool or a Dask cluster; ``results.py`` appends one JSON line
per point atomically, so a sweep resumes where it stopped; ``runner.py`` ties them together;
``plot.py`` draws a figure against an axis from a results file.
"""
