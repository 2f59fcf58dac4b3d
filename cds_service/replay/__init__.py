"""`cds-replay`: hook requests replayed through the service, and what it answered.

`core` replays fixture folders (shared with the test suite), `report` shows the answers,
`patient_bundle` builds hook requests from exported patient Bundles; `cli` is the command,
with `fixtures` and `patient` as its two uses and `service` what both send to.
"""
