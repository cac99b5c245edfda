"""How servicing's typed errors map to HTTP statuses (the one place that says so)."""

from __future__ import annotations

from servicing import Conflict, InvalidInput, NotEligible, NotFound, ServicingError


def servicing_error_status(error: ServicingError) -> int:
    """The HTTP status that answers a servicing error."""
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, InvalidInput | NotEligible):
        return 422
    return 400
