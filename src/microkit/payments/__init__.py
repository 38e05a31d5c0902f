"""Payments: the gateway protocol, built-in gateways and the payments facade."""
