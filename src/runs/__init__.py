"""Run dirs: the one owner of what a run writes, under which names, and how runs are found."""
