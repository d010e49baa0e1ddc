"""Training sets built in Discord: the sets and their images (`service`), reactions (`curation`), checks."""
