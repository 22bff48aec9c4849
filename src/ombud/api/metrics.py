"""``/metrics``: the deployment's health in the Prometheus text format (version 0.0.4).

Threat model: metrics are public operations data. They count (entries, rounds, verdicts, drops)
and never name a resident, a post or a token; a witness is named by its configured name only.
"""

from __future__ import annotations

from datetime import datetime

from ombud.deployment import Deployment
from ombud.exposition import Exposition, label
from ombud.ingest.broker_health import metrics_lines as mqtt_broker_metrics

__all__ = ["metrics_text"]


def metrics_text(deployment: Deployment, *, publishing: bool, now: datetime) -> str:
    """The exposition of ``deployment``'s publishing, ingest, screening, voice and retention
    counters (those of this process), and what MQTT ingest workers recorded of their broker."""
    out = Exposition()
    log = deployment.log
    signed, published = log.latest_checkpoint(), log.published_checkpoint()
    out.metric("ombud_log_size", "gauge", "Entries integrated into the tree.", log.state().size)
    out.metric(
        "ombud_checkpoint_signed_size",
        "gauge",
        "Size of the latest signed checkpoint.",
        signed.size if signed else 0,
    )
    out.metric(
        "ombud_checkpoint_published_size",
        "gauge",
        "Size of the latest published (witnessed) checkpoint.",
        published.size if published else 0,
    )
    if publishing:
        publisher = deployment.publisher
        blocked = int(publisher.last is not None and not publisher.last.published)
        out.metric(
            "ombud_publish_blocked",
            "gauge",
            "Whether the last publishing round lacked a quorum.",
            blocked,
        )
        out.metric(
            "ombud_publish_rounds_total",
            "counter",
            "Publishing rounds that asked the witnesses.",
            publisher.rounds,
        )
        out.metric(
            "ombud_publish_failed_rounds_total",
            "counter",
            "Publishing rounds without a quorum.",
            publisher.failed_rounds,
        )
        out.metric(
            "ombud_witness_failures_total",
            "counter",
            "Requests a witness did not cosign.",
            {label("witness", n): c for n, c in sorted(publisher.cosign_failures.items())},
        )
    counts = deployment.intake.counts
    out.metric(
        "ombud_observations_accepted_total",
        "counter",
        "Observations accepted by this process.",
        counts.accepted,
    )
    out.metric(
        "ombud_observations_duplicate_total",
        "counter",
        "Observations received again (not stored).",
        counts.duplicates,
    )
    out.metric(
        "ombud_observations_refused_total",
        "counter",
        "Observations refused, by error type.",
        {label("reason", r): c for r, c in sorted(counts.refused.items())},
    )
    totals = deployment.screener.totals
    out.metric(
        "ombud_screened_total", "counter", "Observations screened by this process.", totals.screened
    )
    out.metric(
        "ombud_screen_quarantined_total",
        "counter",
        "Observations screening quarantined (this process).",
        totals.quarantined,
    )
    out.metric(
        "ombud_devices_quarantined_total",
        "counter",
        "Devices screening quarantined (this process).",
        len(totals.devices),
    )
    out.metric(
        "ombud_screen_cursor",
        "gauge",
        "Ledger index of the last observation screened.",
        totals.cursor,
    )
    flags = deployment.flags
    out.metric(
        "ombud_voice_screen_rounds_total",
        "counter",
        "Coordination screening passes (this process).",
        flags.screen_rounds,
    )
    out.metric(
        "ombud_posts_flagged_total",
        "counter",
        "Posts flagged as coordinated (this process).",
        flags.flagged_total,
    )
    out.metric(
        "ombud_posts_purged_total",
        "counter",
        "Post texts deleted at retention's end, cover leaves included as payload.purged names "
        "them (this process).",
        deployment.posts.purged_total,
    )
    if deployment.privacy_problem is None:
        office = deployment.privacy()
        out.metric(
            "ombud_retention_rounds_total",
            "counter",
            "Retention passes (this process).",
            office.retention_rounds,
        )
        out.metric(
            "ombud_payloads_purged_total",
            "counter",
            "Vault payloads purged at retention's end.",
            office.vault.purged_total,
        )
    # MQTT ingest workers are processes of their own: they record the broker's dropped-message
    # counter in the deployment's database, and this renders what they recorded (reads only).
    return "\n".join(out.lines + mqtt_broker_metrics(deployment.db, now=now)) + "\n"
