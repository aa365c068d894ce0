"""Logistic grid, meta-regression, sensitivity table and survival models (numpy, on the driver)."""
