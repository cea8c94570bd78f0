"""The environments a local job or endpoint runs in: framework-matched images and requirements caches."""
