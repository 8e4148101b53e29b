"""Client modules read one library's calls into ``Operation`` records; they know no backend."""
