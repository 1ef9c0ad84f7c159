"""What a user builds from the Channels tutorial: a sync consumer, an ORM write per message."""
