"""The local tuner: hyperparameter tuning jobs whose trials are local training jobs."""
