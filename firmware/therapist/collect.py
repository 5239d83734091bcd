"""``presspoint therapist collect``: the clinic's collector, run by one therapist into their own database.

The same code as ``clinic serve`` (``firmware.clinic.collector``): a
persistent session under a fixed client id (the broker queues QoS 1 events
and sample batches while the collector is down), retained summaries at each
subscribe, PUBACK only after the burst is committed, every message stored
once.  One collector has no instances to share with, so every topic comes
through a normal subscription (no ``$share`` group).
"""

from __future__ import annotations

from pathlib import Path

from config.mqtt import MqttSettings
from firmware.clinic.collector import ClinicCollector
from firmware.mqtt.connection import DEFAULT_SESSION_EXPIRY_S
from firmware.therapist.store import TherapistStore

DEFAULT_CLIENT_ID = "presspoint-collector"


class Collector(ClinicCollector):
    """``ClinicCollector`` on plain subscriptions into ``--db``; ``close()`` when done."""

    store: TherapistStore

    def __init__(
        self,
        settings: MqttSettings,
        db: Path | str,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S,
        store: TherapistStore | None = None,
    ) -> None:
        chosen = store or TherapistStore(db, prefix=settings.topic_prefix)
        super().__init__(settings, chosen, client_id=client_id, group=None, session_expiry_s=session_expiry_s)

    def close(self) -> None:
        self.store.close()
