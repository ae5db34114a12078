"""Helpers tests share that are not about any one part of the bot (network trouble...)."""
