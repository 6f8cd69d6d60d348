"""The training scenario: the run context every paradigm gets, the shared data and precision
recipe, the paradigm adapters and the conveniences (features)."""
