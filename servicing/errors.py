"""Typed errors of the servicing store; each names the field at fault and says what is wrong."""

from __future__ import annotations


class ServicingError(Exception):
    """A servicing rule refused the request; `field` names the input at fault, if any."""

    code = "servicing_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(ServicingError):
    """A value is out of range or malformed."""

    code = "invalid_input"


class NotFound(ServicingError):
    """An id names nothing."""

    code = "not_found"


class Conflict(ServicingError):
    """The request contradicts the loan's state (written off, already applied, duplicate ref)."""

    code = "conflict"


class NotEligible(ServicingError):
    """A forbearance rule declines the request; `reason` is a code the borrower can be told."""

    code = "not_eligible"

    def __init__(self, message: str, *, reason: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.reason = reason
