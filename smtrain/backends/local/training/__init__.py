"""Local training jobs: the API operations, the job supervisor and the training-container contract."""
