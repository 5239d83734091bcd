"""Outcomes the therapist can trust: pain ratings, the course, the next-day follow-up (pure, plus its store)."""
