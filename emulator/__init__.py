"""A local Telegram Bot API server for testing bots without Telegram."""
