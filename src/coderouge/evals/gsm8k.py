"""GSM8K (grade-school maths, 1,319 test problems), as lm-evaluation-harness's `gsm8k_cot`:
8-shot chain of thought with the exemplars of Wei et al. (2022), greedy decoding, the final number
extracted and compared exactly.

Prompt: "Q: {question}\\nA: {reasoning} The answer is N.\\n\\n" eight times, then
"Q: {question}\\nA:" (lm-eval's doc_to_text, target delimiter " ", few-shot delimiter "\\n\\n").
Scoring, both of lm-eval's filters:
  strict-match      the first "The answer is (-?[0-9.,]+)." in the answer
  flexible-extract  the last number in the answer (regex "(-?[$0-9.,]{2,})|(-?[0-9]+)")
each normalised like lm-eval's exact_match (commas, "$", a "#### " prefix and one trailing "."
removed, case ignored) and compared exactly to the gold after "####". The headline metric is
flexible-extract exact match (what is usually reported for base models); strict-match is in
each item's detail and `score_both()`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import TaskFileError, UsageError
from ..types import Message
from . import data
from .data import read_jsonl
from .checks import CheckResult
from .task_types import GenItem, Task

__all__ = [
    "EXEMPLARS",
    "GSM8K",
    "STOP",
    "GSM8KCheck",
    "build_prompt",
    "extract_flexible",
    "extract_strict",
    "few_shot_prefix",
    "load_gsm8k",
    "normalize",
    "score_both",
]

GSM8K = data.DataFile(
    "gsm8k/test.jsonl",
    "https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/test.jsonl",
    "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
    "GSM8K test set (openai/grade-school-math)",
)

# lm-evaluation-harness lm_eval/tasks/gsm8k/gsm8k-cot.yaml, fewshot_config.samples (first_n)
EXEMPLARS: tuple[tuple[str, str], ...] = (
    (("There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, "
     "there will be 21 trees. How many trees did the grove workers plant today?"),
     ("There are 15 trees originally. Then there were 21 trees after some more were planted. "
     "So there must have been 21 - 15 = 6. The answer is 6.")),
    ("If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
     "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5."),
    ("Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?",
     ("Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. "
     "After eating 35, they had 74 - 35 = 39. The answer is 39.")),
    (("Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. "
     "How many lollipops did Jason give to Denny?"),
     ("Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. "
     "The answer is 8.")),
    ("Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have now?",
     ("Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. "
     "5 + 4 = 9. The answer is 9.")),
    (("There were nine computers in the server room. Five more computers were installed each day, "
     "from monday to thursday. How many computers are now in the server room?"),
     ("There were originally 9 computers. For each of 4 days, 5 more computers were added. "
     "So 5 * 4 = 20 computers were added. 9 + 20 is 29. The answer is 29.")),
    (("Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. "
     "How many golf balls did he have at the end of wednesday?"),
     ("Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. "
     "After losing 2 more, he had 35 - 2 = 33 golf balls. The answer is 33.")),
    ("Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
     ("Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. "
     "So she has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8.")),
)

# lm-eval's `until` for gsm8k_cot ("Q:", "</s>", "<|im_end|>"), plus "\n\n": an answer ends at
# the blank line before the next "Q:"; a base model otherwise goes on writing new problems.
STOP = ("Q:", "</s>", "<|im_end|>", "\n\n")

_STRICT = re.compile(r"The answer is (\-?[0-9\.\,]+).")
_FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
_IGNORE = (re.compile(","), re.compile(r"\$"), re.compile(r"(?s).*#### "), re.compile(r"\.$"))
INVALID = "[invalid]"  # lm-eval's fallback when a filter finds nothing


def few_shot_prefix(shots: int = 8) -> str:
    if not 0 <= shots <= len(EXEMPLARS):
        raise UsageError(f"gsm8k: shots must be between 0 and {len(EXEMPLARS)}, got {shots}")
    return "".join(f"Q: {q}\nA: {a}\n\n" for q, a in EXEMPLARS[:shots])


def build_prompt(question: str, shots: int = 8) -> str:
    return few_shot_prefix(shots) + f"Q: {question}\nA:"


def extract_strict(text: str) -> str:
    m = _STRICT.search(text)
    return m.group(1) if m else INVALID


def extract_flexible(text: str) -> str:
    found = _FLEXIBLE.findall(text)
    if not found:
        return INVALID
    last = found[-1]
    return next((g for g in last if g), INVALID)


def normalize(s: str) -> str:
    """lm-eval's exact_match preprocessing for gsm8k_cot: regexes_to_ignore, then ignore_case."""
    for rx in _IGNORE:
        s = rx.sub("", s)
    return s.strip().lower()


def gold_answer(answer: str) -> str:
    """The gold number of a GSM8K answer: what follows "####"."""
    return answer.split("####")[-1].strip()


def score_both(text: str, gold: str) -> tuple[bool, bool]:
    """(strict-match correct, flexible-extract correct) for a model answer and a gold number."""
    g = normalize(gold)
    return normalize(extract_strict(text)) == g, normalize(extract_flexible(text)) == g


@dataclass(frozen=True)
class GSM8KCheck:
    """A GenItem check: `.score(text)` is flexible-extract exact match; the detail records both."""

    gold: str

    def score(self, text: str) -> CheckResult:
        text = text or ""
        strict, flexible = score_both(text, self.gold)
        detail = (f"strict={int(strict)} flexible={int(flexible)}; gold {self.gold}, "
                  f"strict got {extract_strict(text)!r}, flexible got {extract_flexible(text)!r}")
        return CheckResult(flexible, 1.0 if flexible else 0.0, detail)


def _read(path) -> list[dict[str, Any]]:
    rows = []
    for lineno, row in read_jsonl(path, "GSM8K record"):
        try:
            rows.append({"question": str(row["question"]), "answer": str(row["answer"])})
        except KeyError as e:
            raise TaskFileError(str(path), lineno, f"GSM8K record: missing field {e}") from None
    return rows


def load_gsm8k(shots: int = 8) -> Task:
    prefix = few_shot_prefix(shots)
    path = data.resolve(GSM8K)
    items = tuple(
        GenItem(f"gsm8k-{i}", (Message("user", prefix + f"Q: {row['question']}\nA:"),), GSM8KCheck(gold_answer(row["answer"])))
        for i, row in enumerate(_read(path), start=1)
    )
    return Task("gsm8k", "generate", items, "exact_match",
                description=f"GSM8K test (grade-school maths), {shots}-shot chain of thought as lm-eval gsm8k_cot; "
                            "exact match of the last number (flexible-extract; strict-match in the details)",
                max_tokens=256, shots=shots,
                prompt_format="Q: {question}\\nA: {chain of thought} The answer is N.\\n\\n × shots, then Q: {question}\\nA: "
                              "(one user message)",
                meta={"stop": list(STOP), "raw": True, "filter": "flexible-extract", "also": "strict-match"})
