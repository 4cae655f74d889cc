"""Passwords, tokens, login limits (in process)."""
