"""`coderouge stress`: load tests of any OpenAI-compatible endpoint or coderouge model, measured as
vLLM's benchmark measures them (TTFT, TPOT, ITL, end-to-end latency, goodput), with the load
generator's own lag reported beside the figures."""
