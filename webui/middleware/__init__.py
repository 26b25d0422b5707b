"""ASGI middleware in front of the whole app: login, same-origin guard, request-body limit, the last-resort 500."""
