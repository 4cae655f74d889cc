"""Infrastructure: settings, wiring, blob storage, image pipeline, CLI and deployment."""
