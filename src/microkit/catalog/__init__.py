"""Services, categories, upgrades, moderation and search."""
