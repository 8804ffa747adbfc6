"""Solvency II standard formula (specs/solvency_ifrs17.md A)."""
