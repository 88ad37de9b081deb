"""Configuration: models mirroring the Lambda API, daemon settings, the loader, AWS rules."""
