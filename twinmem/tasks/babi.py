"""A bAbI-style question generator (Weston et al. 2015, tasks 1, 2, 3, 6 and 7), seeded, no download.

Task 1, single supporting fact: "mary went to the kitchen . ... where is mary ?" -> kitchen.
Task 2, two supporting facts: people move and pick up or drop objects; "where is the football ?"
needs the fact that someone took (or dropped) it and the fact of where that person was.

Task 3, three supporting facts: "where was the football before the kitchen ?" -> the place the
object was in before the one it is in now (it moves with whoever carries it).
Task 6, yes/no questions: task 1's stories, "is mary in the kitchen ?" -> yes / no.
Task 7, counting: "how many objects is mary carrying ?" -> none / one / two / three.

In tasks 3 and 7 an object is taken only where it lies (or, never seen yet, by whoever is there):
unlike task 2's generator, which lets a free object be picked up anywhere, kept as it was.

Encoding (what ``MemN2N`` and ``KVMemoryNetwork`` take): lower-case words, no punctuation, ids in
``VOCAB`` order with 0 = ``<pad>``. ``stories`` is int64 (B, memory_size, sentence_len), one
sentence per slot, **slot 0 = the most recent sentence** (so the temporal encoding indexes
recency), unused slots and words zero; ``query`` int64 (B, sentence_len); ``answers`` int64 (B,),
the id of the answer word; ``supporting`` int64 (B, 2), the slots of the supporting facts (the
second is -1 in task 1). Tasks 3, 6 and 7 use ``VOCAB_EXTENDED`` (``VOCAB`` and the words of their
questions and answers after it, so tasks 1 and 2 keep their ids and vocabulary size) and sentences
of ``EXTENDED_SENTENCE_LEN`` words, and return no ``supporting``.
"""

from __future__ import annotations

import numpy as np

PEOPLE = ("mary", "john", "daniel", "sandra")
LOCATIONS = ("kitchen", "garden", "hallway", "bathroom", "office", "bedroom")
OBJECTS = ("football", "apple", "milk")
MOVES = (("went", "to"), ("journeyed", "to"), ("travelled", "to"), ("moved", "to"))
TAKES = (("picked", "up"), ("grabbed",), ("got",))
DROPS = (("dropped",), ("discarded",), ("put", "down"))

VOCAB: tuple[str, ...] = ("<pad>", "where", "is", "the", *PEOPLE, *LOCATIONS, *OBJECTS) + tuple(
    sorted({w for phrase in MOVES + TAKES + DROPS for w in phrase})
)
WORD_TO_ID: dict[str, int] = {w: i for i, w in enumerate(VOCAB)}
SENTENCE_LEN = 5  # the longest sentence: "mary went to the kitchen", "john picked up the football"

COUNTS = ("none", "one", "two", "three")  # task 7's answers: as many as OBJECTS
VOCAB_EXTENDED: tuple[str, ...] = VOCAB + ("was", "before", "in", "yes", "no", "how", "many", "objects", "carrying")
VOCAB_EXTENDED += COUNTS
WORD_TO_ID_EXTENDED: dict[str, int] = {w: i for i, w in enumerate(VOCAB_EXTENDED)}
EXTENDED_SENTENCE_LEN = 7  # the longest: "where was the football before the kitchen"
TASKS = (1, 2, 3, 6, 7)
# The fewest sentences a story of each task needs (task 3: a move, a pick-up, a move elsewhere).
MIN_STORY = {1: 1, 2: 2, 3: 3, 6: 1, 7: 1}


def encode(sentence: str, sentence_len: int = SENTENCE_LEN, extended: bool = False) -> np.ndarray:
    """Word ids of a sentence, padded with 0 to ``sentence_len`` (ids of ``VOCAB_EXTENDED`` if ``extended``)."""
    words = sentence.lower().replace(".", " ").replace("?", " ").split()
    if len(words) > sentence_len:
        raise ValueError(f"Expected at most {sentence_len} words. Received: {sentence!r}")
    ids = WORD_TO_ID_EXTENDED if extended else WORD_TO_ID
    unknown = [w for w in words if w not in ids]
    if unknown:
        vocab = "VOCAB_EXTENDED" if extended else "VOCAB"
        raise ValueError(f"Expected words of {vocab}. Received unknown words {unknown} in {sentence!r}")
    return np.array([ids[w] for w in words] + [0] * (sentence_len - len(words)), dtype=np.int64)


def decode(ids: np.ndarray) -> str:
    """The words of a row of ids, padding left out (``VOCAB`` is a prefix of ``VOCAB_EXTENDED``)."""
    return " ".join(VOCAB_EXTENDED[i] for i in np.asarray(ids).ravel() if i != 0)


def _single_fact_story(rng: np.random.Generator, length: int) -> tuple[list[str], str, str, tuple[int, int]]:
    place: dict[str, str] = {}
    sentences, fact_of = [], {}
    for n in range(length):
        person, location = PEOPLE[rng.integers(len(PEOPLE))], LOCATIONS[rng.integers(len(LOCATIONS))]
        move = MOVES[rng.integers(len(MOVES))]
        sentences.append(f"{person} {' '.join(move)} the {location}")
        place[person], fact_of[person] = location, n
    person = sorted(place)[rng.integers(len(place))]
    return sentences, f"where is {person}", place[person], (fact_of[person], -1)


def _two_fact_story(rng: np.random.Generator, length: int) -> tuple[list[str], str, str, tuple[int, int]]:
    while True:  # a story is redrawn until some object's place is known at the end
        place: dict[str, str] = {}
        moved_at: dict[str, int] = {}
        holder: dict[str, str | None] = dict.fromkeys(OBJECTS)
        dropped: dict[str, tuple[str, int, int]] = {}  # object -> (place, drop fact, move fact)
        taken_at: dict[str, int] = {}
        sentences = []
        for n in range(length):
            person = PEOPLE[rng.integers(len(PEOPLE))]
            held = [o for o in OBJECTS if holder[o] == person]
            free = [o for o in OBJECTS if holder[o] is None]
            action = rng.integers(3) if person in place else 0
            if action == 1 and free:
                obj = free[rng.integers(len(free))]
                holder[obj], taken_at[obj] = person, n
                dropped.pop(obj, None)
                sentences.append(f"{person} {' '.join(TAKES[rng.integers(len(TAKES))])} the {obj}")
            elif action == 2 and held:
                obj = held[rng.integers(len(held))]
                holder[obj] = None
                dropped[obj] = (place[person], n, moved_at[person])
                sentences.append(f"{person} {' '.join(DROPS[rng.integers(len(DROPS))])} the {obj}")
            else:
                location = LOCATIONS[rng.integers(len(LOCATIONS))]
                place[person], moved_at[person] = location, n
                sentences.append(f"{person} {' '.join(MOVES[rng.integers(len(MOVES))])} the {location}")
        known = [o for o in OBJECTS if holder[o] is not None or o in dropped]
        if known:
            obj = known[rng.integers(len(known))]
            holding = holder[obj]
            if holding is not None:
                return sentences, f"where is the {obj}", place[holding], (taken_at[obj], moved_at[holding])
            location, drop_fact, move_fact = dropped[obj]
            return sentences, f"where is the {obj}", location, (drop_fact, move_fact)


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[rng.integers(len(options))]


class _World:
    """People who move, take objects where they lie and drop them (tasks 3 and 7)."""

    def __init__(self) -> None:
        self.place: dict[str, str] = {}  # person -> where they are
        self.holder: dict[str, str | None] = dict.fromkeys(OBJECTS)  # object -> who carries it
        self.lies: dict[str, str] = {}  # object -> where it was dropped
        self.history: dict[str, list[str]] = {o: [] for o in OBJECTS}  # object -> the places it has been in

    def _visit(self, obj: str, location: str) -> None:
        if not self.history[obj] or self.history[obj][-1] != location:
            self.history[obj].append(location)

    def step(self, rng: np.random.Generator) -> str:
        person = _pick(rng, PEOPLE)
        here = self.place.get(person)
        held = [o for o in OBJECTS if self.holder[o] == person]
        takeable = [o for o in OBJECTS if self.holder[o] is None and self.lies.get(o, here) == here]
        action = rng.integers(3) if here is not None else 0
        if action == 1 and takeable and here is not None:
            obj = _pick(rng, takeable)
            self.holder[obj] = person
            self.lies.pop(obj, None)
            self._visit(obj, here)
            return f"{person} {' '.join(TAKES[rng.integers(len(TAKES))])} the {obj}"
        if action == 2 and held and here is not None:
            obj = _pick(rng, held)
            self.holder[obj], self.lies[obj] = None, here
            return f"{person} {' '.join(DROPS[rng.integers(len(DROPS))])} the {obj}"
        location = _pick(rng, LOCATIONS)
        self.place[person] = location
        for obj in held:
            self._visit(obj, location)
        return f"{person} {' '.join(MOVES[rng.integers(len(MOVES))])} the {location}"


def _three_fact_story(rng: np.random.Generator, length: int) -> tuple[list[str], str, str]:
    while True:  # redrawn until some object has been in two places
        world = _World()
        sentences = [world.step(rng) for _ in range(length)]
        moved = [o for o in OBJECTS if len(world.history[o]) >= 2]
        if moved:
            obj = _pick(rng, moved)
            now, before = world.history[obj][-1], world.history[obj][-2]
            return sentences, f"where was the {obj} before the {now}", before


def _yes_no_story(rng: np.random.Generator, length: int) -> tuple[list[str], str, str]:
    sentences, question, place, _ = _single_fact_story(rng, length)
    person = question.split()[-1]
    asked = place if rng.integers(2) else _pick(rng, [loc for loc in LOCATIONS if loc != place])
    return sentences, f"is {person} in the {asked}", "yes" if asked == place else "no"


def _counting_story(rng: np.random.Generator, length: int) -> tuple[list[str], str, str]:
    world = _World()
    sentences = [world.step(rng) for _ in range(length)]
    person = _pick(rng, sorted(world.place))
    count = sum(world.holder[o] == person for o in OBJECTS)
    return sentences, f"how many objects is {person} carrying", COUNTS[count]


def generate_extended(
    task: int,
    batch: int,
    memory_size: int = 10,
    sentence_len: int = EXTENDED_SENTENCE_LEN,
    seed: int | np.random.SeedSequence = 0,
    min_story: int | None = None,
) -> dict[str, np.ndarray]:
    """A batch of bAbI task 3, 6 or 7 in ``VOCAB_EXTENDED`` ids; story lengths in [min_story, memory_size].

    Returns:
        stories int64 (B, memory_size, sentence_len), slot 0 = most recent; query int64
        (B, sentence_len); answers int64 (B,).
    """
    stories_of = {3: _three_fact_story, 6: _yes_no_story, 7: _counting_story}
    if task not in stories_of:
        raise ValueError(f"Expected `task` 3, 6 or 7 (generate makes 1 and 2). Received: {task!r}")
    least = MIN_STORY[task] if min_story is None else min_story
    if not MIN_STORY[task] <= least <= memory_size:
        raise ValueError(
            f"Expected {MIN_STORY[task]} <= min_story <= memory_size for task {task}. Received: {least}, {memory_size}"
        )
    rng = np.random.default_rng(seed)
    stories = np.zeros((batch, memory_size, sentence_len), np.int64)
    query = np.zeros((batch, sentence_len), np.int64)
    answers = np.zeros((batch,), np.int64)
    for b in range(batch):
        length = int(rng.integers(least, memory_size + 1))
        sentences, question, answer = stories_of[task](rng, length)
        for n, sentence in enumerate(sentences):
            stories[b, length - 1 - n] = encode(sentence, sentence_len, extended=True)  # most recent first
        query[b] = encode(question, sentence_len, extended=True)
        answers[b] = WORD_TO_ID_EXTENDED[answer]
    return {"stories": stories, "query": query, "answers": answers}


def generate(
    task: int,
    batch: int,
    memory_size: int = 10,
    sentence_len: int = SENTENCE_LEN,
    seed: int | np.random.SeedSequence = 0,
    min_story: int = 2,
) -> dict[str, np.ndarray]:
    """A batch of stories, questions and answers of bAbI task 1 or 2; story lengths in [min_story, memory_size].

    Returns:
        stories int64 (B, memory_size, sentence_len), slot 0 = most recent; query int64
        (B, sentence_len); answers int64 (B,); supporting int64 (B, 2) slots (-1 = none).
    """
    if task not in (1, 2):
        raise ValueError(f"Expected `task` 1 (single supporting fact) or 2 (two supporting facts). Received: {task!r}")
    if not 1 <= min_story <= memory_size:
        raise ValueError(f"Expected 1 <= min_story <= memory_size. Received: {min_story}, {memory_size}")
    if task == 2 and min_story < 2:
        raise ValueError(f"Expected min_story >= 2 for task 2 (a move, then a pick-up). Received: {min_story}")
    rng = np.random.default_rng(seed)
    stories = np.zeros((batch, memory_size, sentence_len), np.int64)
    query = np.zeros((batch, sentence_len), np.int64)
    answers = np.zeros((batch,), np.int64)
    supporting = np.full((batch, 2), -1, np.int64)
    for b in range(batch):
        length = int(rng.integers(min_story, memory_size + 1))
        sentences, question, answer, facts = (_single_fact_story if task == 1 else _two_fact_story)(rng, length)
        for n, sentence in enumerate(sentences):
            stories[b, length - 1 - n] = encode(sentence, sentence_len)  # most recent first
        query[b] = encode(question, sentence_len)
        answers[b] = WORD_TO_ID[answer]
        supporting[b] = [length - 1 - f if f >= 0 else -1 for f in facts]
    return {"stories": stories, "query": query, "answers": answers, "supporting": supporting}
