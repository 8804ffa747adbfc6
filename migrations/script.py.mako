"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""
from alembic import op

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}


def upgrade(app_role: str = "provisor_app") -> None:
    ${upgrades if upgrades else "pass"}


def downgrade(app_role: str = "provisor_app") -> None:
    ${downgrades if downgrades else "pass"}
