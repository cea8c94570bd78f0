"""The user's project: the penguins example data, the quickstart."""
