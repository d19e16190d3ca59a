"""``deconflict demo``: the service on a synthetic day, with simulated liaison clients.

* :mod:`.theatre` — the scenario, pure values from a seed: parties, users, the policy, filings;
* :mod:`.stage`   — the day so far, written through the service on a manual clock;
* :mod:`.liaison` — simulated liaison clients acting through the service on the real clock.
"""
