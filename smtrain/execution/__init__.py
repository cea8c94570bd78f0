"""Runs plans against a backend: the executor, the one wait loop, following jobs."""
