"""Feedback: what clinicians did with the cards, stored and reported.

`store` keeps feedback entries with every override reason; `issued_cards` records each card
issued (or computed silently) and `suggested_changes` what its suggestions change; `report`
(with `report_queries`, `report_model` and `report_html`) is `cds-feedback-report`.
"""
