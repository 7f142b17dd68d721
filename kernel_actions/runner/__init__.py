"""The local runner: Kernel's API served on this machine, in layers.

``engine/`` runs invocations (record, store, event bus, workers, pools,
scheduler) and knows no HTTP; ``http/`` serves the API over it; ``browsers/``
and ``deployments/`` are features with their own routes, lent the engine
through ``services``; ``server`` wires them and runs uvicorn; ``reload``
watches files for the CLI. Imports only point down that list.
This package is never imported by ``import kernel_actions``.
"""
