"""Multiple-choice benchmarks named and prompted as in lm-evaluation-harness, one small module each.
Reach them through `coderouge.evals.get_task(name, shots=None)`."""
