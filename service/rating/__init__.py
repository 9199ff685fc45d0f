"""The rating loop: choosing the next item, leases, slots, pair units, gold, judgments."""
