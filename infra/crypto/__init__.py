"""Encryption of personal data in the event log (crypto-shredding)."""
