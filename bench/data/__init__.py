"""Package data: GPU catalog, prompt sets."""
