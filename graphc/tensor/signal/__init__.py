"""Signal-processing ops (``pool`` arrives with the CNN issue)."""
