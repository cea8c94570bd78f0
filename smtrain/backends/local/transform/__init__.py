"""Batch transform jobs on the local backend: operations, the records contract, DataProcessing, the runner."""
