"""The Python API: what a notebook calls, and what the CLI is a shell over."""
