"""The letter method's extraction: a letter is credited only when the model clearly chose it."""

import pytest

from coderouge.evals import engine, get_task
from coderouge.evals.letters import extract_letter, picked_label

CREDITED = [
    ("B", "B"),
    ("(B)", "B"),
    ("B.", "B"),
    ("B. Paris", "B"),
    ("B) Paris", "B"),
    ("B: Paris", "B"),
    ("B - Paris", "B"),
    ("[B]", "B"),
    ("**B**", "B"),
    ("**B.** Paris is the capital.", "B"),
    ("  \n\nB\n", "B"),
    ("B is correct.", "B"),
    ("B, because Paris is the capital.", "B"),
    ("b", "B"),
    ("(c)", "C"),
    ("The answer is B", "B"),
    ("The answer is (B).", "B"),
    ("The correct answer is **D**.", "D"),
    ("Answer: B", "B"),
    ("answer: b", "B"),
    ("ANSWER: C", "C"),
    ("Answer: $B$", "B"),  # simple-evals' pattern allows the LaTeX dollars
    ("Let me think. Paris is in France.\nAnswer: B", "B"),
    ("Answer: B. The answer is B.", "B"),  # the same letter twice is one choice
    ("B\n\nExplanation: option A is a city in Italy.", "B"),
    # simple-evals' multilingual lead-ins and letters (full-width, Arabic, Bengali)
    ("Antwort: C", "C"),
    ("Respuesta: A", "A"),
    ("Réponse : D", "D"),
    ("答案：Ｂ", "B"),
    ("정답: C", "C"),
    ("الإجابة: ب", "B"),
    ("উত্তর: ড", "C"),
]

NO_CHOICE = [
    "",
    "I don't know.",
    "Paris",
    "The answer is Paris.",
    "The answer is a gas.",  # an article, not option A
    "A cat",  # the text of an option, not its letter
    "I think B",  # "I" is a pronoun; nothing states B as the answer
    "I'd go with B.",
    "A, B",
    "Answer: A\nAnswer: B",  # two different answers
    "The answer is A or the answer is C.",
    "Answer: E",  # not one of the four options
    # restating several options, as a model echoing the question does
    "A. radiation\nB. light\nC. heat\nD. sound",
    "(A) radiation\n(B) light",
    "Question: Which form of energy do plants use?\nA. radiation\nB. light\nC. heat\nD. sound\n\n"
    "Answer with the letter of the correct option only (A, B, C, D).",
]


@pytest.mark.parametrize("text,letter", CREDITED)
def test_a_clear_choice_is_credited(text, letter):
    got = extract_letter(text, 4)
    assert got is not None and picked_label(got) == letter


@pytest.mark.parametrize("text", NO_CHOICE)
def test_no_clear_choice_is_none(text):
    assert extract_letter(text, 4) is None
    assert picked_label(None) == "none"


def test_only_the_items_letters_count():
    assert extract_letter("C", 2) is None and extract_letter("Answer: C", 2) is None
    assert extract_letter("B", 2) == 1
    assert extract_letter("I", 10) == 8  # truthfulqa_mc1 has up to 13 options: "I" alone is option I
    assert extract_letter("I think so", 10) is None
    assert extract_letter("M", 13) == 12
    assert extract_letter("B", 0) is None


def test_a_stated_answer_wins_over_restated_options():
    text = "A. radiation is energy\nB. light is energy\nAnswer: B"
    assert extract_letter(text, 4) == 1


def test_echoing_every_arc_easy_prompt_picks_nothing():
    task = get_task("arc_easy")
    for it in task.items:
        prompt = engine.letter_prompt(it)[-1].text
        assert extract_letter(prompt, len(it.choices)) is None, prompt


def test_engine_uses_this_rule():
    assert engine.extract_letter is extract_letter
