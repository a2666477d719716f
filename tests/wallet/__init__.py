"""Wallet, ledger and withdrawal tests."""
