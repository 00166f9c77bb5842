"""Discovery: pure algorithms over the registry's services, mashups and purchases (no ledger, no database).

    compose(["geocoding", {"weather", "maps"}], candidates, Constraints(max_cost=10))   # composition.py
    CoOccurrence.from_pairs(mashup_edges).related("google-maps", k=5)                 # recommend.py
"""
