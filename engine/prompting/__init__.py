"""Prompt text, no model: the /vary and /edit composer, the words it knows, trigger words and caption clean-up
(text)."""
