"""The board file system: listing, transfers (atomic, verified), sync primitives."""
