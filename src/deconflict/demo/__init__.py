"""``deconflict demo``: the service on a synthetic day, with simulated liaison clients.

* :mod:`.theatre` — the scenario, pure values from a seed: parties, users, the policy, filings,
  and the drone flights of its UTM service supplier (a USS);
* :mod:`.stage`   — the day so far, written through the service on a manual clock;
* :mod:`.uss`     — the USS, which writes its flights through the DSS use cases (``/dss/v1``);
* :mod:`.liaison` — simulated liaison clients and the USS acting through the service on the real clock.
"""
