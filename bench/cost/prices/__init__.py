"""Live GPU prices: gpuhunt offers mapped onto the catalog, a local price cache, and the price policy.

``gpuhunt_source`` asks gpuhunt (dstack's GPU price catalog) for offers, ``names`` maps its GPU names onto
catalog ids, ``cache`` keeps the offers on disk with their fetch time, ``providers`` says how each provider
sells and bills, and ``policy`` turns offers and catalog prices into the one price per GPU that every cost
figure uses.
"""
