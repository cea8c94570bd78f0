"""The local backend: SageMaker's API, run on this machine with no AWS and no Docker."""
