"""Citizen voice: anonymous one-per-resident tokens, posts, and what residents say."""
