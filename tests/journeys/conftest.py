"""Journeys use the shared `stage` fixture from tests/conftest.py."""
