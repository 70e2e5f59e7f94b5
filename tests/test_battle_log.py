import json

import pytest

from coderouge.arena.battle_log import check_record, read_battles, write_battles
from coderouge.errors import BattleLogError, UsageError


def rec(a="openai/gpt-4o-mini", b="local/gemma-3-270m", winner="model_a", **extra):
    return {"model_a": a, "model_b": b, "winner": winner, "tstamp": 1718000000.5, "anony": True, **extra}


RECORDS = [
    rec(),
    rec("local/gemma-3-270m", "fake/echo", "tie", question_id="q7", judge="arena_user_1", language="English"),
    rec("fake/echo", "openai/gpt-4o-mini", "tie (bothbad)", anony=False),
    {**rec(winner="model_b"), "tstamp": 1718000100, "conversation_a": [{"role": "user", "content": "héllo"}]},
]


def test_round_trip_keeps_every_field(tmp_path):
    path = tmp_path / "clean_battle.json"
    assert write_battles(path, RECORDS) == 4
    assert json.loads(path.read_text(encoding="utf-8")) == RECORDS  # a plain JSON array
    assert read_battles(path) == RECORDS
    again = tmp_path / "again.json"
    write_battles(again, read_battles(path))
    assert again.read_text(encoding="utf-8") == path.read_text(encoding="utf-8")


def test_reads_json_lines(tmp_path):
    path = tmp_path / "battles.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n\n", encoding="utf-8")
    assert read_battles(path) == RECORDS


def test_reads_fastchat_style_indented_array(tmp_path):
    path = tmp_path / "clean_battle_20240101.json"
    path.write_text(json.dumps(RECORDS, indent=2), encoding="utf-8")
    assert read_battles(path) == RECORDS


def test_empty_logs(tmp_path):
    (tmp_path / "a.json").write_text("[]", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text("", encoding="utf-8")
    assert read_battles(tmp_path / "a.json") == [] == read_battles(tmp_path / "b.jsonl")
    write_battles(tmp_path / "c.json", [])
    assert read_battles(tmp_path / "c.json") == []


def bad_file(tmp_path, records, jsonl=False):
    path = tmp_path / ("bad.jsonl" if jsonl else "bad.json")
    text = "\n".join(json.dumps(r) for r in records) if jsonl else json.dumps(records)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("jsonl", [False, True])
@pytest.mark.parametrize(
    "broken, field, words",
    [
        (rec(winner="model_c"), "winner", "'model_c' is not one of"),
        (rec(winner=None), "winner", "None is not one of"),
        (rec(a="fake/echo", b="fake/echo"), "model_b", "self-battle"),
        ({k: v for k, v in rec().items() if k != "tstamp"}, "tstamp", "missing"),
        ({k: v for k, v in rec().items() if k != "model_a"}, "model_a", "missing"),
        (rec(tstamp="1718000000"), "tstamp", "finite number"),
        (rec(tstamp=True), "tstamp", "finite number"),
        (rec(anony="yes"), "anony", "true or false"),
        (rec(anony=1), "anony", "true or false"),
        (rec(a=7), "model_a", "non-empty model name"),
        (rec(b=""), "model_b", "non-empty model name"),
    ],
)
def test_rejections_name_file_record_and_field(tmp_path, jsonl, broken, field, words):
    path = bad_file(tmp_path, [rec(), rec(), broken, rec()], jsonl)
    with pytest.raises(BattleLogError) as e:
        read_battles(path)
    err = e.value
    assert isinstance(err, ValueError) and isinstance(err, UsageError)
    assert (err.record, err.field) == (3, field)
    assert str(path) in str(err) and "record 3" in str(err) and repr(field) in str(err) and words in str(err)


def test_rejects_nan_timestamp_and_non_objects(tmp_path):
    path = tmp_path / "nan.json"
    path.write_text('[{"model_a": "x", "model_b": "y", "winner": "tie", "tstamp": NaN, "anony": true}]', "utf-8")
    with pytest.raises(BattleLogError, match=r"record 1: field 'tstamp'"):
        read_battles(path)
    with pytest.raises(BattleLogError, match=r"record 2: a record must be a JSON object, got list"):
        read_battles(bad_file(tmp_path, [rec(), ["x", "y", "tie"]]))


def test_bad_json_names_the_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(rec()) + "\n\n" + '{"model_a": "x",\n', encoding="utf-8")
    with pytest.raises(BattleLogError, match=r"broken\.jsonl: record 2: line 3 is not valid JSON"):
        read_battles(path)
    arr = tmp_path / "broken.json"
    arr.write_text("[\n" + json.dumps(rec()) + ",\n{oops}\n]", encoding="utf-8")
    with pytest.raises(BattleLogError, match=r"broken\.json: not valid JSON \(line 3"):
        read_battles(arr)
    with pytest.raises(BattleLogError, match="cannot read"):
        read_battles(tmp_path / "missing.json")


def test_write_checks_records_and_leaves_no_partial_file(tmp_path):
    path = tmp_path / "out.json"
    write_battles(path, RECORDS)
    before = path.read_text(encoding="utf-8")
    with pytest.raises(BattleLogError, match=r"record 2: field 'winner'"):
        write_battles(path, [rec(), rec(winner="draw")])
    with pytest.raises(BattleLogError, match=r"record 1: cannot be written as JSON"):
        write_battles(path, [rec(score=float("nan"))])
    assert path.read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_check_record_returns_a_copy():
    r = rec(extra=1)
    out = check_record(r, 1)
    assert out == r and out is not r


def test_winner_values_are_defined_once():
    """Battles, battle logs and ratings take their winner values from types.WINNERS; the store's schema
    (its first migration's CHECK constraint, never edited) allows exactly those values."""
    import re
    from pathlib import Path

    from coderouge import types
    from coderouge.arena import battle_log, battles, ratings

    assert battles.WINNERS is battle_log.WINNERS is types.WINNERS == tuple(types.WINNER_SCORE)
    assert ratings.WINNER_SCORE is types.WINNER_SCORE
    src = (Path(types.__file__).parent / "store" / "migrations.py").read_text()
    check = re.search(r"winner IS NULL OR winner IN \((.*?)\)\"", src)
    assert check and tuple(re.findall(r"'([^']*)'", check.group(1))) == types.WINNERS
