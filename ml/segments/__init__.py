"""Behavioural customer segments: K-means on spend mix, basket size, frequency, recency and returns, auto-named."""
