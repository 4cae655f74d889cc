"""The image pipeline, photo ingest, the blob store port and the filesystem store."""
