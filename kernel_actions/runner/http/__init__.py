"""The HTTP layer: the Starlette app, its guards and helpers, the dashboard and OpenAPI."""
