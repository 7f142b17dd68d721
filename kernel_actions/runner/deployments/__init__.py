"""Deployments: uploaded app bundles, each version served by its own worker pool."""
