"""The pure decision core: findings from history, order classification, ACR rating.

No Flask, requests, uuid, clock or environment in here (DESIGN.md, STYLE.md §4): plain R4B
models and the frozen Knowledge in, plain frozen decisions out.
"""

from cds_service.decision.findings import find_patient_findings
from cds_service.decision.guidance import applicable_guidance, decide
from cds_service.decision.orders import classify_order

__all__ = ["applicable_guidance", "classify_order", "decide", "find_patient_findings"]
