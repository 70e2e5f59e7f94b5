"""What turns results into something to read: text tables (`text`), eval results as a table or
`--json` rows (`results`), arena ratings (`arena`), the progress bar (`progress`) and the demo's HTML
report (`html`). It formats what evals and arena return; it makes no model call and writes no store.
"""
