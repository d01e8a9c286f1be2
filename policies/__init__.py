"""The hft-frontend CrossGuard policy pack (`pulumi preview --policy-pack policies`).

One module per concern holds its policies; `policies.pack` lists them all. `__main__.py` only serves the
pack, so tests and the offline preview import these modules and never start the analyzer's server.
"""
