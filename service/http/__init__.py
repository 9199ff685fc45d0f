"""What every request passes through: sign-in and roles, hardening, readiness."""
