"""The tables as the queries see them (the schema itself is made by `migrations`)."""

from __future__ import annotations

from sqlalchemy import column, table

calls = table(
    "calls",
    *(column(c) for c in ("id", "key", "created_at", "model", "base_url", "request_json", "status", "attempt", "text",
                          "stop_reason", "input_tokens", "output_tokens", "ttft_s", "latency_s", "cost_usd",
                          "error_kind", "error_status", "error_message")),
)

loglik = table("loglik", *(column(c) for c in ("key", "model", "logprob", "is_greedy", "n_tokens", "created_at")))

eval_runs = table("eval_runs", *(column(c) for c in ("id", "created_at", "model", "task", "config_json", "result_json")))

eval_items = table("eval_items", *(column(c) for c in ("run_id", "item_id", "status", "score", "detail", "call_key")))

BATTLE_COLUMNS = ("id", "created_at", "source", "judge", "prompt_set", "prompt_id", "prompt_json", "model_a", "model_b",
                  "answer_a", "answer_b", "key_a", "key_b", "winner", "judge_raw", "tstamp", "anony", "token",
                  "shown_at", "plan_key")
battles = table("battles", *(column(c) for c in BATTLE_COLUMNS))

GATEWAY_KEY_COLUMNS = ("id", "name", "key_hash", "created_at", "revoked_at", "budget_usd", "spent_usd", "rpm", "tpm",
                       "eu_only", "routes_json")
gateway_keys = table("gateway_keys", *(column(c) for c in GATEWAY_KEY_COLUMNS))

GATEWAY_REQUEST_COLUMNS = ("id", "created_at", "key_id", "route", "deployment", "status", "input_tokens",
                           "output_tokens", "cost_usd", "latency_s", "ttft_s", "error")
gateway_requests = table("gateway_requests", *(column(c) for c in GATEWAY_REQUEST_COLUMNS))


stress_runs = table("stress_runs", *(column(c) for c in ("id", "created_at", "target", "model", "config_json",
                                                         "result_json")))
STRESS_REQUEST_COLUMNS = ("run_id", "seq", "sent_s", "ttft_s", "e2e_s", "output_tokens", "chunks", "error",
                          "served_by", "warmup")
stress_requests = table("stress_requests", *(column(c) for c in STRESS_REQUEST_COLUMNS))
