"""Ratings and follow-ups sent from the clinic (clinic_answers): sent, then acknowledged or refused by the device.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from firmware.clinic.migrations import steps

revision = "0003"
down_revision = "0002"

upgrade, downgrade = steps.revision_steps(down_revision, revision)
