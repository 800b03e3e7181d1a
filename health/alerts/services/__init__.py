"""Every write of the alerts app: notifiers, rules, incidents, deliveries (see submodules)."""
