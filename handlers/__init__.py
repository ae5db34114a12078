"""Thin Telegram adapters, one module (or package) per concept; app/build.py wires them."""
