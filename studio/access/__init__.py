"""Access for front doors other than Discord: API tokens for scripts."""
