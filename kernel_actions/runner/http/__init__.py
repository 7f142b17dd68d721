"""The HTTP layer: route modules by concept (invocations, apps, the runner's own
endpoints, the dashboard), assembled by ``api.build_api``; the SSE stream loop,
shared helpers, auth and the OpenAPI document."""
