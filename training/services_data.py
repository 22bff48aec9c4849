"""Write the generated part of the services training data (training/data/services/generated.jsonl).

Not part of the installed package. Each category has a bank of problem phrases written by hand
(what residents say, in American and British English) and each message wraps one of them in a
frame (a terse ticket, a polite email, an angry complaint, a social-media post), often with a
place, a house number or a time, sometimes a second topic mentioned in passing and sometimes a
typo. The random generator is seeded, so the file is the same on every run.

Usage: python training/services_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "services" / "generated.jsonl"
PER_CATEGORY = 220

PROBLEMS: dict[str, list[str]] = {
    "waste": [
        "the bins weren't collected",
        "the bins weren't emptied",
        "missed trash pickup",
        "missed garbage pick up",
        "our recycling was not picked up",
        "the rubbish wasn't collected",
        "the bin lorry skipped our street",
        "the garbage truck never came",
        "they left the recycling behind again",
        "the brown bin for garden waste was missed",
        "the food waste caddy was not emptied",
        "someone dumped an old mattress",
        "there's a pile of fly-tipped rubbish",
        "somebody has dumped bags of trash and a couch",
        "builders' rubble has been dumped",
        "there are old tyres dumped",
        "litter is everywhere",
        "the litter bin is overflowing",
        "the public trash can is full and spilling over",
        "dog mess all over the pavement",
        "people don't pick up after their dogs",
        "dead raccoon in road",
        "there's a dead fox",
        "a dead cat has been lying in the street",
        "dead deer on the roadside",
        "dead pigeons on the sidewalk",
        "rats are all over the garbage bags",
        "rats everywhere near the bins",
        "the dumpster is overflowing",
        "the street needs sweeping",
        "the road hasn't been swept for months",
        "broken glass on the footpath",
        "bags of rubbish split open by foxes",
        "I need a new recycling bin",
        "our garbage can was taken by the truck",
        "my wheelie bin is cracked",
        "I need a bulky item pickup for a fridge",
        "the binmen made a mess and left it",
        "the recycling bank is overflowing",
        "junk and furniture left on the kerb",
        "trash bags left out for days",
        "garbage piling up by the apartments",
        "someone keeps putting trash in my bin",
        "the trash cans are always left out on the street",
        "glass collection missed",
        "cans and bottles thrown everywhere",
        "needs a litter pick",
        "the alley is full of garbage",
    ],
    "transport": [
        "the bus never showed up",
        "the number 11 bus was 30 minutes late",
        "the bus drove past the stop without stopping",
        "buses are always late on this route",
        "the bus shelter is smashed",
        "the bus stop sign is missing",
        "there's no timetable at the bus stop",
        "the real-time display at the stop is broken",
        "the train was cancelled again",
        "the trains are always delayed",
        "the tram is overcrowded every morning",
        "the metro escalator is broken",
        "the lift at the station is out of order",
        "the bus route was cut",
        "we need a bus to the hospital",
        "the last bus leaves far too early",
        "the bus driver was rude",
        "the driver wouldn't lower the ramp for my wheelchair",
        "fares keep going up",
        "the ticket machine at the station is broken",
        "the bike share dock is empty",
        "rental scooters are dumped everywhere",
        "the bus stop needs a shelter",
        "the bus stop was moved without notice",
        "the subway is dirty and late",
        "the light rail service is unreliable",
        "the ferry was cancelled",
        "the shuttle bus didn't run",
        "the school bus didn't turn up",
        "buses come three at once and then none for an hour",
        "the train station has no step-free access",
        "my bus pass was refused",
        "the service to the town centre was reduced",
        "the bus app shows buses that never come",
    ],
    "roads": [
        "there's a huge pothole",
        "potholes everywhere",
        "a pothole damaged my tyre",
        "the road surface is breaking up",
        "the road is full of cracks and holes",
        "the sidewalk is cracked and lifting",
        "the pavement is broken",
        "uneven paving slabs",
        "the curb is broken",
        "the kerb has come loose",
        "the traffic light is out",
        "the traffic signal is stuck on red",
        "the walk signal doesn't work",
        "the crossing button is broken",
        "the stop sign was knocked down",
        "a street sign is missing",
        "the road markings have worn away",
        "the crosswalk paint is gone",
        "the road wasn't gritted",
        "the street hasn't been plowed",
        "ice on the road and no salt",
        "the manhole cover is loose",
        "the roadworks have been abandoned",
        "the patch over the utility cut has sunk",
        "we need speed bumps",
        "we need a pedestrian crossing",
        "the bridge surface is damaged",
        "the guardrail is damaged",
        "the road sign is bent",
        "the trench they dug was never filled properly",
        "the footway is crumbling",
        "the road needs resurfacing",
        "sinkhole in the road",
        "the lane lines are invisible at night",
    ],
    "lighting": [
        "street light out",
        "the streetlight is out",
        "the street lamp is not working",
        "the lamp post light is broken",
        "the street light flickers all night",
        "the street light stays on all day",
        "all the lights on the road are out",
        "it's pitch dark because the lights are off",
        "the light pole was hit by a car",
        "the lamp column is leaning",
        "wires are hanging out of the lamp post",
        "the alley light is out",
        "the lights in the underpass are broken",
        "the path lighting doesn't come on",
        "the light shines into my bedroom",
        "we need a street light here",
        "the street light keeps cycling on and off",
        "the new LED lights are too bright",
        "the streetlight bulb is dead",
        "three lamps in a row are out",
        "the car park lighting has failed",
        "the illuminated bollard isn't lit",
        "light out on the pole",
    ],
    "noise": [
        "loud music every night",
        "the neighbours party until 4am",
        "a dog barks all day",
        "constant barking next door",
        "construction starts at 6am",
        "drilling and banging late at night",
        "a car alarm has been going for hours",
        "a house alarm won't stop ringing",
        "the bar plays music until 2am",
        "people shouting outside the pub",
        "motorbikes revving all evening",
        "fireworks every night",
        "a generator runs all night",
        "leaf blowers at 7am",
        "deliveries banging at 4am",
        "the nightclub bass shakes the windows",
        "loud neighbours upstairs",
        "loud car stereos",
        "an extractor fan hums all night",
        "the garbage truck bangs cans at 5am",
        "the neighbour's TV is really loud",
        "a rooster crows at dawn",
        "noise from the building site",
        "the ice cream truck plays music late",
        "people yelling in the street all night",
    ],
    "air": [
        "black smoke from a chimney",
        "a neighbour burns rubbish in the garden",
        "bonfire smoke every weekend",
        "a strong chemical smell",
        "a terrible odour from the factory",
        "exhaust fumes are awful",
        "cars idling outside the school",
        "trucks idling with engines running",
        "the air pollution is dangerous",
        "air quality is terrible",
        "dust from the construction site",
        "smoke from wood burning stoves",
        "fumes from the paint shop",
        "someone is burning tyres",
        "smog over the city",
        "the smell of burning plastic",
        "thick smoke from the restaurant grill",
        "dust blowing off the quarry trucks",
        "open burning in a backyard",
        "my asthma is worse from the pollution",
        "diesel fumes from the buses",
        "a gas smell in the street",
        "a foul odor from the plant",
    ],
    "parking": [
        "a car is blocking my driveway",
        "blocked driveway",
        "cars double-park every night",
        "a truck is double parked",
        "an abandoned car has been here for weeks",
        "a car with no plates has been dumped",
        "cars parked on the sidewalk",
        "vans parked on the pavement",
        "people park on the double yellow lines",
        "a car is parked in front of the hydrant",
        "cars parked in the bike lane",
        "someone parked in the disabled space",
        "the parking meter is broken",
        "the pay machine takes no cards",
        "I need a parking permit",
        "I want to appeal a parking ticket",
        "commuters take all the parking spaces",
        "the car park is always full",
        "a trailer has been parked for months",
        "an RV is parked on the street",
        "cars block the dropped kerb",
        "parking enforcement never comes",
        "a car has been parked for over 72 hours",
        "cars parked on the corner block the view",
        "lorries park overnight in the street",
    ],
    "water": [
        "a water main burst",
        "water is leaking from the road",
        "the fire hydrant is leaking",
        "the hydrant is open and spraying",
        "the drain is blocked",
        "the storm drain is clogged",
        "the gully is blocked",
        "the street floods when it rains",
        "there's flooding on the road",
        "sewage is coming out of a manhole",
        "the sewer is backing up",
        "a sewer smell from the drains",
        "no water from the taps",
        "low water pressure",
        "the tap water is brown",
        "the water meter is leaking",
        "a pipe burst under the pavement",
        "standing water that never drains",
        "the ditch is overflowing",
        "the culvert is blocked",
        "the catch basin is clogged",
        "my water bill is too high",
        "the water tastes odd",
    ],
    "green_spaces": [
        "a tree fell across the path",
        "a branch is hanging dangerously",
        "the tree is dead",
        "the tree needs trimming",
        "the tree stump needs removing",
        "please plant a tree",
        "the grass in the park is knee high",
        "the verge hasn't been mowed",
        "the playground swing is broken",
        "the play equipment is damaged",
        "the park bench is broken",
        "the hedge is overgrown",
        "weeds are taking over",
        "the vacant lot is overgrown",
        "the park is neglected",
        "the pond is full of algae",
        "the football pitch is waterlogged",
        "the park toilets are closed",
        "brambles block the footpath",
        "the flower beds are full of weeds",
        "knotweed is spreading",
        "the park gates are never locked",
        "the trail is washed out",
        "overhanging branches from the city tree",
    ],
    "safety": [
        "graffiti on the wall",
        "someone sprayed graffiti",
        "tagging on the fence",
        "vandals smashed the windows",
        "vandalism at the community centre",
        "teenagers are intimidating people",
        "anti-social behaviour every night",
        "drug dealing on the corner",
        "people using drugs in the stairwell",
        "used needles on the ground",
        "cars speeding through the neighbourhood",
        "street racing at night",
        "someone was mugged",
        "break-ins on our street",
        "my car was broken into",
        "bikes are being stolen",
        "fights outside the bar",
        "people drinking and fighting in the street",
        "suspicious people trying car doors",
        "I don't feel safe walking home",
        "kids throwing stones at cars",
        "off-road bikes on the footpaths",
        "a dangerous derelict building",
        "dirt bikes tearing through the park",
    ],
    "other": [
        "I have a question about my council tax",
        "my property tax bill is wrong",
        "when is the library open",
        "how do I apply for benefits",
        "I want to object to a planning application",
        "the council website is down",
        "I need a birth certificate",
        "how do I register to vote",
        "my council flat has damp and mould",
        "my landlord won't fix the heating",
        "cockroaches in my apartment",
        "mice in my kitchen",
        "a wasp nest in my loft",
        "bed bugs in the building",
        "I need a business licence",
        "I need help with social care",
        "a school admissions question",
        "thank you to your staff",
        "I want to complain about a staff member",
        "a stray dog wandering",
        "a homeless person needs help",
        "the leisure centre pool is closed",
        "I need to book the community hall",
        "building work without a permit",
        "food hygiene at a takeaway",
        "rent arrears advice",
        "a freedom of information request",
        "business rates are too high",
    ],
}

PLACES = [
    "on Maple Street",
    "on Elm Ave",
    "outside number {n}",
    "at {n} High Street",
    "in front of {n} W Oak St",
    "corner of 5th and Main",
    "at the junction of Station Road and Mill Lane",
    "near the school on Park Road",
    "by the Co-op on Church Lane",
    "on the {n}00 block of N Clark",
    "behind the shops on Victoria Rd",
    "on our estate",
    "in Riverside",
    "near the train station",
    "outside the library",
    "on Queen's Drive",
    "on Route {n}",
    "at {n} Willow Court",
    "in the alley off Division St",
    "on the B{n}{n}",
    "opposite the church",
    "by the community centre",
    "near Greenfield Primary",
    "on Hawthorn Crescent",
]

ASIDES = [
    " Also the bus was late again.",
    " (The potholes are another story.)",
    " And while I'm at it, the street light is out too.",
    " The park is lovely though.",
    " I pay my council tax for this!",
    " Noise from the pub doesn't help either.",
    " My neighbour says it's been like this since the roadworks.",
    " Parking round here is a nightmare as well.",
    " There's graffiti on the wall next to it too.",
    " It rained all week which made it worse.",
    "",
    "",
    "",
    "",
    "",
    "",
]

FRAMES = [
    "{p} {place}",
    "{P} {place}.",
    "{P}",
    "{P}!!",
    "{P} {place}, please fix",
    "{P} {place}. This is the {nth} time I've reported it.",
    "Hi, just to let you know {p} {place}. Thanks",
    "Hello, I would like to report that {p} {place}. Could someone look at it please?",
    "Dear Sir/Madam, I am writing because {p} {place}. I would be grateful for your help.",
    "Good morning, {p} {place}. Kind regards",
    "Why is it that {p} {place}?? Absolutely ridiculous.",
    "Sick and tired of this. {P} {place} AGAIN. Nobody at the council cares.",
    "{P} {place} and it's been {n} days. Useless.",
    "@CityHall {p} {place} #fixit",
    "{P} {place} 😡 #{tag}",
    "Anyone else notice {p} {place}? Been like this for weeks",
    "Report: {p}. Location: {place}.",
    "{place}: {p}",
    "Resident reports {p} {place}.",
    "Caller states {p} {place}",
    "Customer says {p} {place}, requests service",
    "{P} {place} since {day}",
    "As of {day} {p} {place}",
    "{P} {place}, my kids and I have to deal with this every day",
]

DAYS = ["Monday", "Tuesday", "last week", "the weekend", "yesterday", "Friday", "the 14th"]
NTH = ["second", "third", "fourth", "fifth"]
TAGS = ["cityfail", "council", "ourtown", "311", "fixmystreet", "community"]


def typo(text: str, rng: random.Random) -> str:
    """One dropped, doubled or swapped letter somewhere in a longer word."""
    words = text.split(" ")
    spots = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
    if not spots:
        return text
    i = rng.choice(spots)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        w = w[:j] + w[j + 1 :]
    elif kind == 1:
        w = w[:j] + w[j] + w[j:]
    else:
        w = w[: j - 1] + w[j] + w[j - 1] + w[j + 1 :]
    words[i] = w
    return " ".join(words)


def message(problem: str, rng: random.Random) -> str:
    n = str(rng.randint(2, 99))
    place = rng.choice(PLACES).format(n=n)
    frame = rng.choice(FRAMES)
    text = frame.format(
        p=problem,
        P=problem[0].upper() + problem[1:],
        place=place,
        n=n,
        nth=rng.choice(NTH),
        day=rng.choice(DAYS),
        tag=rng.choice(TAGS),
    )
    text += rng.choice(ASIDES)
    if rng.random() < 0.25:
        text = text.lower()
    if rng.random() < 0.2:
        text = typo(text, rng)
    return text.strip()


def main() -> None:
    rng = random.Random(20261205)
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for category, problems in PROBLEMS.items():
        made = 0
        while made < PER_CATEGORY:
            text = message(rng.choice(problems), rng)
            if text not in seen:
                seen.add(text)
                rows.append({"text": text, "category": category})
                made += 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} messages -> {OUT}")


if __name__ == "__main__":
    main()
