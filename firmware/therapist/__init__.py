"""The therapist's side: push signed plans, watch a device, collect sessions into SQLite, plot reports.

Runs on the therapist's computer, never on the device; ``firmware.cli.therapist`` wires it into
``presspoint therapist``.
"""
