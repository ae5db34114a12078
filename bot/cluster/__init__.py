"""Running more than one instance: one active on PostgreSQL, only one at all on SQLite."""
