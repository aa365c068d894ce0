"""OMOP CDM readers, code lists, drug trial periods and the MDD / TRD definitions (Spark)."""
