"""tinydl's benchmark scripts; ``python -m benchmarks`` runs them all and prints one table."""
