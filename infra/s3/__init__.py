"""The S3 blob store."""
