"""Files leaving and entering a folder: ignore rules, packing, archives, sync and digests."""
