"""The first clinic schema: devices, plan state, sessions, events, sample batches, PPT, users, tokens, audit.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

from firmware.clinic.migrations import steps

revision = "0001"
down_revision = None

upgrade, downgrade = steps.revision_steps(down_revision, revision)
