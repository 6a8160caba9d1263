"""Data layer: models, the Database (engine + thread-pooled sessions), migrations and queries."""
