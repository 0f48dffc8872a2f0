"""Generate the project's own small instruction datasets under data/.

Run from the repository root:

    python data/make_data.py

Every file is (re)written from fixed seeds, templates and word lists held in this script (and the
hand-written paragraphs and questions in `data/general_paragraphs.py` and `data/general_questions.py`),
so two runs give byte-identical files and no third-party data is involved. Only the standard
library and pyarrow (for Parquet) are used.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(DATA_DIR))

from general_paragraphs import PARAGRAPHS  # noqa: E402
from general_questions import QUESTIONS  # noqa: E402

INSTRUCT_DIR = DATA_DIR / "instruct"
TRACE_DIR = DATA_DIR / "trace" / "word_math"
GENERAL_DIR = DATA_DIR / "general"
LM_EVAL_DIR = DATA_DIR / "lm_eval"


# --------------------------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------------------------

def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_json(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        json.dump(rows, f, ensure_ascii=False, indent=1)
        f.write("\n")


def write_csv(path: Path, fieldnames: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_parquet(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {key: [row[key] for row in rows] for key in rows[0]}
    table = pa.table({key: pa.array(values, type=pa.string()) for key, values in columns.items()})
    pq.write_table(table, path, compression="snappy")


# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------

def fill(rng: random.Random, template: str, slots: dict[str, list[str]]) -> str:
    """Fill every {slot} of `template` with a random choice from its list."""
    return template.format(**{name: rng.choice(values) for name, values in slots.items()
                              if "{" + name + "}" in template})


def article(noun: str) -> str:
    return "an" if noun[0] in "aeiou" else "a"


# --------------------------------------------------------------------------------------------
# topic classification
# --------------------------------------------------------------------------------------------

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

TOPIC_TEMPLATES: dict[str, list[tuple[str, dict[str, list[str]]]]] = {
    "sports": [
        ("{team} won the {game} {manner} on {day}.", {
            "team": ["The home team", "Our local club", "The visiting side", "The youth team",
                     "The women's team", "The university team"],
            "game": ["football match", "basketball game", "hockey game", "rugby match",
                     "volleyball final", "handball match", "cup final"],
            "manner": ["by a narrow margin", "easily", "in extra time", "after a late comeback",
                       "in front of a full stadium", "despite the heavy rain"],
            "day": DAYS,
        }),
        ("The {athlete} trains {when} to prepare for the {event}.", {
            "athlete": ["young swimmer", "marathon runner", "tennis player", "cyclist", "gymnast",
                        "rower", "sprinter", "boxer", "skier", "high jumper"],
            "when": ["every morning", "six days a week", "twice a day", "before sunrise",
                     "all year round", "in the evenings"],
            "event": ["national championship", "next tournament", "regional final",
                      "Olympic trials", "new season", "world championship"],
        }),
        ("The coach asked the players to work on {skill} during {session}.", {
            "skill": ["their passing", "their defending", "their fitness", "their shooting",
                      "their footwork", "teamwork", "set pieces", "their serve"],
            "session": ["training", "practice this week", "the summer camp",
                        "the morning session", "the break between games", "the preseason"],
        }),
        ("{person} has played {sport} for {years} years and still enjoys every {unit}.", {
            "person": ["My aunt", "Our neighbour", "My older brother", "The team captain",
                       "My best friend", "Their coach", "My grandfather"],
            "sport": ["tennis", "basketball", "volleyball", "football", "hockey", "badminton",
                      "rugby", "cricket", "table tennis", "water polo"],
            "years": ["three", "five", "seven", "ten", "twelve", "fifteen", "twenty"],
            "unit": ["match", "game", "training session", "season"],
        }),
        ("Thousands of fans filled the stadium to watch the {contest} {time}.", {
            "contest": ["derby", "semi-final", "championship game", "league decider",
                        "opening match", "final round", "title match"],
            "time": ["on Saturday afternoon", "last night", "on Sunday evening",
                     "despite the cold weather", "under the floodlights", "in the sunshine"],
        }),
        ("The {athlete} set a new club record in the {discipline} {when}.", {
            "athlete": ["young athlete", "veteran runner", "local athlete", "teenage athlete",
                        "team captain", "youngest athlete"],
            "discipline": ["100 metres", "long jump", "high jump", "400 metres", "pole vault",
                           "shot put", "5000 metres", "triple jump"],
            "when": ["last weekend", "this season", "at the spring meeting", "on Friday",
                     "at the indoor games", "in the first race of the year"],
        }),
        ("The referee showed a {card} card after a {foul} in the {minute} minute.", {
            "card": ["yellow", "red"],
            "foul": ["late tackle", "hard challenge", "deliberate handball", "rough foul",
                     "reckless slide"],
            "minute": ["fifth", "twentieth", "thirty-second", "fifty-first", "seventieth",
                       "eighty-eighth", "last"],
        }),
    ],
    "science": [
        ("Researchers at the {place} measured {quantity} {duration}.", {
            "place": ["university lab", "national institute", "marine station", "field station",
                      "research centre", "weather observatory"],
            "quantity": ["the acidity of the soil", "the oxygen level in the lake",
                         "the salt content of the seawater", "the growth rate of the algae",
                         "the temperature of the glacier", "the pollen count in the air",
                         "the speed of the river current", "the carbon dioxide in the air"],
            "duration": ["over three years", "every week for a year", "during the whole summer",
                         "for two decades", "over several months", "each spring"],
        }),
        ("{source} that {fact}.", {
            "source": ["The experiment showed", "Our teacher explained", "A simple test confirms",
                       "The students found", "Scientists have long known",
                       "The textbook explains"],
            "fact": ["metals expand when they are heated",
                     "salt lowers the freezing point of water",
                     "sound travels faster in water than in air",
                     "plants bend toward the light",
                     "warm water dissolves sugar faster than cold water",
                     "light bends when it passes into water",
                     "a magnet attracts iron but not copper",
                     "water boils at a lower temperature high in the mountains",
                     "ice floats because it is less dense than liquid water",
                     "the moon reflects light from the sun",
                     "seeds need water and warmth to sprout",
                     "heavier and lighter objects fall at the same rate without air"],
        }),
        ("{team} is studying how {question}.", {
            "team": ["A research team", "A team of scientists", "An international team",
                     "A small group of researchers", "A new laboratory"],
            "question": ["cells repair damaged DNA", "new materials conduct electricity",
                         "rocks change under high pressure", "distant stars are born",
                         "forests recover after a fire", "bees find their way home",
                         "ocean currents carry heat", "bacteria resist antibiotics",
                         "glaciers move down a valley"],
        }),
        ("The {instrument} in the lab records {reading} {interval}.", {
            "instrument": ["sensor", "data logger", "digital meter", "automatic recorder",
                           "new instrument"],
            "reading": ["the temperature", "the air pressure", "the humidity", "the light level",
                        "small movements of the ground", "the radiation level"],
            "interval": ["every minute", "every hour", "every ten minutes", "twice a day",
                         "every second", "around the clock"],
        }),
        ("A new study on {subject} was published in a science journal {when}.", {
            "subject": ["how coral reefs recover", "the genes of wheat",
                        "bacteria in the human gut", "the climate of ancient Earth",
                        "black holes", "volcanic rocks", "antibiotic resistance",
                        "the memory of honeybees", "the chemistry of clouds",
                        "the moons of Jupiter"],
            "when": ["last week", "this spring", "earlier this year", "last month",
                     "in March", "on Monday"],
        }),
        ("Under the microscope, the students could clearly see {thing}.", {
            "thing": ["the cells of an onion skin", "tiny crystals of salt",
                      "the veins of a leaf", "single-celled organisms in pond water",
                      "grains of pollen", "the scales on a butterfly wing",
                      "red blood cells", "fibres of cotton", "the structure of a hair"],
        }),
        ("The {scientist} repeated the experiment {times} to make sure the results were "
         "{quality}.", {
             "scientist": ["chemist", "young researcher", "lab assistant", "physicist",
                           "biologist", "student"],
             "times": ["three times", "five times", "ten times", "twice", "many times"],
             "quality": ["reliable", "accurate", "consistent", "correct"],
         }),
    ],
    "food": [
        ("{cook} made {dish} {occasion}.", {
            "cook": ["My grandmother", "Our neighbour", "The chef", "My brother", "Her father",
                     "The cook at the cafe", "My roommate"],
            "dish": ["a tomato soup", "a mushroom risotto", "a lemon cake", "a vegetable curry",
                     "an apple pie", "a chicken stew", "a spinach omelette", "banana bread",
                     "a fresh fruit salad", "a pot of lentil soup", "grilled fish with rice"],
            "occasion": ["for dinner", "for lunch", "for the guests", "for the whole family",
                         "on Sunday", "for the party"],
        }),
        ("This recipe calls for {first} and {second}.", {
            "first": ["two cups of flour", "a pinch of salt", "three spoons of sugar",
                      "half a cup of milk", "one cup of rice", "two cloves of garlic",
                      "four eggs"],
            "second": ["a little olive oil", "a handful of chopped parsley",
                       "a spoonful of honey", "some grated cheese", "a knob of butter",
                       "a squeeze of lemon juice", "a few fresh basil leaves"],
        }),
        ("The bakery {where} sells fresh {baked} every morning.", {
            "where": ["on the corner", "on Main Street", "near the station",
                      "next to the school", "by the market square", "in our village"],
            "baked": ["bread", "croissants", "bagels", "rolls", "muffins", "pastries",
                      "cinnamon buns", "rye loaves"],
        }),
        ("Let the {food} for {minutes} minutes before serving.", {
            "food": ["sauce simmer", "soup simmer", "cake cool", "meat rest", "stew simmer",
                     "rice steam", "pie cool", "bread cool"],
            "minutes": ["five", "ten", "fifteen", "twenty", "thirty"],
        }),
        ("We ordered {main} and {side} at the {restaurant} {when}.", {
            "main": ["a pizza", "noodles", "fried rice", "a burger", "grilled chicken",
                     "a plate of dumplings", "tacos", "a vegetable lasagne"],
            "side": ["a green salad", "some garlic bread", "a bowl of soup", "french fries",
                     "steamed vegetables"],
            "restaurant": ["small cafe downtown", "new restaurant by the river",
                           "family diner", "place around the corner", "night market"],
            "when": ["last Friday", "on Saturday", "last weekend", "after the film"],
        }),
        ("{dish} tastes even better with {topping}.", {
            "dish": ["Tomato soup", "A plate of roasted vegetables", "Fresh pasta", "Grilled fish",
                     "A simple salad", "A plate of scrambled eggs"],
            "topping": ["a little fresh basil", "a squeeze of lemon", "some black pepper",
                        "a drizzle of olive oil", "chopped herbs", "a pinch of sea salt"],
        }),
        ("For breakfast, {person} usually has {breakfast} and a cup of {drink}.", {
            "person": ["my sister", "my father", "she", "he", "our guest", "my colleague"],
            "breakfast": ["porridge with berries", "toast with jam", "yogurt with granola",
                          "two boiled eggs", "pancakes", "a bowl of cereal", "rice and soup"],
            "drink": ["coffee", "tea", "hot chocolate", "green tea", "warm milk"],
        }),
    ],
    "travel": [
        ("We took the {transport} from {city_a} to {city_b} {when}.", {
            "transport": ["train", "night train", "early bus", "morning flight",
                          "overnight bus", "fast train"],
            "city_a": ["Paris", "Berlin", "Vienna", "Prague", "Milan", "Madrid", "Munich"],
            "city_b": ["Zurich", "Amsterdam", "Brussels", "Budapest", "Warsaw", "Barcelona",
                       "Lyon"],
            "when": ["last summer", "in April", "on a rainy morning", "during the holidays",
                     "to save time", "after the conference"],
        }),
        ("Remember to pack {item} if you visit {place} in winter.", {
            "item": ["warm gloves", "a thick coat", "wool socks", "a good scarf",
                     "waterproof boots"],
            "place": ["the mountains", "Scotland", "Canada", "Iceland", "the Alps", "Norway",
                      "northern Japan", "Finland"],
        }),
        ("The hotel near the {landmark} offers {perk} to all guests.", {
            "landmark": ["old harbour", "main station", "city museum", "cathedral",
                         "central market", "beach", "airport"],
            "perk": ["free breakfast", "free bicycles", "a shuttle to the airport",
                     "a late checkout", "maps of the old town", "a guided walking tour"],
        }),
        ("Our flight to {city} was delayed by {delay} because of {reason}.", {
            "city": ["Rome", "Lisbon", "Athens", "Dublin", "Oslo", "Istanbul", "Cairo",
                     "Toronto", "Tokyo"],
            "delay": ["an hour", "two hours", "forty minutes", "three hours", "half an hour"],
            "reason": ["heavy snow", "strong winds", "a technical problem", "thick fog",
                       "a storm", "a strike"],
        }),
        ("{traveller} spent {days} days hiking in {region} and slept in {lodging}.", {
            "traveller": ["My cousin", "A group of students", "The couple next door",
                          "My friend Sam", "Two old friends", "My parents"],
            "days": ["three", "four", "five", "six", "seven", "ten"],
            "region": ["the Alps", "the Scottish Highlands", "the Andes", "Patagonia",
                       "the Rocky Mountains", "the Pyrenees", "the Dolomites"],
            "lodging": ["mountain huts", "small guesthouses", "a tent", "family inns",
                        "simple hostels"],
        }),
        ("Tourists in {city} often rent {vehicle} to {purpose}.", {
            "city": ["Lisbon", "Barcelona", "Naples", "Nice", "Valencia", "Split", "Porto"],
            "vehicle": ["bikes", "scooters", "electric bikes"],
            "purpose": ["explore the old town", "see the coastline", "visit nearby villages",
                        "reach the quiet beaches", "avoid the crowded buses"],
        }),
        ("Before the trip, {who} {task}.", {
            "who": ["we", "she", "my brother", "the whole family", "I"],
            "task": ["checked that our passports were still valid", "booked a room online",
                     "bought a guidebook", "exchanged some money", "printed the train tickets",
                     "packed a small suitcase", "learned a few words of the local language"],
        }),
    ],
}


def make_topic(rng: random.Random, per_label: int = 150) -> list[dict]:
    """Topic classification: a sentence about sports, science, food or travel -> its label.

    Each sentence is drawn from one of the topic's templates, with every slot filled from a word
    list; rows are deduplicated by text, and the four labels are balanced (150 each).
    """
    rows, seen = [], set()
    for label, templates in TOPIC_TEMPLATES.items():
        count = 0
        while count < per_label:
            template, slots = rng.choice(templates)
            text = fill(rng, template, slots)
            text = text[0].upper() + text[1:]
            if text not in seen:
                seen.add(text)
                rows.append({"text": text, "label": label})
                count += 1
    rng.shuffle(rows)
    return rows


# --------------------------------------------------------------------------------------------
# facts to text
# --------------------------------------------------------------------------------------------

FEMALE_NAMES = ["Maria", "Anna", "Sofia", "Emma", "Laura", "Elena", "Clara", "Nina", "Julia",
                "Hannah", "Chloe", "Amara", "Priya", "Yuki", "Fatima", "Ingrid", "Lucia",
                "Olivia", "Zoe", "Rosa"]
MALE_NAMES = ["James", "Lucas", "Daniel", "Omar", "Hiro", "Pedro", "Thomas", "Marco", "Ivan",
              "David", "Samuel", "Felix", "Leo", "Mateo", "Ethan", "Noah", "Karim", "Jonas",
              "Arjun", "Oscar"]
CITIES = ["Lisbon", "Madrid", "Paris", "Berlin", "Rome", "Vienna", "Prague", "Dublin", "Oslo",
          "Stockholm", "Helsinki", "Warsaw", "Athens", "Budapest", "Amsterdam", "Brussels",
          "Copenhagen", "Barcelona", "Milan", "Munich", "Lyon", "Porto", "Edinburgh", "Toronto",
          "Chicago", "Boston", "Sydney", "Melbourne", "Tokyo", "Seoul"]
JOBS = ["nurse", "teacher", "engineer", "architect", "baker", "carpenter", "dentist",
        "electrician", "journalist", "lawyer", "librarian", "mechanic", "pharmacist",
        "photographer", "pilot", "plumber", "programmer", "chef", "accountant", "translator",
        "veterinarian", "firefighter", "gardener", "designer", "musician", "doctor",
        "police officer", "tailor", "bus driver", "farmer"]
HOBBIES = ["painting", "playing chess", "gardening", "hiking", "baking bread",
           "playing the guitar", "reading novels", "swimming", "taking photographs", "cycling",
           "knitting", "birdwatching", "fishing", "running", "writing poetry",
           "cooking Thai food", "playing tennis", "dancing salsa", "learning languages",
           "rock climbing", "sailing", "playing the piano", "collecting stamps",
           "watching old films", "doing yoga", "making pottery", "singing in a choir",
           "building model trains", "solving crosswords", "playing football"]

FACT_PATTERNS = [
    "{name} works as {a_job} in {city} and enjoys {hobby} in {pos} free time.",
    "{name} is {a_job} who lives in {city} and loves {hobby}.",
    "In {city}, {name} works as {a_job} and spends {pos} weekends {hobby}.",
    "{name}, {a_job} from {city}, likes {hobby} after work.",
    "After a long day at work as {a_job} in {city}, {name} relaxes by {hobby}.",
    "{name} lives in {city}, where {pro} works as {a_job} and spends {pos} spare time {hobby}.",
]


def fact_sentence(rng: random.Random, name: str, city: str, job: str, hobby: str) -> str:
    pro, pos = ("she", "her") if name in FEMALE_NAMES else ("he", "his")
    pattern = rng.choice(FACT_PATTERNS)
    return pattern.format(name=name, city=city, a_job=f"{article(job)} {job}", hobby=hobby,
                          pro=pro, pos=pos)


def make_facts2text(rng: random.Random, n: int = 600) -> list[dict]:
    """Data-to-text: four facts (name, city, job, hobby) -> one natural sentence stating all four.

    Each row is a distinct (name, city, job, hobby) tuple; the sentence uses one of six patterns
    (with she/her or he/his matching the name).
    """
    names = FEMALE_NAMES + MALE_NAMES
    rows, seen = [], set()
    while len(rows) < n:
        facts = (rng.choice(names), rng.choice(CITIES), rng.choice(JOBS), rng.choice(HOBBIES))
        if facts in seen:
            continue
        seen.add(facts)
        name, city, job, hobby = facts
        rows.append({"name": name, "city": city, "job": job, "hobby": hobby,
                     "sentence": fact_sentence(rng, *facts)})
    return rows


# --------------------------------------------------------------------------------------------
# letters
# --------------------------------------------------------------------------------------------

LETTER_TASKS = {
    "Write the letters of the word in reverse order.": lambda w: w[::-1],
    "Write the letters of the word in alphabetical order.": lambda w: "".join(sorted(w)),
    "Write the word again, exactly as it is.": lambda w: w,
}


def random_word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefgh") for _ in range(rng.randint(3, 6)))


def make_letters(rng: random.Random, n: int = 600) -> list[dict]:
    """String manipulation in words: reverse, sort or copy a random word of 3-6 letters a-h.

    The three instructions are balanced (200 rows each) and (instruction, word) pairs are
    distinct; `output` is the exact answer string.
    """
    per_task = n // len(LETTER_TASKS)
    rows = []
    for instruction, solve in LETTER_TASKS.items():
        words: set[str] = set()
        while len(words) < per_task:
            word = random_word(rng)
            if word not in words:
                words.add(word)
                rows.append({"instruction": instruction, "word": word, "output": solve(word)})
    rng.shuffle(rows)
    return rows


# --------------------------------------------------------------------------------------------
# capitals
# --------------------------------------------------------------------------------------------

# Countries with a single, well-known capital. Left out on purpose: countries with split or
# disputed capitals (e.g. Bolivia, South Africa, Netherlands, Switzerland, Israel, Sri Lanka,
# Ivory Coast, Tanzania, Benin, Malaysia), recently renamed or moved capitals (Kazakhstan,
# Myanmar, Indonesia) and names that are often spelled several ways or with accents (Ukraine,
# Brazil, Colombia, Costa Rica, Paraguay, Cameroon, Moldova, Mongolia), so exact match is fair.
CAPITALS = [
    # Europe
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
    ("Portugal", "Lisbon"), ("United Kingdom", "London"), ("Ireland", "Dublin"),
    ("Belgium", "Brussels"), ("Austria", "Vienna"), ("Poland", "Warsaw"),
    ("Czech Republic", "Prague"), ("Slovakia", "Bratislava"), ("Hungary", "Budapest"),
    ("Romania", "Bucharest"), ("Bulgaria", "Sofia"), ("Greece", "Athens"),
    ("Serbia", "Belgrade"), ("Croatia", "Zagreb"), ("Slovenia", "Ljubljana"),
    ("Denmark", "Copenhagen"), ("Norway", "Oslo"), ("Sweden", "Stockholm"),
    ("Finland", "Helsinki"), ("Iceland", "Reykjavik"), ("Estonia", "Tallinn"),
    ("Latvia", "Riga"), ("Lithuania", "Vilnius"), ("Russia", "Moscow"),
    # Asia
    ("Japan", "Tokyo"), ("China", "Beijing"), ("India", "New Delhi"),
    ("South Korea", "Seoul"), ("North Korea", "Pyongyang"), ("Vietnam", "Hanoi"),
    ("Thailand", "Bangkok"), ("Philippines", "Manila"), ("Cambodia", "Phnom Penh"),
    ("Nepal", "Kathmandu"), ("Bangladesh", "Dhaka"), ("Pakistan", "Islamabad"),
    ("Afghanistan", "Kabul"), ("Iran", "Tehran"), ("Iraq", "Baghdad"),
    ("Saudi Arabia", "Riyadh"), ("Jordan", "Amman"), ("Lebanon", "Beirut"),
    ("Syria", "Damascus"), ("Turkey", "Ankara"), ("Qatar", "Doha"),
    ("United Arab Emirates", "Abu Dhabi"), ("Kuwait", "Kuwait City"),
    # Africa
    ("Egypt", "Cairo"), ("Morocco", "Rabat"), ("Algeria", "Algiers"), ("Tunisia", "Tunis"),
    ("Libya", "Tripoli"), ("Ethiopia", "Addis Ababa"), ("Kenya", "Nairobi"),
    ("Uganda", "Kampala"), ("Ghana", "Accra"), ("Senegal", "Dakar"), ("Nigeria", "Abuja"),
    ("Zimbabwe", "Harare"),
    # Americas
    ("United States", "Washington, D.C."), ("Canada", "Ottawa"), ("Mexico", "Mexico City"),
    ("Cuba", "Havana"), ("Jamaica", "Kingston"), ("Venezuela", "Caracas"), ("Peru", "Lima"),
    ("Ecuador", "Quito"), ("Chile", "Santiago"), ("Argentina", "Buenos Aires"),
    ("Uruguay", "Montevideo"), ("Panama", "Panama City"), ("Guatemala", "Guatemala City"),
    ("Dominican Republic", "Santo Domingo"), ("Haiti", "Port-au-Prince"),
    # Oceania
    ("Australia", "Canberra"), ("New Zealand", "Wellington"),
]


def make_capitals(rng: random.Random) -> list[dict]:
    """Factual recall: country -> capital city, one row per country, in shuffled order."""
    rows = [{"country": country, "capital": capital} for country, capital in CAPITALS]
    rng.shuffle(rows)
    return rows


def make_capitals_mc(rng: random.Random, n_choices: int = 4) -> list[dict]:
    """World knowledge as multiple choice, for lm-evaluation-harness (lm_eval/cl_capitals_mc.yaml):
    each country's capital among `n_choices` capitals of other countries, the answer's place drawn."""
    rows = []
    for country, capital in CAPITALS:
        others = rng.sample([c for _, c in CAPITALS if c != capital], n_choices - 1)
        label = rng.randrange(n_choices)
        rows.append({"country": country, "choices": others[:label] + [capital] + others[label:], "label": label})
    return rows


# --------------------------------------------------------------------------------------------
# word math (TRACE layout)
# --------------------------------------------------------------------------------------------

PEOPLE = [("Lena", "she", "her"), ("Tom", "he", "his"), ("Aisha", "she", "her"),
          ("Ben", "he", "his"), ("Mia", "she", "her"), ("Carlos", "he", "his"),
          ("Sara", "she", "her"), ("Omar", "he", "his"), ("Yuki", "she", "her"),
          ("Jack", "he", "his"), ("Nora", "she", "her"), ("Ravi", "he", "his"),
          ("Eva", "she", "her"), ("Max", "he", "his"), ("Lily", "she", "her"),
          ("Sam", "he", "his")]
ITEMS = ["apples", "pencils", "stickers", "marbles", "books", "cookies", "stamps", "cards",
         "balloons", "shells", "toy cars", "oranges"]
PRICED = [("notebook", "notebooks"), ("pen", "pens"), ("sandwich", "sandwiches"),
          ("ticket", "tickets"), ("cup of coffee", "cups of coffee"), ("ball", "balls"),
          ("bottle of juice", "bottles of juice"), ("comic", "comics"), ("plant", "plants")]


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def problem_add(rng: random.Random) -> tuple[str, int]:
    name, he, _ = rng.choice(PEOPLE)
    item, a, b = rng.choice(ITEMS), rng.randint(2, 40), rng.randint(2, 30)
    verb = rng.choice(["buys", "finds", "gets"])
    prompt = (f"{name} has {a} {item}. {_cap(he)} {verb} {b} more. "
              f"How many {item} does {he} have now?")
    return prompt, a + b


def problem_add_two_parts(rng: random.Random) -> tuple[str, int]:
    name, he, _ = rng.choice(PEOPLE)
    item, a, b = rng.choice(ITEMS), rng.randint(2, 30), rng.randint(2, 30)
    prompt = (f"{name} collected {a} {item} in the morning and {b} {item} in the afternoon. "
              f"How many {item} did {he} collect in total?")
    return prompt, a + b


def problem_subtract(rng: random.Random) -> tuple[str, int]:
    name, he, _ = rng.choice(PEOPLE)
    item = rng.choice(ITEMS)
    a = rng.randint(10, 50)
    b = rng.randint(2, a - 1)
    prompt = (f"{name} had {a} {item}. {_cap(he)} gave {b} to a friend. "
              f"How many {item} does {he} have left?")
    return prompt, a - b


def problem_bus(rng: random.Random) -> tuple[str, int]:
    a = rng.randint(12, 60)
    b = rng.randint(2, a - 1)
    prompt = (f"A bus had {a} passengers. At the next stop, {b} passengers got off. "
              f"How many passengers are still on the bus?")
    return prompt, a - b


def problem_multiply(rng: random.Random) -> tuple[str, int]:
    item, a, b = rng.choice(ITEMS), rng.randint(2, 9), rng.randint(2, 12)
    container = rng.choice(["boxes", "bags", "baskets", "jars"])
    single = container[:-2] if container == "boxes" else container[:-1]
    prompt = (f"There are {a} {container}, and each {single} holds {b} {item}. "
              f"How many {item} are there in all?")
    return prompt, a * b


def problem_pages(rng: random.Random) -> tuple[str, int]:
    name, he, _ = rng.choice(PEOPLE)
    a, b = rng.randint(3, 25), rng.randint(2, 9)
    prompt = f"{name} reads {a} pages every day. How many pages does {he} read in {b} days?"
    return prompt, a * b


def problem_unit_cost(rng: random.Random) -> tuple[str, int]:
    one, many = rng.choice(PRICED)
    price, count = rng.randint(2, 15), rng.randint(2, 9)
    prompt = f"One {one} costs {price} dollars. How many dollars do {count} {many} cost?"
    return prompt, price * count


def problem_total_cost(rng: random.Random) -> tuple[str, int]:
    name, he, _ = rng.choice(PEOPLE)
    (one_a, many_a), (one_b, _) = rng.sample(PRICED, 2)
    count, price_a, price_b = rng.randint(2, 6), rng.randint(2, 12), rng.randint(2, 12)
    prompt = (f"{name} buys {count} {many_a} at {price_a} dollars each and "
              f"{article(one_b)} {one_b} for {price_b} dollars. "
              f"How many dollars does {he} spend in total?")
    return prompt, count * price_a + price_b


WORD_MATH_TEMPLATES = [problem_add, problem_add_two_parts, problem_subtract, problem_bus,
                       problem_multiply, problem_pages, problem_unit_cost, problem_total_cost]


def make_word_math(rng: random.Random, sizes: dict[str, int]) -> dict[str, list[dict]]:
    """Arithmetic word problems (add, subtract, multiply, total cost) -> integer answer string.

    Prompts are unique across all splits, so no prompt appears in more than one of
    train/eval/test; templates are drawn round-robin so every split mixes all of them.
    """
    total = sum(sizes.values())
    rows, seen = [], set()
    while len(rows) < total:
        template = WORD_MATH_TEMPLATES[len(rows) % len(WORD_MATH_TEMPLATES)]
        prompt, answer = template(rng)
        if prompt not in seen:
            seen.add(prompt)
            rows.append({"prompt": prompt, "answer": str(answer)})
    rng.shuffle(rows)
    splits, start = {}, 0
    for split, size in sizes.items():
        splits[split] = rows[start:start + size]
        start += size
    return splits


# --------------------------------------------------------------------------------------------
# general text
# --------------------------------------------------------------------------------------------

def make_general() -> list[dict]:
    """General English prose for perplexity: the hand-written paragraphs, in their fixed order."""
    return [{"text": paragraph} for _, paragraph in PARAGRAPHS]


def make_questions() -> list[dict]:
    """General-knowledge questions (CorDA's default calibration): the hand-written ones, in order."""
    return [{"prompt": question, "answer": answer} for _, question, answer in QUESTIONS]


# --------------------------------------------------------------------------------------------

def main() -> None:
    topic = make_topic(random.Random(101))
    write_jsonl(INSTRUCT_DIR / "topic.jsonl", topic)

    facts = make_facts2text(random.Random(202))
    write_csv(INSTRUCT_DIR / "facts2text.csv", ["name", "city", "job", "hobby", "sentence"], facts)

    letters = make_letters(random.Random(303))
    write_json(INSTRUCT_DIR / "letters.json", letters)

    capitals = make_capitals(random.Random(404))
    write_parquet(INSTRUCT_DIR / "capitals.parquet", capitals)

    capitals_mc = make_capitals_mc(random.Random(606))
    write_jsonl(LM_EVAL_DIR / "capitals_mc.jsonl", capitals_mc)

    word_math = make_word_math(random.Random(505), {"train": 500, "eval": 100, "test": 100})
    for split, rows in word_math.items():
        write_json(TRACE_DIR / f"{split}.json", rows)

    general = make_general()
    write_jsonl(GENERAL_DIR / "text.jsonl", general)
    questions = make_questions()
    write_jsonl(GENERAL_DIR / "questions.jsonl", questions)

    print(f"topic {len(topic)}, facts2text {len(facts)}, letters {len(letters)}, "
          f"capitals {len(capitals)} (multiple choice {len(capitals_mc)}), word_math "
          + "/".join(str(len(rows)) for rows in word_math.values())
          + f", general {len(general)}, questions {len(questions)}")


if __name__ == "__main__":
    main()
