"""One module per API resource; they never import each other."""
