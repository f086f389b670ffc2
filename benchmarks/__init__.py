"""``make bench``: speed numbers for people, never assertions in the test suite."""
