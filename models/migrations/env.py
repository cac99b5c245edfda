"""Alembic environment: runs migrations on the connection `models.schema` hands in."""

from __future__ import annotations

from alembic import context

import models.channels
import models.compliance
import models.servicing  # noqa: F401
from models.base import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `settle db upgrade`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
