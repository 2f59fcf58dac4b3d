"""Bad-knowledge cases and helpers for the knowledge tests."""
