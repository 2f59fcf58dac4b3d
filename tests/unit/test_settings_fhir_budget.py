"""CDS_FHIR_MAX_BYTES_PER_CALL: read at start-up like every setting, refused when unusable."""

from __future__ import annotations

import pytest

from cds_service.settings import Settings, SettingsError


def test_the_budget_defaults_to_what_a_request_may_carry_in_its_prefetch():
    settings = Settings.from_environ({})
    assert settings.fhir_max_bytes_per_call == settings.max_request_bytes == 5 * 1024 * 1024


def test_the_budget_is_read_from_the_environment():
    settings = Settings.from_environ({"CDS_FHIR_MAX_BYTES_PER_CALL": "1048576"})
    assert settings.fhir_max_bytes_per_call == 1048576


@pytest.mark.parametrize("value", ["0", "-1", "5MB", "1.5"])
def test_an_unusable_budget_stops_the_service_naming_the_variable(value):
    with pytest.raises(SettingsError, match="CDS_FHIR_MAX_BYTES_PER_CALL"):
        Settings.from_environ({"CDS_FHIR_MAX_BYTES_PER_CALL": value})
