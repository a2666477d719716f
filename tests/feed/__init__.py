"""Event feed and ack tests."""
