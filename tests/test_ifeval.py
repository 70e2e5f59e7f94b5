"""IFEval: the loader, every verifiable instruction (a following and a failing response each),
strict vs loose scoring, the four metrics, and bad data."""

import json

import pytest

from coderouge.errors import TaskFileError
from coderouge.evals.checks import CheckResult
from coderouge.evals.ifeval import (
    INSTRUCTIONS,
    METRICS,
    IFEvalCheck,
    build,
    ifeval_metrics,
    load_ifeval,
    loose_variants,
    read_ifeval,
)
from coderouge.evals.ifeval.language import detect
from coderouge.evals.ifeval.textutil import count_sentences, count_words, word_tokens
from coderouge.evals.task_types import GenItem, Task
from coderouge.types import Message


@pytest.fixture(scope="module")
def task():
    return load_ifeval()


def test_loader(task):
    assert task.name == "ifeval" and task.kind == "generate"
    assert len(task.items) == 541
    assert task.metric == "prompt_level_strict_acc"
    assert task.shots == 0 and task.max_tokens == 1280
    first = task.items[0]
    assert first.id == "ifeval-1000"
    assert len(first.messages) == 1 and first.messages[0].role == "user"
    assert first.messages[0].content.startswith("Write a 300+ word summary of the wikipedia page")
    assert first.check.instruction_ids == ("punctuation:no_comma", "detectable_format:number_highlighted_sections",
                                           "length_constraints:number_words")
    assert len({it.id for it in task.items}) == 541


def test_every_instruction_id_in_data_is_implemented(task):
    used = {i for it in task.items for i in it.check.instruction_ids}
    assert used == set(INSTRUCTIONS)  # all 25, no unknown id (an unknown one fails loading)
    assert len(INSTRUCTIONS) == 25


def test_data_languages_are_supported(task):
    from coderouge.evals.ifeval.language import SUPPORTED

    langs = {ins.language for it in task.items for ins in it.check.instructions
             if ins.id == "language:response_language"}
    assert len(langs) >= 20 and langs <= set(SUPPORTED)


# (instruction id, kwargs, a following response, a failing response)
CASES = [
    ("keywords:existence", {"keywords": ["Banana", "split"]},
     "I love a banana split.", "I love a banana."),
    ("keywords:frequency", {"keyword": "cat", "frequency": 3, "relation": "at least"},
     "Cat, cat and CAT.", "cat and cat"),
    ("keywords:frequency", {"keyword": "dog", "frequency": 2, "relation": "less than"},
     "One dog only.", "dog dog"),
    ("keywords:forbidden_words", {"forbidden_words": ["red", "blue"]},
     "A reddish sky.", "The Blue sky."),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 3, "let_relation": "at least"},
     "Zazzy", "Zaza"),
    ("keywords:letter_frequency", {"letter": "a", "let_frequency": 2, "let_relation": "less than"},
     "A cup.", "A banana."),
    ("language:response_language", {"language": "de"},
     "Ich habe heute keine Zeit, aber wir sehen uns morgen auf dem Markt.",
     "I have no time today, but we will see each other at the market tomorrow."),
    ("language:response_language", {"language": "hi"},
     "मैं आज बहुत थका हुआ हूं और बाहर नहीं जाना चाहता।", "मी आज खूप थकलो आहे आणि मला बाहेर जायचे नाही."),
    ("language:response_language", {"language": "ru"},
     "Я сегодня очень устал и не хочу никуда идти.", "Днес съм много уморен и не искам да излизам навън."),
    ("language:response_language", {"language": "fa"},
     "من امروز خیلی خسته هستم و نمی‌خواهم بیرون بروم.", "أنا متعب جدا اليوم ولا أريد الخروج."),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"},
     "Mr. Smith went to Washington. He came back on Jan. 5.", "One. Two. Three."),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "at least"},
     "It costs 3.5 dollars! Really?", "It costs 3.5 dollars at e.g. www.shop.com today"),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2},
     "First part.\n***\nSecond part.\n***", "First part.\n***\n***\nSecond part."),
    ("length_constraints:number_words", {"num_words": 5, "relation": "at least"},
     "one two three four five", "one two three four"),
    ("length_constraints:number_words", {"num_words": 4, "relation": "less than"},
     "three words only", "one two three four"),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "Then"},
     "First we go.\n\n\"Then, we stop.", "First we go.\n\nAfter that, we stop."),
    ("detectable_content:number_placeholders", {"num_placeholders": 2},
     "Dear [name], at [address].", "Dear [name], at your address."),
    ("detectable_content:postscript", {"postscript_marker": "P.S."},
     "Bye.\n\nP.S. See you.", "Bye. PS see you"),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"},
     "Bye.\np. p. s. one more", "Bye.\nP.S. only one"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2},
     "Items:\n* one\n- two", "Items:\n* one\n* two\n* three"),
    ("detectable_format:constrained_response", {},
     "Thinking... My answer is maybe.", "My answer is: yes"),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2},
     "*part one* and **part two**", "*part one* and ** **"),
    ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 2},
     "SECTION 1\nIntro\nSECTION 2\nBody", "SECTION 1\nIntro\nSection 2\nBody"),
    ("detectable_format:json_format", {},
     "```json\n{\"a\": [1, 2]}\n```", "Here: {\"a\": 1}"),
    ("detectable_format:title", {},
     "<<My Poem>>\nRoses are red", "<< >>\nRoses are red"),
    ("combination:two_responses", {},
     "Answer one.\n******\nAnswer two.", "Same.\n******\nSame."),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem about cats."},
     "write a poem about cats. Cats are soft.", "Here is a poem about cats."),
    ("startend:end_checker", {"end_phrase": "Is there anything else I can help with?"},
     "Done. Is there anything else I can help with?\"", "Is there anything else I can help with? Done."),
    ("startend:quotation", {},
     '  "Hello there."  ', '"Hello there.'),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
     "This is VERY IMPORTANT.", "This is Very important, OK."),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "less than"},
     "Only ONE here.", "DON'T do THAT."),
    ("change_case:english_capital", {},
     "THIS IS ALL IN CAPITAL LETTERS, OK?", "THIS IS MOSTLY Capital."),
    ("change_case:english_capital", {},
     "THE CAT IS ON THE TABLE.", "DER HUND IST NICHT IN DEM HAUS UND ES IST KALT."),
    ("change_case:english_lowercase", {},
     "this is all in lowercase letters.", "this is not All lowercase."),
    ("change_case:english_lowercase", {},
     "the cat is on the table and it is happy.", "der hund ist nicht in dem haus und es ist kalt."),
    ("punctuation:no_comma", {},
     "No commas here.", "Yes, a comma."),
]


@pytest.mark.parametrize("iid,kwargs,good,bad", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_instruction_follows_and_fails(iid, kwargs, good, bad):
    ins = build(iid, kwargs)
    assert ins.id == iid
    assert ins.check(good) is True
    assert ins.check(bad) is False


def test_cases_cover_every_instruction():
    assert {c[0] for c in CASES} == set(INSTRUCTIONS)


def test_build_rejects_unknown_and_bad_kwargs():
    with pytest.raises(ValueError, match="unknown instruction id"):
        build("keywords:nonsense", {})
    with pytest.raises(ValueError, match="relation"):
        build("length_constraints:number_words", {"num_words": 3, "relation": "about"})
    with pytest.raises(ValueError, match="integer"):
        build("length_constraints:number_words", {"num_words": "3", "relation": "at least"})
    with pytest.raises(ValueError, match="bad kwargs"):
        build("punctuation:no_comma", {"keyword": "x"})
    # None values are dropped, as the harness does with the HF copy of the data
    assert build("punctuation:no_comma", {"keyword": None}).check("a b")


def test_text_helpers():
    assert count_words("Hello, world! It's 2024.") == 5
    assert count_sentences("Dr. Who arrived at 5.30 p.m. today. He left. Did he?") == 3
    assert count_sentences("Wait... what? Yes!") == 3
    assert word_tokens("DON'T STOP, U.S. team") == ["DO", "N'T", "STOP", ",", "U.S", ".", "team"]
    assert detect("1234 !!") is None


def _check(*pairs):
    return IFEvalCheck(tuple(i for i, _ in pairs), tuple(build(i, k) for i, k in pairs))


def test_strict_vs_loose_with_a_preamble_line():
    chk = _check(("punctuation:no_comma", {}), ("startend:quotation", {}))
    text = 'Sure, here it is:\n"A reply without commas"'
    strict, loose = chk.evaluate(text)
    assert strict == [False, False] and loose == [True, True]
    res = chk.score(text)
    assert isinstance(res, CheckResult)
    assert res.passed is False and res.score == 0.0
    assert res.detail.startswith("strict 0/2 loose 2/2")
    assert "punctuation:no_comma" in res.detail
    ok = chk.score('"A reply without commas"')
    assert ok.passed and ok.score == 1.0 and ok.detail == "strict 2/2 loose 2/2"


def test_loose_removes_markup_and_empty_fails():
    chk = _check(("startend:end_checker", {"end_phrase": "the end."}))
    assert chk.evaluate("Story... **The end.**") == ([False], [True])
    assert chk.evaluate("") == ([False], [False])
    assert chk.evaluate("   \n ") == ([False], [False])
    v = loose_variants("a\n*b*\nc")
    assert len(v) == 8 and v[0] == "a\n*b*\nc" and "*b*" in v and "b" in v


def _mini_task():
    items = (
        GenItem("a", (Message("user", "A"),), _check(("punctuation:no_comma", {}), ("detectable_format:title", {}))),
        GenItem("b", (Message("user", "B"),), _check(("startend:quotation", {}))),
        GenItem("c", (Message("user", "C"),), _check(("change_case:english_lowercase", {}),
                                                    ("length_constraints:number_words",
                                                     {"num_words": 5, "relation": "at least"}))),
        GenItem("d", (Message("user", "D"),), _check(("punctuation:no_comma", {}))),
    )
    return Task("mini", "generate", items, "prompt_level_strict_acc")


def test_metrics_hand_computed():
    texts = {
        "a": "Sure, here it is:\n<<T>>\nno commas here",  # strict: comma fails, title ok; loose: both ok
        "b": '"hello"',  # both ok
        "c": "hi there",  # lowercase ok, too few words, strict and loose
        # "d" has no response (a failed call): left out
    }
    m = ifeval_metrics(texts, _mini_task())
    assert set(m) == set(METRICS)
    assert m["prompt_level_strict_acc"] == pytest.approx(1 / 3)
    assert m["inst_level_strict_acc"] == pytest.approx(3 / 5)
    assert m["prompt_level_loose_acc"] == pytest.approx(2 / 3)
    assert m["inst_level_loose_acc"] == pytest.approx(4 / 5)
    assert ifeval_metrics({}, _mini_task()) == {}


def _write(tmp_path, rows):
    p = tmp_path / "input_data.jsonl"
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return p


GOOD = {"key": 1, "prompt": "Say hi without commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}


def test_corrupt_line_names_file_and_line(tmp_path):
    p = _write(tmp_path, [GOOD, '{"key": 2, "prompt": "x", '])
    with pytest.raises(TaskFileError) as e:
        read_ifeval(p)
    assert e.value.path == str(p) and e.value.line == 2


@pytest.mark.parametrize("bad", [
    {**GOOD, "instruction_id_list": ["keywords:unknown"]},
    {**GOOD, "kwargs": []},
    {**GOOD, "prompt": ""},
    {**GOOD, "instruction_id_list": ["keywords:frequency"], "kwargs": [{"keyword": "a", "frequency": 2}]},
])
def test_bad_record_names_line(tmp_path, bad):
    p = _write(tmp_path, [GOOD, GOOD, bad])
    with pytest.raises(TaskFileError) as e:
        load_ifeval(p)
    assert e.value.line == 3


def test_small_file_loads(tmp_path):
    t = load_ifeval(_write(tmp_path, [GOOD]))
    assert len(t.items) == 1 and t.items[0].id == "ifeval-1"
    assert t.items[0].check.score("hi there").passed


def test_engine_round_trip_with_fake_model(task):
    import asyncio

    from coderouge.evals.engine import evaluate_async
    from coderouge.providers.fake import FakeProvider
    from coderouge.runner import RunConfig, Runner

    # key 1001: "... You are not allowed to use any commas in your response." (punctuation:no_comma only)
    sub = Task("ifeval", "generate", tuple(it for it in task.items if it.id in ("ifeval-1000", "ifeval-1001")),
               task.metric, max_tokens=task.max_tokens)
    seen = []

    def script(req):
        seen.append(req)
        return "Sure, here it is:\nThou shalt go to Kyoto first and then to Nara."

    runner = Runner(None, RunConfig(progress=False), providers={"fake/x": FakeProvider("x", script=script)})
    res = asyncio.run(evaluate_async(runner, "fake/x", sub))
    assert res.n == 2 and res.errors == 0
    assert res.value == 0.0  # the comma in "Sure, here it is" fails strict for both prompts
    assert all(r.max_tokens == 1280 for r in seen)
    by_id = {o.item_id: o for o in res.items}
    assert by_id["ifeval-1001"].detail == "strict 0/1 loose 1/1; strict failed: punctuation:no_comma"
    m = ifeval_metrics({it.id: script(None) for it in sub.items}, sub)
    assert m["prompt_level_strict_acc"] == 0.0 and m["prompt_level_loose_acc"] == 0.5
    assert m["inst_level_loose_acc"] == pytest.approx(2 / 4)


# --- language identification: langdetect, seeded, as the reference ----------------------------

# realistic responses; the second code is what the hand-written heuristic this replaced said
LANGUAGE_SAMPLES = [
    ("it", "Nave bianca danza / sul mare in notte stellata / un sogno naviga"),  # a haiku; was "en"
    ("ro", "Astăzi am mers la piață împreună cu bunica mea și am cumpărat mere, pere și struguri "
           "proaspeți pentru toată familia."),  # was "vi"
    ("pl", "Wczoraj wieczorem poszliśmy z przyjaciółmi do kina, a potem długo rozmawialiśmy o filmie "
           "w małej kawiarni niedaleko rynku."),  # was "sw"
    ("uk", "Учора ввечері ми з друзями ходили до кінотеатру, а потім довго розмовляли про фільм у "
           "невеличкій кав'ярні біля площі."),  # was "ru"
    ("mk", "Вчера навечер отидовме со пријателите во кино, а потоа долго разговаравме за филмот во "
           "едно мало кафуле близу плоштадот."),  # was "bg"
    ("hi", "कल शाम हम अपने दोस्तों के साथ मॉल गए और वहाँ हमने नया smartphone देखा, जिसका camera और "
           "battery बहुत अच्छी है।"),
    ("en", "Yesterday evening we went to the cinema with our friends and talked about the film for a "
           "long time afterwards."),
]


@pytest.mark.parametrize("lang,text", LANGUAGE_SAMPLES, ids=[s[0] for s in LANGUAGE_SAMPLES])
def test_language_is_langdetects_verdict_and_repeats(lang, text):
    assert [detect(text) for _ in range(5)] == [lang] * 5
    ins = build("language:response_language", {"language": lang})
    assert all(ins.check(text) for _ in range(3))
    other = {"it": "en", "ro": "vi", "pl": "sw", "uk": "ru", "mk": "bg", "hi": "mr", "en": "it"}[lang]
    assert build("language:response_language", {"language": other}).check(text) is False


def test_language_detection_is_seeded_as_the_reference():
    import langdetect

    # google-research's instructions_test: langdetect.DetectorFactory.seed == 0
    assert langdetect.DetectorFactory.seed == 0
    from coderouge.evals.ifeval.language import SUPPORTED

    assert len(SUPPORTED) == 55 and {"it", "ro", "pl", "uk", "mk", "hi", "en", "zh-cn"} <= set(SUPPORTED)


def _reference_case_check(text, upper):
    """The reference's CapitalLettersEnglishChecker / LowercaseLettersEnglishChecker, line for line."""
    import langdetect

    try:
        return (text.isupper() if upper else text.islower()) and langdetect.detect(text) == "en"
    except langdetect.LangDetectException:
        return True


@pytest.mark.parametrize("text,upper,want", [
    # the heuristic this replaced passed both (English by default); langdetect (seed 0) says Welsh
    # for "YES" and German for "etchings", so the reference fails them
    ("YES", True, False),
    ("etchings", False, False),
    ("THE CAT IS ON THE TABLE.", True, True),
    ("the cat is on the table and it is happy.", False, True),
    ("1234 !!", False, False),  # not lower case: fails before any language check
    ("THIS IS ALL IN CAPITAL LETTERS, OK?", True, True),
    ("DER HUND IST NICHT IN DEM HAUS UND ES IST KALT.", True, False),  # upper case, but German
])
def test_case_checks_match_the_reference(text, upper, want):
    iid = "change_case:english_capital" if upper else "change_case:english_lowercase"
    ins = build(iid, {})
    assert [ins.check(text) for _ in range(3)] == [want] * 3
    assert _reference_case_check(text, upper) is want


def test_undetectable_text_counts_as_followed():
    assert detect("") is None and detect("1234 !! ...") is None
    assert build("language:response_language", {"language": "ko"}).check("12345 ???") is True


def test_detection_is_thread_safe_from_a_cold_start():
    from concurrent.futures import ThreadPoolExecutor

    from langdetect import detector_factory

    text = LANGUAGE_SAMPLES[2][1]
    detector_factory._factory = None  # as in a fresh process: profiles not loaded yet
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: detect(text), range(32)))
    assert got == ["pl"] * 32
