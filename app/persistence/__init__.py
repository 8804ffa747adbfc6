"""The only place that builds SQL strings or COPY streams."""
