"""The knowledge in `cards/`, loaded and validated into frozen objects at start-up."""
