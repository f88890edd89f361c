"""cs_analytics: the platform's I/O layer.

Clients for the four source systems, warehouse I/O, the quality gate and the
notifiers. This is the only package that knows connection ids and environment
variables (see `config`); business logic lives in `ml_tasks/` and takes plain
DataFrames.
"""
