"""Courial Shield backend: domain services, APIs and delivery."""
