"""FastAPI routers for everything a channel calls: signature checks, idempotency, responses.

Filled by the channel issue; no business logic lives here.
"""
