"""Domain operations: they flush, the request or task boundary commits once."""
