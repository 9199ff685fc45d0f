"""Model judges: their config, prompts, the runner that calls them, and what their verdicts mean."""
