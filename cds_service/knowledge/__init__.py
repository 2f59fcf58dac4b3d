"""The knowledge in `cards/`, loaded and validated into frozen objects at start-up."""

# Import order guard: knowledge.model needs decision.model, and the decision package's
# __init__ imports modules that need knowledge.labels. Loading the decision package first
# lets either package be imported first without a circular-import error.
import cds_service.decision  # noqa: F401
