"""Processing jobs on the local backend."""
