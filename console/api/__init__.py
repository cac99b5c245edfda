"""The JSON API for lenders' systems: borrowers, loans, payments, forbearance, portfolio."""

from console.api.errors import servicing_error_status
from console.api.routes import build_api_router

__all__ = ["build_api_router", "servicing_error_status"]
