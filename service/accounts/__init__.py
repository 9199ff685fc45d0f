"""Who may do what: users, sign-in, invites, API tokens, erasure."""
