"""Storage: the Storage protocol and the memory, SQLite and PostgreSQL backends."""
