"""Foundations every layer may use: file writing, seeds and random states, processes, errors, provenance, paths, the run's events."""
