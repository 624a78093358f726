"""bAbI tasks 3, 6 and 7: deterministic, and every answer the one the story gives (an independent reading)."""

import numpy as np
import pytest

from twinmem.tasks import babi

TAKE_VERBS = {"picked", "grabbed", "got"}


def read_story(stories_row: np.ndarray) -> list[list[str]]:
    """The sentences of a story, oldest first (slot 0 is the most recent)."""
    return [babi.decode(s).split() for s in stories_row[::-1] if s.any()]


def world_after(sentences: list[list[str]]):
    """Where each person is, who holds what, and every place each object has been, from the words alone."""
    place, holder, lies, history = {}, {}, {}, {o: [] for o in babi.OBJECTS}
    for words in sentences:
        person, last = words[0], words[-1]
        if last in babi.LOCATIONS:
            place[person] = last
            for obj, who in holder.items():
                if who == person and history[obj][-1] != last:
                    history[obj].append(last)
        elif words[1] in TAKE_VERBS:
            assert holder.get(last) is None, f"{last} taken while held: {sentences}"
            assert lies.get(last, place[person]) == place[person], f"{last} taken where it does not lie"
            holder[last] = person
            lies.pop(last, None)
            if not history[last] or history[last][-1] != place[person]:
                history[last].append(place[person])
        else:
            assert holder.get(last) == person, f"{person} drops {last} without holding it"
            holder[last], lies[last] = None, place[person]
    return place, holder, history


@pytest.mark.parametrize("task", [3, 6, 7])
def test_extended_tasks_are_deterministic_and_shaped(task):
    a = babi.generate_extended(task, 32, memory_size=12, seed=5)
    b = babi.generate_extended(task, 32, memory_size=12, seed=5)
    c = babi.generate_extended(task, 32, memory_size=12, seed=6)
    assert all(np.array_equal(a[n], b[n]) for n in a) and not np.array_equal(a["stories"], c["stories"])
    assert a["stories"].shape == (32, 12, babi.EXTENDED_SENTENCE_LEN) and a["query"].shape == (32, 7)
    assert a["stories"].max() < len(babi.VOCAB_EXTENDED) and a["answers"].shape == (32,)


@pytest.mark.parametrize("task", [3, 6, 7])
def test_answers_follow_from_the_stories(task):
    data = babi.generate_extended(task, 200, memory_size=15, seed=1)
    answers = set()
    for row in range(200):
        place, holder, history = world_after(read_story(data["stories"][row]))
        question = babi.decode(data["query"][row]).split()
        answer = babi.VOCAB_EXTENDED[data["answers"][row]]
        answers.add(answer)
        if task == 3:  # where was the OBJ before the PLACE
            obj, now = question[3], question[-1]
            assert history[obj][-1] == now and history[obj][-2] == answer
        elif task == 6:  # is PERSON in the PLACE
            assert answer == ("yes" if place[question[1]] == question[-1] else "no")
        else:  # how many objects is PERSON carrying
            count = sum(who == question[4] for who in holder.values())
            assert answer == babi.COUNTS[count]
    expected = {6: {"yes", "no"}, 7: {"none", "one"}, 3: set()}[task]
    assert expected <= answers and len(answers) >= 2


def test_tasks_1_and_2_keep_their_vocabulary_and_ids():
    assert babi.VOCAB_EXTENDED[: len(babi.VOCAB)] == babi.VOCAB and len(babi.VOCAB) == 30
    assert babi.generate(1, 4, seed=0)["stories"].max() < len(babi.VOCAB)
    assert babi.decode(babi.encode("is mary in the kitchen", extended=True)) == "is mary in the kitchen"
    with pytest.raises(ValueError, match="VOCAB"):
        babi.encode("is mary in the kitchen")  # "in" is not a word of tasks 1 and 2
    with pytest.raises(ValueError, match="task"):
        babi.generate_extended(4, 2)
    with pytest.raises(ValueError, match="min_story"):
        babi.generate_extended(3, 2, memory_size=2)
