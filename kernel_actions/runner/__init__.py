"""The local runner: Kernel's invocation API served on this machine.

Import order follows an invocation: ``invocation`` (the record) → ``store``
(SQLite) → ``events`` (the bus behind SSE) → ``protocol`` and ``worker`` (user
code in child processes) → ``pool`` (worker generations) → ``scheduler`` →
``api`` (HTTP) → ``server`` (assembly and uvicorn) → ``reload`` (file watching).
This package is never imported by ``import kernel_actions``.
"""
