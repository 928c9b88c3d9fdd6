"""Fairness audit: per-group error rates, intervals, disparity, explanations and the HTML report."""
