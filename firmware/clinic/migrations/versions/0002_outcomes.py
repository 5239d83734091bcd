"""Outcomes: refused starts, follow-up answers, the person's status, PPT per spot (mean kPa, real change).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from firmware.clinic.migrations import steps

revision = "0002"
down_revision = "0001"

upgrade, downgrade = steps.revision_steps(down_revision, revision)
