"""Natural-language understanding: intents, entities and language of a borrower's message."""
