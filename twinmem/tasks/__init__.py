"""Seeded synthetic tasks (no download): each returns NumPy arrays the registry and trainers use."""
