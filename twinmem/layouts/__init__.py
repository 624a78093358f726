"""Canonical weight layouts and their mappings onto torch's and Keras' built-in layers, one module per layer kind."""
