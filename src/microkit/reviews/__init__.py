"""Reviews: buyers rate orders, sellers reply and rate buyers; aggregates kept incrementally."""
