"""Services over the store and indices: search, feed, recommendations, digests."""
