"""The cluster profile's views on OpenSearch (ARCHITECTURE.md §3: search).

Each module implements one projection's ports with plain, documented opensearch-py calls:
index aliases over versioned indices (so a rebuild can fill a new version and switch reads
with one atomic alias update) and the bulk helper for writes.
"""
