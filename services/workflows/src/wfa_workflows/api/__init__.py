"""The HTTP layer: routers, request/response schemas, problems, authentication and limits."""
