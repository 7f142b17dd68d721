"""Tooling: what the CLI and the runner do with an app from the outside.

Manifests (built by loading the code in a child process, or by reading the source),
packaging and receiving bundles, scaffolding from templates, example payloads, and
finding and talking to a running runner. An app never imports these; ``import
kernel_actions`` doesn't load them.
"""
