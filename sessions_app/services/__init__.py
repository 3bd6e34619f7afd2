"""Writes: every change to sessions and their references goes through these services."""
