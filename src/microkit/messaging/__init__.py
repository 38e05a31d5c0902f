"""Conversations and the contact-information filter."""

from ._contact_filter import CONTACT_KINDS, ContactMatch, find_contacts, redact

__all__ = ["CONTACT_KINDS", "ContactMatch", "find_contacts", "redact"]
