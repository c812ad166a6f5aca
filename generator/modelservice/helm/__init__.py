"""helm."""
