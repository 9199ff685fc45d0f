"""Items: imports (staged, all-or-nothing), their shapes, updates of unjudged items."""
