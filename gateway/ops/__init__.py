"""Operations: logs, metrics, readiness, pre-flight checks and secrets."""
