"""PRS-CS inside the pipeline: the ``weights`` stage (docs/prscs.md).

Worker-side modules (run inside Spark's Python workers, numpy/h5py only, never Hail):
:mod:`gig`, :mod:`sampler`, :mod:`sumstats`, :mod:`ldref`, :mod:`matching`, :mod:`tasks`.
Driver-side: :mod:`stage` (the stage) and :mod:`build` (the LD reference builder, Hail).
"""
