"""The sandbox: plays the push platforms against OrderHub's hooks on 127.0.0.1.

``generator`` makes seeded, realistic orders with a status story per kind; ``encoders`` turn
(order, step) into the exact HTTP request each platform sends; ``engine`` delivers them at a
rate with duplicates, reordering, bad signatures and hostile bodies, and keeps a ledger of
what was sent and what each order's final status must be.
"""
