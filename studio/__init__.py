"""The application every front door shares (the Discord bot, the command line): no discord, no click, no torch."""
