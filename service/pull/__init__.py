"""Fetching items from folders, remote endpoints and generation runs, by a worker."""
