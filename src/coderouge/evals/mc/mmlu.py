"""MMLU (Hendrycks et al.), 57 subjects, test set (14,042 questions) with 5-shot examples from dev.
CSV per subject with header question,choice0..choice3,answer (answer 0-3).

lm-eval mmlu (default template): description "The following are multiple choice questions (with
answers) about {subject}.\\n\\n", then the first k dev questions of the subject (first_n sampler),
each "{question}\\nA. …\\nB. …\\nC. …\\nD. …\\nAnswer: {letter}\\n\\n", then the test question the
same way up to "Answer:", scored over the continuations " A", " B", " C", " D". Reported: accuracy
per subject and their mean (macro average), lm-eval's 5-shot by default.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ...errors import TaskFileError
from .. import data
from ..data import DataFile
from ..task_types import Task
from .common import (
    FEWSHOT_DELIMITER,
    Doc,
    build_task,
    make_item,
    matches_pin,
    resolve_shots,
)
from .mmlu_pins import MMLU_SHA256

MIRROR = "https://raw.githubusercontent.com/HaeChan0305/MLILAB-FedLLM/d92730e8bacd7b3a61e551e015e40588e10234b4/data/mmlu"
SUBJECTS = tuple(sorted(MMLU_SHA256))
HEADER = ["question", "choice0", "choice1", "choice2", "choice3", "answer"]
LETTERS = ("A", "B", "C", "D")
PROMPT = ("The following are multiple choice questions (with answers) about {subject}.\\n\\n"
          "[k dev examples]{question}\\nA. {choice0}\\nB. {choice1}\\nC. {choice2}\\nD. {choice3}\\nAnswer:" + " {A|B|C|D}")


def data_file(subject: str, split: str) -> DataFile:
    sha = MMLU_SHA256[subject][0 if split == "test" else 1]
    return DataFile(f"mmlu/{split}/{subject}_{split}.csv", f"{MIRROR}/{split}/{subject}_{split}.csv", sha,
                    f"MMLU {subject.replace('_', ' ')} ({split})")


def read_csv(path: Path, subject: str, split: str) -> list[Doc]:
    what = "MMLU"
    docs = []
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f, strict=True)
            start = 1
            for row in reader:
                line = start
                start = reader.line_num + 1
                if line == 1:
                    if row != HEADER:
                        raise TaskFileError(str(path), 1, f"{what}: header should be {','.join(HEADER)}")
                    continue
                if not row:
                    continue
                if len(row) != 6:
                    raise TaskFileError(str(path), line, f"{what}: {len(row)} fields, expected 6 (file truncated?)")
                question, choices, answer = row[0], tuple(row[1:5]), row[5].strip()
                if not question.strip():
                    raise TaskFileError(str(path), line, f"{what}: empty question")
                if answer not in ("0", "1", "2", "3"):
                    raise TaskFileError(str(path), line, f"{what}: answer must be 0-3, got {row[5]!r}")
                q = question.strip()
                query = q + "".join(f"\n{LETTERS[j]}. {c}" for j, c in enumerate(choices)) + "\nAnswer:"
                name = f"mmlu-{subject}-{len(docs) + 1}" if split == "test" else f"mmlu-{subject}-dev-{len(docs) + 1}"
                docs.append(Doc(name, query, choices, int(answer), q,
                                group=subject, targets=LETTERS))
    except csv.Error as e:
        raise TaskFileError(str(path), reader.line_num, f"{what}: bad CSV: {e} (file truncated?)") from None
    except UnicodeDecodeError as e:
        raise TaskFileError(str(path), None, f"{what}: not UTF-8 text: {e}") from None
    if not docs:
        raise TaskFileError(str(path), None, f"{what}: no questions")
    return docs


def description(subject: str) -> str:
    return f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.{FEWSHOT_DELIMITER}"


def mmlu(shots: int | None = None, seed: int = 1234, subjects: tuple[str, ...] = SUBJECTS) -> Task:
    k = resolve_shots("mmlu", shots, 5, 5, "the first k of each subject's 5 dev questions, as lm-eval")
    items = []
    files = []
    for subject in subjects:
        test_df, dev_df = data_file(subject, "test"), data_file(subject, "dev")
        test_path, dev_path = data.resolve(test_df), data.resolve(dev_df)
        files += [(test_path, test_df), (dev_path, dev_df)]
        dev = read_csv(dev_path, subject, "dev")
        if len(dev) < k:
            raise TaskFileError(str(dev_path), None, f"MMLU: {len(dev)} dev questions, --shots {k} needs {k}")
        shots_docs = dev[:k]
        prefix = description(subject) + "".join(d.shot() + FEWSHOT_DELIMITER for d in shots_docs)
        items += [make_item(d, prefix, shots_docs) for d in read_csv(test_path, subject, "test")]
    return build_task("mmlu", tuple(items), metric="acc", shots=k, seed=seed,
                      description=f"MMLU test, {len(subjects)} subjects, {k}-shot from dev; macro average over subjects",
                      prompt_format=PROMPT, pinned=matches_pin(files), source=MIRROR,
                      fewshot_source="first k dev questions of the subject (lm-eval first_n)", aggregate="macro",
                      seeded=False, groups=len(subjects))
