"""The call scripts say the configured hospital, and mark it clearly when none is configured."""
from __future__ import annotations

import pytest

from callcenter import config as configuration


def test_given_site_section_in_file_when_loaded_then_hospital_name_and_callback_number_set(tmp_path):
    path = tmp_path / "callcenter.toml"
    path.write_text('[site]\nhospital_name = "St. Example"\ncallback_number = "+1 415 555 0100"\n')

    cfg = configuration.load(path, env={})

    assert (cfg.site.hospital_name, cfg.site.callback_number) == ("St. Example", "+1 415 555 0100")


def test_given_unknown_site_key_when_loaded_then_error_names_it(tmp_path):
    path = tmp_path / "callcenter.toml"
    path.write_text('[site]\nhospital = "x"\n')

    with pytest.raises(configuration.ConfigError, match="hospital"):
        configuration.load(path, env={})
