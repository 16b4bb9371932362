"""The project database file: connection, schema and migrations, and the image-facts cache."""
