"""Model registry, shipped configs, pipeline building and offline tokenizers."""
