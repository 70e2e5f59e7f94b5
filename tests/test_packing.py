"""How log-likelihood requests are packed into llama.cpp decode calls (pure planning, no model)."""

import pytest

from coderouge.errors import BadRequestError
from coderouge.providers.local import plan_packs

LIMITS = dict(window=4096, soft_rows=512, max_seqs=256, max_outputs=256)


def test_a_shared_prefix_is_one_row_with_every_sequence_id():
    # two items sharing a 5-token "few-shot" prefix [1 2 3 4 5], each with its own question and two choices
    seqs = [([1, 2, 3, 4, 5, 10, 11, 20], 7), ([1, 2, 3, 4, 5, 10, 11, 21, 22], 7),
            ([1, 2, 3, 4, 5, 12, 13, 30], 7), ([1, 2, 3, 4, 5, 12, 13, 31], 7)]
    (p,) = plan_packs(seqs, **LIMITS)
    assert p.seqs == [0, 1, 2, 3]
    # the last token of a sequence is only predicted, never fed
    assert p.token == [1, 2, 3, 4, 5, 10, 11, 21, 12, 13]
    assert p.pos == [0, 1, 2, 3, 4, 5, 6, 7, 5, 6]
    assert p.ids[:5] == [[0, 1, 2, 3]] * 5  # the prefix: computed once for all four
    assert p.ids[5:] == [[0, 1], [0, 1], [1], [2, 3], [2, 3]]
    # logits only where a continuation token is predicted: after each context, and inside choice 1's tail
    assert p.logits == [0, 0, 0, 0, 0, 0, 1, 1, 0, 1]
    assert sorted(p.out_rows) == [6, 7, 9] and p.n_outputs == 3
    assert p.wanted == [(0, 6, 20), (1, 6, 21), (1, 7, 22), (2, 9, 30), (3, 9, 31)]
    # rows never come before the row they continue (llama.cpp needs a cell before it attends to it)
    for r, pos in enumerate(p.pos):
        assert pos == 0 or any(q < r and p.pos[q] == pos - 1 for q in range(r))


def test_limits_start_a_new_call():
    seqs = [([1] + [100 + i] * 10 + [7], 11) for i in range(5)]  # 11 rows each, sharing only the first token
    packs = plan_packs(seqs, window=4096, soft_rows=512, max_seqs=2, max_outputs=256)
    assert [p.seqs for p in packs] == [[0, 1], [2, 3], [4]]
    packs = plan_packs(seqs, window=25, soft_rows=512, max_seqs=256, max_outputs=256)
    assert [p.seqs for p in packs] == [[0, 1], [2, 3], [4]] and all(p.n_rows <= 25 for p in packs)
    packs = plan_packs(seqs, window=4096, soft_rows=512, max_seqs=256, max_outputs=3)
    assert [p.seqs for p in packs] == [[0, 1, 2], [3, 4]]
    # past the soft size, only sequences sharing at least half their tokens join
    packs = plan_packs(seqs, window=4096, soft_rows=15, max_seqs=256, max_outputs=256)
    assert [p.seqs for p in packs] == [[0], [1], [2], [3], [4]]
    shared = [([1] * 20 + [50 + i, 9], 21) for i in range(4)]  # 20 tokens shared, 1 new row each
    (p,) = plan_packs(shared, window=4096, soft_rows=15, max_seqs=256, max_outputs=256)
    assert p.seqs == [0, 1, 2, 3] and p.n_rows == 24


def test_a_sequence_longer_than_the_window_is_refused():
    with pytest.raises(BadRequestError, match="exceeds the scoring window 8"):
        plan_packs([(list(range(20)), 10)], window=8, soft_rows=4, max_seqs=4, max_outputs=4)


def test_identical_sequences_share_every_row():
    (p,) = plan_packs([([1, 2, 3, 4], 2), ([1, 2, 3, 4], 2)], **LIMITS)
    assert p.n_rows == 3 and p.ids == [[0, 1]] * 3
    assert p.wanted == [(0, 1, 3), (0, 2, 4), (1, 1, 3), (1, 2, 4)]
