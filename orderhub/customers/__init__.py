"""Customers: confirmation before shipping, the public order page, fulfilment credit."""
