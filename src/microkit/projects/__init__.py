"""Open projects and bids, buyer requests, and custom offers."""
