"""Images: the kinds that make and read them (generate, compose for vary/edit, describe), what those kinds share
(`images`), the buttons under a result (`followups`) and the record of posted images (`posts`)."""
