"""Conversations and the contact-information filter."""
