"""Scheduled notebook runs, hub side: the job store, validation, the scheduler's API and job tokens (in the broker)."""
