"""Test helpers that stand in for the world outside the bot."""
