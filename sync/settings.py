"""What the sync agent runs with, as frozen values.

``AgentSettings`` is taken whole: at start, and again at each reload
(``sync.reload.read_again`` builds a new one; ``SyncAgent`` swaps it in one place).
The helpers of a run (``sync.control``, ``sync.delivery``) read it and never
change it, so a reload cannot leave them half old, half new.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.config.models import Config, MqttConfig
from edge.config.urls import BrokerUrl, parse_broker_url

__all__ = ["AgentSettings", "Timing"]


@dataclass(frozen=True)
class AgentSettings:
    """The box's identity and its ``[mqtt]`` settings, as the agent uses them."""

    mall: str
    box: str
    mqtt: MqttConfig
    """The ``[mqtt]`` section, with ``--broker`` already in ``url``."""
    url: BrokerUrl
    password: str | None
    config_hash: str
    box_config: Config | None
    """The whole configuration (for the ``config`` command and a reload's comparison);
    None when the agent was started without a file."""

    @classmethod
    def build(
        cls,
        mall: str,
        box: str,
        mqtt: MqttConfig,
        password: str | None,
        config_hash: str,
        box_config: Config | None,
    ) -> AgentSettings:
        """The settings, with the broker URL parsed (``ValueError`` names what is wrong)."""
        return cls(mall, box, mqtt, parse_broker_url(mqtt.url), password, config_hash, box_config)

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"mallsense-{self.mall}-{self.box}"


@dataclass(frozen=True)
class Timing:
    """How the agent waits: its reconnect back-off, its poll and its connect timeout."""

    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    poll_interval_s: float = 0.25
    connect_timeout_s: float = 10.0
