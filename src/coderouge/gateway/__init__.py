"""The gateway: an OpenAI-compatible server that routes across providers (failover, keys, budgets, redaction)."""
