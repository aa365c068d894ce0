"""A synthetic All-of-Us-like study in the real formats, with planted effects."""
