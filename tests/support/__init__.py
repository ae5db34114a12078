"""Test helpers: stand-ins for the world outside the bot, and small programs tests run."""
