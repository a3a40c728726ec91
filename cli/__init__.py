"""The `paperlake` command: the top floor. It may import every other package; none imports it."""
