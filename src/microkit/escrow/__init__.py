"""Escrow: the double-entry ledger and the money flows of an order."""
