"""Arena: pairwise battles between models, judged by people, an LLM or reference answers, and rated
the way Chatbot Arena rates them (Bradley-Terry with bootstrap intervals, online Elo)."""
