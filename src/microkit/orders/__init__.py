"""Orders: the record, the transition table, and the orders facade."""
