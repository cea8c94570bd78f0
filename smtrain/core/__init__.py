"""Foundations every layer uses: configuration, errors, hints, progress, URIs and payloads."""
