"""Export: one module per format, a content-addressed cache, and the numerics check."""
