"""Screening stored observations against their history and their neighbours, over SQLite and
PostgreSQL: clean data left alone, a biased sensor caught reading by reading and then as a
whole, a stuck one and a spike caught, each observation screened exactly once."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ombud.config import IntegritySettings
from ombud.database import Database
from ombud.errors import MalformedError, NotFoundError
from ombud.events import Event
from ombud.ingest.devices import DeviceRegistry
from ombud.ingest.fleet import SimulatedSensor, make_fleet, reading
from ombud.ingest.intake import Accepted, Intake
from ombud.integrity.aggregate import Estimator
from ombud.ledger import note
from ombud.ledger.log import Log
from ombud.ledger.store_sql import SqlStore
from ombud.release import AlreadyReleasedError
from ombud.sensors.indicators import district_indicator
from ombud.sensors.observations import ObservationStore
from ombud.sensors.quarantine import QuarantineStore
from ombud.sensors.screening import Screener

START = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
NOISE = "NoiseLevelObserved"
SENSORS = 8


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class City:
    clock: Clock
    log: Log
    intake: Intake
    sensors: list[SimulatedSensor]
    db: Database
    step: int = 0
    tamper: dict[int, Callable[[int, float], float]] = field(default_factory=dict)
    silent: dict[int, range] = field(default_factory=dict)
    """Steps in which a sensor sends nothing."""

    def screener(self, **settings: int) -> Screener:
        return Screener(
            self.db,
            self.log,
            IntegritySettings(settle_s=0, **settings),
            quarantine=QuarantineStore(self.db),
            clock=self.clock,
        )

    def run(self, steps: int) -> None:
        """Every sensor observes once a step (5 minutes), tampered ones through their hook."""
        for _ in range(steps):
            at = START + self.step * STEP
            self.clock.now = at
            batch = []
            for i, sensor in enumerate(self.sensors):
                if self.step in self.silent.get(i, ()):
                    continue
                d = sensor.device
                entity = reading(NOISE, d.id, d.district, at, sensor.rng)
                if i in self.tamper:
                    entity["LAeq"]["value"] = self.tamper[i](self.step, entity["LAeq"]["value"])
                batch.append(sensor.signer.sign(entity))
            verdicts = self.intake.submit(batch)
            assert all(isinstance(v, Accepted) for v in verdicts), verdicts
            self.step += 1

    def kinds(self) -> list[str]:
        return [Event.from_bytes(e).kind for e in self.log.entries(0, self.log.state().size)]


@pytest.fixture
def city(database: Database) -> Iterator[City]:
    clock = Clock()
    log = Log(SqlStore.create(database, "s.example/log"), note.Signer.generate("s.example/log"))
    registry = DeviceRegistry(database, log, clock=clock)
    sensors = list(
        make_fleet(SENSORS, random.Random(11), clock=clock, models=(NOISE,), districts=("centre",))
    )
    for sensor in sensors:
        registry.add(sensor.device)
    intake = Intake(
        log,
        registry,
        ObservationStore(database),
        quarantine=QuarantineStore(database),
        clock=clock,
        threads=1,
    )
    yield City(clock, log, intake, sensors, database)


def test_clean_readings_are_left_alone(city: City) -> None:
    city.run(60)  # five hours across the morning rush: levels rise and fall
    result = city.screener().screen_all()
    assert result.screened == 60 * SENSORS
    assert (result.quarantined, result.devices) == (0, ())
    assert "observation.quarantined" not in city.kinds()


def test_a_biased_sensor_is_caught_then_quarantined_whole(city: City) -> None:
    city.tamper[3] = lambda step, value: value + 15.0 if step >= 30 else value
    city.run(40)
    screener = city.screener(batch=SENSORS)  # a step at a time, as a live deployment would
    result = screener.screen_all()
    biased = city.sensors[3].device.id
    held = screener.quarantine.list(device=biased)
    assert len(held) == 10 and result.quarantined == 10
    assert all("neighbours" in q.checks for q in held)
    assert "rate" in held[0].checks  # the step up itself is a jump in the sensor's own series
    (evidence,) = [e["evidence"] for e in held[-1].evidence if e["check"] == "neighbours"]
    assert evidence["attribute"] == "LAeq" and len(evidence["neighbours"]) == SENSORS - 1
    assert abs(evidence["value"] - evidence["median"]) > evidence["k"] * evidence["scale"]
    # Six suspect readings among its last 24 make the device suspect as a whole.
    assert result.devices == (biased,)
    (device,) = screener.quarantine.devices()
    assert device.evidence[0]["evidence"]["suspects"] == 6
    assert device.since == START + 30 * STEP
    assert city.kinds().count("device.quarantined") == 1
    # Honest sensors are not quarantined.
    assert {q.device for q in screener.quarantine.list()} == {biased}


def test_absurd_signed_readings_cannot_stop_the_screening_of_others(city: City) -> None:
    """A device with a valid key signs 25 readings climbing to 8.9e15 dB (each quarantined at
    ingest as out of range), then a plain 50 dB: the rate check's evidence for that one holds
    an expected level of 9.25e15, a float JSON cannot carry exactly. Once that stopped every
    round of screening, for every device, for good; now it is written as text."""
    city.tamper[0] = lambda step, value: step * 3.7e14 if step < 25 else 50.0
    city.run(26)
    result = city.screener().screen_all()
    assert result.screened == 26 * SENSORS and not result.more
    attacker = city.sensors[0].device.id
    (jump,) = [q for q in city.screener().quarantine.list(check="rate") if q.counter > 25]
    assert jump.device == attacker
    (evidence,) = [e["evidence"] for e in jump.evidence if e["check"] == "rate"]
    assert evidence["expected"] == "9250000000000000.0" and evidence["value"] == 50
    assert {q.device for q in city.screener().quarantine.list()} == {attacker}


def test_a_quarantined_device_is_left_out_of_indicators_until_released(city: City) -> None:
    city.tamper[5] = lambda step, value: value + 20.0 if step >= 20 else value
    city.run(40)
    screener = city.screener()
    screener.screen_all()
    period = (START + 20 * STEP, START + 40 * STEP)

    def figure() -> tuple[float, int, int, int]:
        i = district_indicator(city.db, "centre", NOISE, "LAeq", *period, Estimator.HUBER).indicator
        return i.value, i.readings, i.devices, i.quarantined_readings

    value, readings, devices, left_out = figure()
    assert (readings, devices, left_out) == (20 * (SENSORS - 1), SENSORS - 1, 20)
    released = screener.quarantine.release_device(
        city.log, city.sensors[5].device.id, "inspected: bias confirmed, kept for the record",
        actor="operator", clock=city.clock,
    )  # fmt: skip
    assert released.released_index is not None
    assert city.kinds()[-1] == "device.released"
    # Readings quarantined one by one stay quarantined; those after are counted again.
    after_value, after_readings, _, after_left_out = figure()
    assert after_left_out == len(screener.quarantine.list(device=city.sensors[5].device.id))
    assert after_readings + after_left_out == 20 * SENSORS
    with pytest.raises(AlreadyReleasedError):
        screener.quarantine.release_device(
            city.log, city.sensors[5].device.id, "again", actor="operator", clock=city.clock
        )
    with pytest.raises(NotFoundError):
        screener.quarantine.release_device(
            city.log, city.sensors[0].device.id, "never held", actor="operator", clock=city.clock
        )
    assert value < after_value or after_left_out == 20


def test_a_stuck_sensor_is_flagged(city: City) -> None:
    city.tamper[2] = lambda step, value: 58.3 if step >= 20 else value
    city.run(40)
    screener = city.screener()
    screener.screen_all()
    held = screener.quarantine.list(device=city.sensors[2].device.id, check="flat_line")
    # The twelfth identical reading is the first a flat line can be seen in.
    assert held and held[0].counter == city.sensors[2].signer.counter - 40 + 20 + 12


def test_a_single_spike_is_quarantined_but_not_the_device(city: City) -> None:
    city.tamper[1] = lambda step, value: value + 25.0 if step == 35 else value
    city.run(40)
    screener = city.screener()
    result = screener.screen_all()
    (spike,) = screener.quarantine.list()
    assert spike.device == city.sensors[1].device.id
    assert set(spike.checks) == {"rate", "neighbours"}
    assert result.devices == ()


def test_readings_quarantined_at_ingest_are_not_screened_again(city: City) -> None:
    city.tamper[4] = lambda step, value: 181.0 if step % 10 == 9 else value
    city.run(30)
    screener = city.screener()
    result = screener.screen_all()
    held = screener.quarantine.list(device=city.sensors[4].device.id)
    assert [q.checks for q in held] == [("range",)] * 3
    assert result.quarantined == 0  # each already held by the range check


def test_each_observation_is_screened_once_and_only_when_settled(city: City) -> None:
    city.tamper[0] = lambda step, value: value + 15.0
    city.run(10)
    waiting = Screener(
        city.db,
        city.log,
        IntegritySettings(settle_s=3600),
        quarantine=QuarantineStore(city.db),
        clock=city.clock,
    )
    assert waiting.screen().screened == 0  # all younger than an hour
    first = city.screener(batch=7).screen_all()
    assert first.screened == 10 * SENSORS and first.quarantined == 10
    size = city.log.state().size
    again = city.screener().screen_all()  # a new screener resumes from the stored cursor
    assert (again.screened, again.quarantined, again.cursor) == (0, 0, first.cursor)
    assert city.log.state().size == size
    city.run(2)
    assert city.screener().screen_all().screened == 2 * SENSORS


def test_checks_filter_matches_whole_names(city: City) -> None:
    city.tamper[1] = lambda step, value: value + 25.0 if step == 35 else value
    city.run(40)
    screener = city.screener()
    screener.screen_all()
    assert len(screener.quarantine.list(check="rate")) == 1
    assert screener.quarantine.list(check="rat") == []
    assert screener.quarantine.list(check="flat%") == []


def test_indicator_refuses_an_empty_or_backward_period(city: City) -> None:
    city.run(2)
    with pytest.raises(MalformedError):
        district_indicator(city.db, "centre", NOISE, "LAeq", START, START)
    with pytest.raises(NotFoundError):
        district_indicator(city.db, "harbour", NOISE, "LAeq", START, START + STEP * 2)


def test_a_sensor_replaying_yesterday_is_caught(city: City) -> None:
    day = 288  # five-minute steps
    sent: dict[int, float] = {}

    def replay(step: int, value: float) -> float:
        sent[step] = sent[step - day] if step >= day else value
        return sent[step]

    city.tamper[6] = replay
    city.run(day + 20)
    screener = city.screener()
    screener.screen_all()
    held = screener.quarantine.list(device=city.sensors[6].device.id, check="replay")
    # From the eleventh replayed reading on, 11 of the last 12 (≥ 90%) repeat the day before.
    assert len(held) == 20 - 10
    (first,) = [e["evidence"] for e in held[0].evidence if e["check"] == "replay"]
    (last,) = [e["evidence"] for e in held[-1].evidence if e["check"] == "replay"]
    assert (first["pairs"], first["repeated_share"]) == (12, round(11 / 12, 6))
    assert last["repeated_share"] == 1.0
    assert {q.device for q in screener.quarantine.list(limit=10_000)} == {city.sensors[6].device.id}


def test_a_bias_shared_by_three_of_eight_is_caught_by_the_offset_check(city: City) -> None:
    # Three colluding sensors add 8 dB: among 7 neighbours two of them vouch for each other,
    # which widens the neighbours' spread; their offsets from the median still jump.
    for i in (1, 4, 6):
        city.tamper[i] = lambda step, value: value + 8.0 if step >= 220 else value
    city.run(240)  # the offset check needs 204 offsets of history
    screener = city.screener(batch=SENSORS)
    result = screener.screen_all()
    liars = {city.sensors[i].device.id for i in (1, 4, 6)}
    assert set(result.devices) == liars
    flagged = screener.quarantine.list(limit=10_000)
    assert {q.device for q in flagged} == liars
    assert all("offset" in q.checks for q in flagged)
    (evidence,) = [e["evidence"] for e in flagged[0].evidence if e["check"] == "offset"]
    assert evidence["recent"] - evidence["usual"] > evidence["k"] * evidence["scale"]
    # The move is dated near the bias's first reading (a CUSUM's change point: noise can
    # start it a little early), before the first reading the offset check flagged: that is
    # where each device is set aside from.
    for held in screener.quarantine.devices():
        assert START + 208 * STEP <= held.since <= START + 220 * STEP
    assert min(q.counter for q in flagged if q.device == city.sensors[1].device.id) > 221


def _as_one_detector(city: City, device: str, held: list[Any]) -> int:
    """Checks that screening flagged exactly the device's LAeq readings one uninterrupted
    detector flags, and that its saved state is that detector's at the saved ledger index;
    the readings that state has taken."""
    from ombud.integrity.detector import AnomalyDetector

    one = AnomalyDetector()
    flagged = {c for c, v, at in _screened(city, device) if one.update(v, at)[1]}
    assert flagged == {q.counter for q in held if q.device == device}
    ((index, state),) = city.db.read(
        "SELECT ledger_index, state FROM screening_detectors "
        "WHERE device = ? AND attribute = 'LAeq'",
        (device,),
    )
    replay = AnomalyDetector()
    for _, value, at in _screened(city, device, up_to=index):
        replay.update(value, at)
    assert bytes(state) == replay.snapshot()
    return replay.seen


def _screened(city: City, device: str, up_to: int | None = None) -> list[tuple[int, float, float]]:
    """A device's plausible LAeq readings in ledger order (what its detector takes), with
    their counters and signed times (seconds); up to a ledger index if given."""
    from ombud.canonical import parse_json

    rows = city.db.read(
        "SELECT counter, ledger_index, created_us, entity FROM observations WHERE device = ? "
        "ORDER BY ledger_index",
        (device,),
    )
    out = []
    for counter, index, created_us, entity in rows:
        value = parse_json(bytes(entity), "a test observation")["LAeq"]["value"]
        if (up_to is None or index <= up_to) and 0 <= value <= 140:
            out.append((counter, value, created_us / 1_000_000))
    return out


def test_two_clean_days_raise_no_anomaly(city: City) -> None:
    city.run(2 * 288)
    result = city.screener().screen_all()
    assert result.screened == 2 * 288 * SENSORS
    assert (result.quarantined, result.devices) == (0, ())


def test_the_anomaly_detector_runs_in_screening_and_resumes_exactly_after_restarts(
    city: City,
) -> None:
    """A sensor that starts to hum in a pattern it never had is caught by the streaming detector
    with its evidence. Screened by a new screener every 50 steps (restarts: each resumes from a
    checkpoint and replays the observations after it), the detector flags exactly the readings
    one uninterrupted detector flags, and each checkpoint is exactly that detector's state."""
    from ombud.integrity.detector import DetectorSettings

    hum = city.sensors[2].device.id
    city.tamper[2] = lambda step, value: value + (9.0 if step >= 400 and step % 2 else 0.0)
    city.tamper[5] = lambda step, value: 200.0 if step % 97 == 0 else value  # out of range
    for _ in range(9):
        city.run(50)
        city.screener(batch=SENSORS * 7).screen_all()
    held = QuarantineStore(city.db).list(check="anomaly", limit=10_000)
    first_counter = city.sensors[2].signer.counter - 450 + 1  # its reading of step 0
    assert held and {q.device for q in held} == {hum}
    assert 400 <= min(q.counter for q in held) - first_counter <= 410
    (evidence,) = [e["evidence"] for e in held[0].evidence if e["check"] == "anomaly"]
    assert evidence["attribute"] == "LAeq" and evidence["score"] >= evidence["threshold"]
    assert evidence["p_value"] < 0.01 and evidence["scale"] in DetectorSettings().scales
    for sensor in (city.sensors[2], city.sensors[5]):
        _as_one_detector(city, sensor.device.id, held)
    assert len(_screened(city, city.sensors[5].device.id)) == 450 - 5  # five out of range


def _count_updates(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A counter of the readings fed to any detector from now on."""
    from ombud.integrity.detector import AnomalyDetector

    fed = [0]
    update = AnomalyDetector.update

    def counted(self: AnomalyDetector, value: float, at: float | None = None) -> object:
        fed[0] += 1
        return update(self, value, at)

    monkeypatch.setattr(AnomalyDetector, "update", counted)
    return fed


@pytest.mark.parametrize("quiet", [False, True])
def test_series_beyond_those_kept_in_memory_are_saved_as_they_leave_never_replayed(
    city: City, monkeypatch: pytest.MonkeyPatch, quiet: bool
) -> None:
    """With room for 3 of the 8 series, series leave memory at every batch's end — touched in
    it, or (``quiet``: half the sensors fall silent for a while) not — and are saved then, in
    the batch's transaction, and restored when they come back: each reading is fed to a
    detector exactly once, and the flags and the saved states are still those of one
    uninterrupted detector."""

    fed = _count_updates(monkeypatch)
    city.tamper[2] = lambda step, value: value + (9.0 if step >= 400 and step % 2 else 0.0)
    if quiet:
        city.silent.update({i: range(100, 250) for i in range(4, SENSORS)})
    screener = city.screener(batch=SENSORS * 3, detector_series=3)
    for _ in range(9):
        city.run(50)
        screener.screen_all()
    readings = {s.device.id: _screened(city, s.device.id) for s in city.sensors}
    assert fed[0] == sum(len(r) for r in readings.values())
    assert fed[0] == SENSORS * 450 - (4 * 150 if quiet else 0)
    held = QuarantineStore(city.db).list(check="anomaly", limit=10_000)
    assert held and {q.device for q in held} == {city.sensors[2].device.id}
    saved_whole = sum(  # the series out of memory: saved with every reading they took
        _as_one_detector(city, device, held) == len(series) for device, series in readings.items()
    )
    assert saved_whole >= SENSORS - 3  # at most 3 series are still in memory


def test_a_screener_never_saves_a_series_over_a_later_state_of_it(city: City) -> None:
    """Screener A holds three series in memory; screener B (``ombud integrity screen`` beside
    ``ombud serve``) takes them further and saves them; when those three leave A's memory
    untouched (their sensors silent), A's older states must not replace B's."""
    a = city.screener(batch=SENSORS * 3, detector_series=3)
    b = city.screener(batch=SENSORS * 3)
    city.run(50)
    a.screen_all()
    before = dict(city.db.read("SELECT device, ledger_index FROM screening_detectors"))
    city.run(150)
    b.screen_all()  # past its checkpoint interval: it saves every series further on
    saved = dict(city.db.read("SELECT device, ledger_index FROM screening_detectors"))
    assert len(saved) == SENSORS and all(saved[d] > before[d] for d in saved)
    city.silent.update({i: range(200, 250) for i in range(3, SENSORS)})
    city.run(50)
    a.screen_all()
    now = dict(city.db.read("SELECT device, ledger_index FROM screening_detectors"))
    assert all(now[d] >= saved[d] for d in saved)


def test_the_anomaly_detector_can_be_turned_off(city: City) -> None:
    city.tamper[2] = lambda step, value: value + (9.0 if step >= 400 and step % 2 else 0.0)
    city.run(450)
    screener = Screener(
        city.db,
        city.log,
        IntegritySettings(settle_s=0, anomaly_threshold=1.0),
        quarantine=QuarantineStore(city.db),
        clock=city.clock,
    )
    screener.screen_all()
    assert screener.quarantine.list(check="anomaly") == []
    assert city.db.read("SELECT COUNT(*) FROM screening_detectors") == [(0,)]


def test_a_failed_batch_leaves_the_detectors_as_if_it_never_ran(
    city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose transaction fails (here: recording its quarantine) is screened again by
    the same screener; its detectors take those readings once, not twice."""
    from ombud.integrity.detector import AnomalyDetector

    city.tamper[2] = lambda step, value: value + (9.0 if step >= 400 and step % 2 else 0.0)
    city.run(400)
    screener = city.screener(batch=SENSORS * 10)
    screener.screen_all()
    city.run(50)
    failing = QuarantineStore.insert

    def insert(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(QuarantineStore, "insert", staticmethod(insert))
    with pytest.raises(RuntimeError):
        screener.screen_all()
    monkeypatch.setattr(QuarantineStore, "insert", failing)
    screener.screen_all()
    device = city.sensors[2].device.id
    one = AnomalyDetector()
    flagged = {c for c, v, at in _screened(city, device) if one.update(v, at)[1]}
    held = QuarantineStore(city.db).list(check="anomaly", limit=10_000)
    assert flagged and flagged == {q.counter for q in held}
