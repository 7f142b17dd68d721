"""Proxies (``/proxies``): ``custom`` proxies kept in the data dir, which browsers use."""
