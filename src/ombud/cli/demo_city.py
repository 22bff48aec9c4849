"""The demo's city act: a simulated city of real size, end to end, and what the platform learns.

Threat model: as ``ombud.cli.demo`` — a demonstration. Residents get their tokens through the
real blind-signature path (an issuer in a 0700 directory of the demo deployment), posts go
through the group-commit path and the shipped model, sensors sign their readings, everything
lands on the witnessed ledger, and the insight is computed from public data only. The truth
file holds the simulation's true sentiments, aggregated per cell (no post, no text).
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from ombud.citysim.geography import shipped_city
from ombud.citysim.scenario import Scenario, default_events, reading
from ombud.citysim.writing import write_post
from ombud.cli._progress import progress_bar
from ombud.cli.demo_business import OCID, business_act
from ombud.cli.demo_roster import GENESIS_FILE, access_act, roster_act
from ombud.clock import iso_week
from ombud.config import Settings
from ombud.deployment import Deployment
from ombud.ingest.fleet import make_fleet
from ombud.insight import compute, gather
from ombud.privacy.consent import Grant
from ombud.voice.issuer import Issuer
from ombud.voice.labels import Labels, label_texts
from ombud.voice.open311 import FOLLOW_UP
from ombud.voice.posts import PostRequest, Receipt, Submission
from ombud.voice.tokens import finalize_token, load_public_key, period_challenge, request_token
from ombud.web import MAP_FILE

__all__ = ["CitySize", "city_act"]

START = datetime(2026, 11, 2, tzinfo=UTC)
"""Monday of ISO week 2026-W45, the simulation's first week."""
SCORE = {"negative": -1, "neutral": 0, "positive": 1}
ACTIVITY = [1, 1, 1, 1, 1, 1, 2, 4, 5, 4, 3, 3, 4, 3, 3, 3, 4, 5, 6, 7, 7, 6, 4, 2]
"""Relative number of posts written at each hour of the day."""
CAMPAIGN = "the new parking zone in the harbour is a scam, the council must scrap it now"


@dataclass(frozen=True)
class CitySize:
    residents: int
    weeks: int
    post_rate: float
    sensors_per_model: int
    """Per district and Smart Data Model."""
    districts: tuple[str, ...] | None = None
    """None: every district of the city file."""
    event_week: int | None = None
    """Move every event to this week (a short run); None: the default calendar."""
    every_h: int = 1
    """Hours between two readings of a sensor."""
    compromised: bool = True
    """One noise sensor reads 25 dB too loud from the second week (among five honest ones)."""


DEFAULT = CitySize(residents=2800, weeks=4, post_rate=0.6, sensors_per_model=6, every_h=6)
QUICK = CitySize(
    residents=1150, weeks=2, post_rate=0.8, sensors_per_model=1,
    districts=("north", "centre", "university"), event_week=1, every_h=3, compromised=False,
)  # fmt: skip


class SimClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def city_act(
    data_dir: Path,
    seed: int,
    size: CitySize,
    publish: Callable[[Deployment], None],
    console: Console,
) -> dict[str, Any]:
    """Simulate the city into ``data_dir``; returns the insight (also written beside it)."""
    city = shipped_city()
    ids = size.districts or city.ids
    centres = {d.id: d.centre for d in city.districts}
    settings = Settings.as_written(data_dir)
    if settings.voice.district_list() != sorted(ids):
        settings = replace(settings, voice=replace(settings.voice, districts=",".join(ids)))
        settings.save()
    rng = random.Random(seed)
    events = tuple(
        replace(e, weeks=tuple(w for w in e.weeks if w < size.weeks))
        if size.event_week is None
        else replace(e, weeks=(size.event_week,))
        for e in default_events()
        if e.district in ids and (size.event_week is not None or min(e.weeks) < size.weeks)
    )
    scenario = Scenario(
        random.Random(rng.random()),
        ids,
        {d.id: d.weight for d in city.districts},
        size.residents,
        size.weeks,
        size.post_rate,
        events,
        polluted="harbour" if "harbour" in ids else None,
    )
    periods = [iso_week(START + timedelta(weeks=w)) for w in range(size.weeks)]
    clock = SimClock(START)
    timings: dict[str, float] = {}
    truth: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    post_ids: dict[str, tuple[tuple[str, str, str], int]] = {}
    with Deployment.open(data_dir, clock=clock) as deployment:
        t0 = time.perf_counter()
        fleet = list(
            make_fleet(
                size.sensors_per_model * 5 * len(ids),
                random.Random(rng.random()),
                clock=clock,
                districts=ids,
                prefix=f"city{seed}",
            )
        )
        compromised = None
        if size.compromised:  # a district with six noise sensors, one of which lies
            watched = ids[1 % len(ids)]
            extra = make_fleet(
                6 - size.sensors_per_model,
                random.Random(rng.random()),
                clock=clock,
                models=("NoiseLevelObserved",),
                districts=(watched,),
                prefix=f"city{seed}x",
            )
            fleet += list(extra)
            compromised = next(
                s.device.id for s in fleet
                if s.device.model == "NoiseLevelObserved" and s.device.district == watched
            )  # fmt: skip
        for sensor in fleet:
            deployment.registry.add(sensor.device, actor="operator")
        # its own generator: the rest of the simulation draws what it drew before
        resident = _residents_with_data(
            deployment, data_dir, ids, random.Random(f"{seed}-residents")
        )
        genesis, elected, keys = roster_act(deployment, data_dir)
        access_act(deployment, resident, keys)
        console.print(
            f"[bold]roster[/] genesis {genesis.digest[:16]}… ({data_dir / GENESIS_FILE}); "
            f"council hand-over to version {elected.version}, signed by 3 of 5 outgoing "
            "councillors; the operator alone tried to double the privacy budget: refused, and "
            "on the ledger; a police request approved by two officers and read, and a sealed "
            "request from the tax office",
            soft_wrap=True,
        )
        shipped = resources.files("ombud.citysim") / "data" / "city.geojson"
        (data_dir / MAP_FILE).write_bytes(shipped.read_bytes())  # the portal's district map
        issuer = Issuer.init(data_dir / "city-issuer", "id.demo.ombud.localhost")
        labelled: dict[str, Labels] = {}
        posts = replace(deployment.posts, label=lambda texts: [labelled[t] for t in texts])
        homes = scenario.homes()
        origin = deployment.posts.book.origin
        sensor_rng = random.Random(rng.random())
        posts_accepted = readings_sent = cover_leaves = 0
        # The simulated clock leaps half an hour at a time: a leaf due in that half is not
        # missed, as it would be by a server stopped that long.
        cover = replace(deployment.cover, grace=timedelta(hours=1))
        for week, period in enumerate(periods):
            monday = START + timedelta(weeks=week)
            # -- sensors: a reading per device per hour, signed at the hour -------------------
            t1 = time.perf_counter()
            effects = {d: scenario.effects(d, week) for d in ids}

            def day_readings(
                at: datetime, effects: dict[str, dict[str, Any]] = effects, week: int = week
            ) -> list[dict[str, Any]]:
                out = []
                for sensor in fleet:
                    d = sensor.device
                    entity = reading(
                        d.model, d.id, centres[d.district], at, effects[d.district],
                        sensor_rng, compromised=d.id == compromised and week >= 1,
                    )  # fmt: skip
                    out.append(sensor.signer.sign(entity))
                return out

            with progress_bar(f"{period}: sensor readings") as progress:
                for day in range(7):
                    batch = []
                    for hour in range(size.every_h // 2, 24, size.every_h):
                        at = monday + timedelta(days=day, hours=hour)
                        clock.now = at + timedelta(minutes=1)
                        batch += day_readings(at)
                    clock.now = monday + timedelta(days=day + 1)
                    deployment.intake.submit(batch)
                    readings_sent += len(batch)
                    progress(day + 1, 7)

            timings["sensors"] = timings.get("sensors", 0) + time.perf_counter() - t1
            # -- residents: tokens through the blind-signature path, then posts -------------
            t1 = time.perf_counter()
            clock.now = monday + timedelta(days=2, hours=12)
            key = issuer.create_period(period)
            deployment.posts.book.publish(
                deployment.log, period, issuer.name, key, actor="issuer", clock=clock
            )
            public = load_public_key(key)
            challenge = period_challenge(issuer.name, period, origin)
            writers = [r for r in range(len(homes)) if scenario.rng.random() < size.post_rate]
            plans = []  # (hour of the week, resident, district, service, feeling, text)
            for r in writers:
                service, sentiment = scenario.choose(homes[r], week)
                text = write_post(service, sentiment, scenario.rng)
                hour = scenario.rng.choices(range(7 * 24), weights=ACTIVITY * 7)[0]
                plans.append((hour, r, homes[r], service, sentiment, text))
            if week == 2 and "harbour" in ids:  # a coordinated campaign: 40 bought tokens
                for k in range(40):
                    text = CAMPAIGN + ("!" * (k % 3)) + (" #scrapit" if k % 2 else "")
                    plans.append((60, len(homes) + k, "harbour", "parking", "negative", text))
            # Within an hour posts arrive in no order of the simulation's making: residents are
            # numbered district by district, and the ledger's order must not say where its
            # posts come from (an order of their own, so the city's draws stay as they were).
            random.Random(f"{seed}/{period}/arrival").shuffle(plans)
            plans.sort(key=lambda plan: plan[0])
            # The shipped model labels the week's texts in batches of 256 up front: posts then
            # arrive hour by hour, a dozen at a time, too few for the model to batch well
            # (4.9 ms a post against 2.8); the labels are the same function's.
            labelled.clear()
            labelled.update(zip(
                (p[5] for p in plans), label_texts([p[5] for p in plans]), strict=True
            ))  # fmt: skip
            with progress_bar(f"{period}: residents' tokens and posts") as progress:
                tokens: list[bytes] = []
                for start in range(0, len(plans), 256):  # the identity service, in batches
                    chunk = plans[start : start + 256]
                    pending = [request_token(public, challenge) for _ in chunk]
                    responses = issuer.issue_many(
                        period,
                        [
                            (f"resident-{p[1]}", t.request)
                            for p, t in zip(chunk, pending, strict=True)
                        ],
                    )
                    for t, response in zip(pending, responses, strict=True):
                        assert isinstance(response, bytes)
                        tokens.append(finalize_token(public, t, response).to_bytes())
                    progress(len(tokens), 2 * len(plans))
                done = 0
                timed = zip(plans, tokens, strict=True)  # plans are sorted by their hour
                hourly = {
                    hour: list(group)
                    for hour, group in itertools.groupby(timed, key=lambda pt: pt[0][0])
                }
                for hour in range(7 * 24):  # posts arrive through the week, hour by hour
                    began = monday + timedelta(hours=hour)
                    # Each hour gets its cover leaves, as `ombud serve` would add them: drawn
                    # in the hour before's last minute (at its start for the week's first),
                    # appended as they fall due, around the hour's posts.
                    clock.now = began
                    cover_leaves += cover.tend().appended
                    clock.now = began + timedelta(minutes=30)
                    cover_leaves += cover.tend().appended
                    group = hourly.get(hour, [])
                    requests = [PostRequest(Submission(p[5], p[2], p[3]), t) for p, t in group]
                    outcomes = posts.submit_many(requests) if requests else []
                    for (plan, _), outcome in zip(group, outcomes, strict=True):
                        if isinstance(outcome, Receipt):
                            posts_accepted += 1
                            post_ids[outcome.post.id] = ((plan[2], plan[3], period), SCORE[plan[4]])
                    clock.now = began + timedelta(hours=1, microseconds=-1)
                    cover_leaves += cover.tend().appended
                    done += len(group)
                    progress(len(plans) + done, 2 * len(plans))
            timings["residents"] = timings.get("residents", 0) + time.perf_counter() - t1
            # -- the week's end: screening, campaign detection, the DP release, a checkpoint --
            t1 = time.perf_counter()
            clock.now = monday + timedelta(days=7, minutes=5)
            deployment.screener.screen_all()
            timings["screening"] = timings.get("screening", 0) + time.perf_counter() - t1
            t1 = time.perf_counter()
            deployment.flags.screen()
            timings["campaigns"] = timings.get("campaigns", 0) + time.perf_counter() - t1
            t1 = time.perf_counter()
            week_flags = deployment.post_reports.list(
                flagged=True, since=monday, until=monday + timedelta(days=7), limit=1000
            )
            flagged = {p.id for p in week_flags}
            for post_id, (cell, score) in post_ids.items():  # what this week's release counts
                if cell[2] == period and post_id not in flagged:
                    truth[cell].append(score)
            deployment.privacy().release("satisfaction", period, actor="privacy-office")
            timings["releases"] = timings.get("releases", 0) + time.perf_counter() - t1
            t1 = time.perf_counter()
            publish(deployment)
            timings["witnesses"] = timings.get("witnesses", 0) + time.perf_counter() - t1
        t1 = time.perf_counter()
        business = business_act(deployment, keys, publish, clock)
        console.print(
            f"[bold]public business[/] tender {OCID} awarded to {business.winner} by its "
            "published rule (a bid whose reveal did not open its seal disqualified; a bid "
            "after the witnessed deadline refused"
            f"{'' if business.refused_late else ' — NOT refused'}); council motion "
            f"{business.outcome}; its result tracked by the Department of Public Works",
            soft_wrap=True,
        )
        timings["business"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        insight = compute(gather(deployment.log, deployment.db, ZoneInfo(city.timezone)))
        timings["insight"] = time.perf_counter() - t1
        timings["total"] = time.perf_counter() - t0
    (data_dir / "insight.json").write_text(json.dumps(insight, indent=1) + "\n", encoding="utf-8")
    truth_cells = [
        {"district": d, "service": s, "period": p,
         "satisfaction": round(sum(v) / len(v), 4), "posts": len(v)}
        for (d, s, p), v in sorted(truth.items()) if v
    ]  # fmt: skip
    truth_doc = {
        "cells": truth_cells,
        "events": [
            {"name": e.name, "district": e.district, "service": e.service,
             "periods": [periods[w] for w in e.weeks], "sensors": e.sensors}
            for e in events
        ],
        "compromisedSensor": compromised,
        "campaign": {"district": "harbour", "service": "parking", "period": periods[2]}
        if size.weeks > 2 and "harbour" in ids else None,
        "seed": seed,
    }  # fmt: skip
    (data_dir / "demo-truth.json").write_text(json.dumps(truth_doc, indent=1) + "\n", "utf-8")
    summary = summarise(insight, truth_doc)
    counts = {"posts": posts_accepted, "coverLeaves": cover_leaves, "readings": readings_sent}
    _print(console, insight, truth_doc, summary, timings, counts, len(fleet))
    return {
        "insight": insight,
        "truth": truth_doc,
        "summary": summary,
        "timings": timings,
        "counts": counts,
    }


RESIDENT_KEY_FILE = "demo-resident.key"
"""The access key of one simulated resident with data, for the portal's "My data" (0600)."""


def _residents_with_data(
    deployment: Deployment, data_dir: Path, ids: tuple[str, ...], rng: random.Random
) -> str:
    """Three simulated residents consent to follow-up on their service requests and leave
    contact details, sealed in the vault; the first one's access key is kept for the portal
    and their pseudonym returned."""
    first = ""
    office = deployment.privacy()
    for n in range(3):
        subject = f"demo-subject-{rng.randrange(10**9):09d}"
        _, key = office.consents.grant(
            Grant(
                subject=subject,
                purposes=FOLLOW_UP[:1],
                data_categories=FOLLOW_UP[1:],
                controller="Port Ombud city council",
                retention_days=365,
            ),
            actor="consent-service",
            access_key=True,
        )
        contact = {
            "email": f"{subject}@residents.example",
            "district": ids[n % len(ids)],
            "prefers": "email",
        }
        office.vault.seal(
            deployment.log,
            office.vault.ref(subject),
            "contact",
            json.dumps(contact, sort_keys=True).encode(),
            expires=deployment.clock() + timedelta(days=365),
            event=lambda sealed: office.vault.stored_event(sealed, "voice"),
        )
        if n == 0 and key is not None:
            path = data_dir / RESIDENT_KEY_FILE
            path.touch(mode=0o600)
            path.write_text(key + "\n", encoding="ascii")
            first = subject
    return first


def summarise(insight: dict[str, Any], truth: dict[str, Any]) -> dict[str, Any]:
    """How the insight compares with the truth: coverage, events found, false changes."""
    true = {(c["district"], c["service"], c["period"]): c["satisfaction"] for c in truth["cells"]}
    shown = [
        c
        for c in insight["cells"]
        if not c["suppressed"] and (c["district"], c["service"], c["period"]) in true
    ]
    covered = sum(
        c["low"] <= true[c["district"], c["service"], c["period"]] <= c["high"] for c in shown
    )
    changed = {(c["district"], c["service"], c["period"]) for c in insight["changes"]}
    event_cells = {(e["district"], e["service"], p) for e in truth["events"] for p in e["periods"]}
    periods = insight["periods"]
    after = {
        (d, s, periods[periods.index(p) + 1])
        for d, s, p in event_cells
        if periods.index(p) + 1 < len(periods)
        and (d, s, periods[periods.index(p) + 1]) not in event_cells
    }
    remaining = [
        k
        for k in ((c["district"], c["service"], c["period"]) for c in shown)
        if k not in event_cells | after
    ]
    found = [k in changed for k in sorted(event_cells)]
    return {
        "cells": len(shown),
        "covered": covered,
        "coverage": round(covered / len(shown), 4) if shown else None,
        "eventCells": len(event_cells),
        "eventCellsFound": sum(found),
        "remainingCells": len(remaining),
        "remainingChanged": sum(k in changed for k in remaining),
        "falseChangeRate": round(sum(k in changed for k in remaining) / len(remaining), 4)
        if remaining else None,
    }  # fmt: skip


def _print(
    console: Console,
    insight: dict[str, Any],
    truth: dict[str, Any],
    summary: dict[str, Any],
    timings: dict[str, float],
    counts: dict[str, int],
    sensors: int,
) -> None:
    sensors_by = {(s["district"], s["period"]): s for s in insight["sensors"]}
    table = Table(title="what the platform found, event by event")
    for column in ("simulated event", "district / service", "sentiment change found", "sensors"):
        table.add_column(column, overflow="fold")
    for e in truth["events"]:
        found = []
        for p in e["periods"]:
            hits = [c for c in insight["changes"]
                    if (c["district"], c["service"], c["period"])
                    == (e["district"], e["service"], p)]  # fmt: skip
            if hits:
                c = min(hits, key=lambda c: c["qValue"])
                found.append(f"{p}: {c['delta']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}]")
            else:
                found.append(f"{p}: not found")
        figures = []
        for p in e["periods"]:
            week = sensors_by.get((e["district"], p), {}).get("figures", {})
            if e["service"] == "noise" and "Lnight" in week:
                figures.append(f"{p}: L_night {week['Lnight']:.1f} dB, L_den {week['Lden']:.1f} dB")
            elif e["service"] in ("transport", "roads") and "congestion" in week:
                figures.append(
                    f"{p}: congestion {week['congestion']:.0%}, flow {week['flow']:.0f}/h"
                )
        table.add_row(
            e["name"], f"{e['district']} / {e['service']}", "\n".join(found),
            "\n".join(figures) or "no sensor bears on it",
        )  # fmt: skip
    console.print(table)
    for title, key in (
        ("unheard problems", "unheardProblems"),
        ("unmeasured concerns", "unmeasuredConcerns"),
    ):
        items = insight[key]
        console.print(f"[bold]{title}[/] ({len(items)})")
        for item in items[:6]:
            console.print("  " + ", ".join(f"{k} {v}" for k, v in item.items()), highlight=False)
    console.print(
        f"[bold]city[/] {counts['posts']:,} posts accepted (and {counts['coverLeaves']:,} cover "
        f"leaves), {counts['readings']:,} readings from {sensors} sensors; "
        f"{len(insight['cells'])} cells, {summary['cells']} not suppressed; "
        f"{len(insight['changes'])} changes reported of {insight['comparisons']} comparisons"
    )
    console.print(
        f"[bold]honesty[/] {summary['covered']} of {summary['cells']} intervals "
        f"({summary['coverage']:.1%}) hold the true satisfaction; events found in "
        f"{summary['eventCellsFound']} of {summary['eventCells']} event weeks; "
        f"{summary['remainingChanged']} of {summary['remainingCells']} other cells reported "
        f"as changed ({summary['falseChangeRate']:.1%})"
    )
    console.print(
        "[bold]timings[/] " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()),
        highlight=False,
    )
