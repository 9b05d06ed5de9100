"""The defaults k8s_restore documents are the engine's own: the argument spec takes them from the
engine, and the DOCUMENTATION string, which must stay a literal, states the same values."""
import pytest
import yaml

from ansible_collections.kubedr.backup.plugins.module_utils.restore import options as restore_options
from ansible_collections.kubedr.backup.plugins.modules import k8s_restore


@pytest.mark.parametrize("option, engine_default", [
    ("workers", restore_options.DEFAULT_WORKERS),
    ("max_archive_size", restore_options.DEFAULT_MAX_ARCHIVE_SIZE),
])
def test_documented_default_is_the_engine_default(option, engine_default):
    documented = yaml.safe_load(k8s_restore.DOCUMENTATION)["options"][option]["default"]
    assert documented == engine_default
    assert k8s_restore.RESTORE_ARG_SPEC[option]["default"] == engine_default
