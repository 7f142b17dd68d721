"""Credentials (``/credentials``): login values and TOTP secrets kept in the data dir."""
