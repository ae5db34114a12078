"""R16: what the real Prometheus Alertmanager posts is read by our formats as expected."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.alerts.formats import parse
from tests.support.alertmanager import Received, running_alertmanager, webhook_receiver

pytestmark = pytest.mark.alertmanager


def _status_of(labels: dict[str, str], status: str) -> Callable[[Received], bool]:
    def matches(got: Received) -> bool:
        return any(
            alert["status"] == status and alert["labels"] == labels
            for alert in got.data.get("alerts", [])
        )

    return matches


async def test_a_posted_alert_arrives_firing_then_resolved(tmp_path: Path) -> None:
    """R16: Alertmanager's webhook for a fired, then resolved alert becomes our alert."""
    labels = {"alertname": "PortalDown", "instance": "www.example.org", "severity": "critical"}
    annotations = {"summary": "门户网站无法访问", "description": "Probe failed for 5 minutes."}
    starts = (datetime.now(UTC) - timedelta(minutes=3)).replace(microsecond=250000)
    async with (
        webhook_receiver() as receiver,
        running_alertmanager(
            tmp_path / "am", webhook_url=receiver.url, bearer_token="t0ken-for-test"
        ) as manager,
    ):
        await manager.fire(
            labels,
            annotations=annotations,
            starts_at=starts,
            generator_url="http://prometheus.example.org/graph",
        )
        firing = await receiver.wait_for(_status_of(labels, "firing"))
        assert firing.headers["Authorization"] == "Bearer t0ken-for-test"
        batch = parse(firing.body, kind="alertmanager", source="prometheus")
        (alert,) = batch.alerts
        (held,) = await manager.alerts()
        assert alert.kind == "alertmanager" and alert.source == "prometheus"
        assert alert.status == "firing"
        assert alert.title == "门户网站无法访问"
        assert alert.description == "Probe failed for 5 minutes."
        assert alert.labels == labels
        assert alert.annotations == annotations
        assert alert.fingerprint == held["fingerprint"]
        assert alert.starts_at == starts
        assert alert.ends_at is None
        assert alert.generator_url == "http://prometheus.example.org/graph"
        assert alert.group_key == batch.group_key and 'alertname="PortalDown"' in alert.group_key
        assert alert.origin == "incident-bot"
        assert batch.truncated == 0

        ends = (datetime.now(UTC) - timedelta(seconds=5)).replace(microsecond=500000)
        await manager.resolve(labels, annotations=annotations, ends_at=ends)
        resolved_payload = await receiver.wait_for(_status_of(labels, "resolved"))
        (resolved,) = parse(resolved_payload.body, kind="alertmanager", source="prometheus").alerts
        assert resolved.status == "resolved"
        assert resolved.fingerprint == alert.fingerprint
        assert resolved.starts_at == starts
        assert resolved.ends_at == ends


async def test_alerts_left_out_by_max_alerts_are_counted(tmp_path: Path) -> None:
    """R16: a group larger than the receiver's max_alerts says how many it left out."""
    async with (
        webhook_receiver() as receiver,
        running_alertmanager(tmp_path / "am", webhook_url=receiver.url, max_alerts=2) as manager,
    ):
        await manager.post_alerts(
            [
                {"labels": {"alertname": "DiskFull", "instance": f"db-{n}"}, "annotations": {}}
                for n in range(5)
            ]
        )
        got = await receiver.wait_for(lambda r: len(r.data["alerts"]) == 2)
        batch = parse(got.body, kind="alertmanager", source="prometheus")
        assert batch.truncated == 3
        assert [a.title for a in batch.alerts] == ["DiskFull", "DiskFull"]
        assert len({a.fingerprint for a in batch.alerts}) == 2
