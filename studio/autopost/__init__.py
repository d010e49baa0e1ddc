"""Scheduled auto-posts: a channel gets images on a schedule, made with the community's LoRA."""
