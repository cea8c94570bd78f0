"""The local backend's durable state: the SQLite index, records, reservations, the home."""
