"""Encryption is a choice made in the task: KUBEDR_ENCRYPTION_PASSPHRASE alone never encrypts a new
backup; it supplies the passphrase when the task asks for encryption, and reads an encrypted backup."""
import base64
import json
import os

import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.storage import encryption as crypto

ENV = {"KUBEDR_ENCRYPTION_PASSPHRASE": "from-the-environment"}
STORE = object()  # open_backup only wraps it


def written(store, option, environ):
    return crypto.open_backup(store, option, None, "backup b", new=True, environ=environ)


def document_of(encrypted_store):
    return {"metadata": {"annotations": dict(encrypted_store.annotations)}}


def test_the_environment_alone_never_encrypts_a_new_backup():
    assert written(STORE, None, ENV) is STORE


def test_the_task_asks_and_the_environment_gives_the_passphrase():
    sealed = written(STORE, {"enabled": True, "passphrase": None, "key": None}, ENV)
    assert isinstance(sealed, crypto.EncryptedStore)
    params = json.loads(sealed.annotations[crypto.ANNOTATION])
    assert params["kdf"] == "scrypt"
    # The variable's passphrase opens it; another one does not.
    reopened = crypto.open_backup(STORE, None, document_of(sealed), "backup b", environ=ENV)
    assert reopened.cipher.check_value == sealed.cipher.check_value
    with pytest.raises(crypto.DecryptionError, match="wrong encryption key"):
        crypto.open_backup(STORE, None, document_of(sealed), "backup b", environ={"KUBEDR_ENCRYPTION_PASSPHRASE": "x"})


def test_enabled_false_writes_plain_even_with_a_passphrase():
    assert written(STORE, {"enabled": False, "passphrase": "p", "key": None}, ENV) is STORE


def test_asked_without_any_secret_is_an_option_error():
    with pytest.raises(InvalidOptionError, match="neither encryption.passphrase nor encryption.key.*"
                                                 "KUBEDR_ENCRYPTION_PASSPHRASE is not set"):
        written(STORE, {"enabled": True, "passphrase": None, "key": None}, {})


def test_an_encrypted_backup_without_any_secret_names_both_ways():
    sealed = written(STORE, {"passphrase": "p"}, {})
    with pytest.raises(crypto.DecryptionError, match="give the encryption option .* or set KUBEDR_ENCRYPTION_PASSPHRASE"):
        crypto.open_backup(STORE, None, document_of(sealed), "backup b", environ={})


def test_an_explicit_key_wins_over_the_environment():
    key = base64.b64encode(os.urandom(32)).decode()
    sealed = written(STORE, {"key": key}, ENV)
    assert json.loads(sealed.annotations[crypto.ANNOTATION])["kdf"] == "raw"
    reopened = crypto.open_backup(STORE, {"key": key, "passphrase": None}, document_of(sealed), "backup b", environ=ENV)
    assert reopened.cipher.check_value == sealed.cipher.check_value


def test_an_unencrypted_backup_is_read_as_it_is_whatever_the_environment():
    plain = {"metadata": {"annotations": {}}}
    assert crypto.open_backup(STORE, None, plain, "backup b", environ=ENV) is STORE
