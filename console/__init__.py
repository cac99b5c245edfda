"""The staff web console and the JSON API lenders' systems call (`/api`).

The console pages arrive with the console issue; the servicing API is here now.
"""

from console.api import build_api_router, servicing_error_status

__all__ = ["build_api_router", "servicing_error_status"]
