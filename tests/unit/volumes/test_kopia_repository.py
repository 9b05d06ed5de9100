"""kopia repositories in Velero's layout, their command lines and the pod snippet (pure parts)."""
import pytest

from ansible_collections.kubedr.backup.plugins.module_utils.common.errors import InvalidOptionError
from ansible_collections.kubedr.backup.plugins.module_utils.volumes import kopia
from ansible_collections.kubedr.backup.plugins.module_utils.volumes.kopia import KopiaRepository

MINIO = {"provider": "s3", "bucket": "velero", "prefix": "/team-a/", "endpoint_url": "http://minio:9000",
         "access_key": "AKIAEXAMPLE", "secret_key": "s3cr3t-key"}


def test_s3_repository_follows_velero_prefix_and_endpoint():
    repo = KopiaRepository.from_storage_location(MINIO, "shop", password="static-passw0rd")
    # Velero: path.Join(prefix, "kopia", namespace) + "/"; endpoint = the URL's host, TLS off for http.
    assert repo.storage_args() == ["s3", "--bucket=velero", "--prefix=team-a/kopia/shop/", "--endpoint=minio:9000",
                                   "--disable-tls"]
    assert repo.identifier == "s3:http://minio:9000/velero/team-a/kopia/shop"


def test_no_prefix_and_aws_endpoint():
    loc = {"bucket": "b", "region": "eu-west-1"}
    repo = KopiaRepository.from_storage_location(loc, "web")
    assert repo.storage_args() == ["s3", "--bucket=b", "--prefix=kopia/web/", "--endpoint=s3-eu-west-1.amazonaws.com",
                                   "--region=eu-west-1"]


def test_tls_options_reach_kopia_without_secrets():
    loc = dict(MINIO, endpoint_url="https://minio:9000", validate_certs=False, aws_ca_bundle="/etc/ca.pem")
    args = KopiaRepository.from_storage_location(loc, "shop", password="pw-123").storage_args()
    assert "--disable-tls" not in args
    assert "--disable-tls-verification" in args and "--root-ca-pem-path=/etc/ca.pem" in args
    assert not [a for a in args if "s3cr3t" in a or "AKIA" in a or "pw-123" in a]


def test_filesystem_repository_is_a_directory_beside_restic():
    repo = KopiaRepository.from_storage_location({"provider": "filesystem", "path": "/srv/b", "prefix": "p"}, "shop")
    assert repo.storage_args() == ["filesystem", "--path=/srv/b/p/kopia/shop"]


@pytest.mark.parametrize("namespace", ["", None, "a/b"])
def test_a_volume_namespace_is_required(namespace):
    with pytest.raises(InvalidOptionError):
        KopiaRepository.from_storage_location(MINIO, namespace)


def test_endpoint_with_a_path_is_refused_as_velero_does():
    with pytest.raises(InvalidOptionError):
        KopiaRepository.from_storage_location(dict(MINIO, endpoint_url="http://minio:9000/sub"), "shop")


def test_identifier_round_trip():
    repo = KopiaRepository.from_storage_location(MINIO, "shop", password="pw")
    again = KopiaRepository.from_identifier(repo.identifier, MINIO, password="pw")
    assert again.storage_args() == repo.storage_args()
    local = KopiaRepository.from_storage_location({"provider": "filesystem", "path": "/srv/b"}, "shop")
    assert KopiaRepository.from_identifier(local.identifier).storage_args() == local.storage_args()


def test_secrets_only_in_the_environment():
    repo = KopiaRepository.from_storage_location(MINIO, "shop", password="pw-123")
    env = repo.env({"PATH": "/bin", "KOPIA_CONFIG_PATH": "/elsewhere", "KOPIA_PASSWORD": "old"})
    assert env == {"PATH": "/bin", "KOPIA_PASSWORD": "pw-123", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
                   "AWS_SECRET_ACCESS_KEY": "s3cr3t-key"}
    argv = kopia.connect_command(repo, "/t/c", "/t/cache") + kopia.create_command(repo, "/t/c", "/t/cache")
    assert not [a for a in argv if any(secret in a for secret in repo.secrets())]
    assert "--override-username=default" in argv and "--override-hostname=default" in argv


def test_password_is_required():
    with pytest.raises(InvalidOptionError, match="password"):
        KopiaRepository.from_storage_location(MINIO, "shop").stdin_env()


def test_pod_script_reads_secrets_from_stdin_and_cleans_up():
    repo = KopiaRepository.from_storage_location(MINIO, "shop", password="pw-123")
    script = kopia.pod_script(repo, ["snapshot", "list", "--json"], create=True, cwd="/host_pods/u/volumes/x/data")
    for secret in repo.secrets():
        assert secret not in script
    assert "IFS= read -r KOPIA_PASSWORD" in script and "IFS= read -r AWS_SECRET_ACCESS_KEY" in script
    assert "trap 'rm -rf \"$work\"' EXIT" in script
    assert '--config-file="$work/repository.config"' in script and '--cache-directory="$work/cache"' in script
    assert "repository create s3" in script  # create only when the connect says "not initialized"
    assert "cd /host_pods/u/volumes/x/data" in script
    assert kopia.pod_stdin(repo) == "pw-123\nAKIAEXAMPLE\ns3cr3t-key\n"
    assert "repository create" not in kopia.pod_script(repo, None)


def test_pod_stdin_refuses_a_line_break():
    repo = KopiaRepository.from_storage_location(MINIO, "shop", password="pw\nx")
    with pytest.raises(InvalidOptionError):
        kopia.pod_stdin(repo)


@pytest.mark.parametrize("stderr,kind,cls", [
    ("ERROR error connecting to repository: repository not initialized in the provided storage", "not_found",
     kopia.KopiaRepositoryNotFound),
    ("ERROR error connecting to repository: invalid repository password", "wrong_password", kopia.KopiaError),
    ("ERROR found existing data in storage location", "already_exists", kopia.KopiaError),
    ("dial tcp 127.0.0.1:9: connect: connection refused", "unreachable", kopia.KopiaError),
    ("something else", "failed", kopia.KopiaError),
])
def test_errors_are_classified_and_scrubbed(stderr, kind, cls):
    error = kopia.error_from_result("connect", "s3:x", 1, stderr + " pw-123", ["pw-123"])
    assert type(error) is cls and error.kind == kind  # pylint: disable=unidiomatic-typecheck  # exactly cls, not a subclass
    assert "pw-123" not in str(error) and "********" in str(error)


def test_missing_binary_is_named():
    error = kopia.error_from_result("connect", "s3:x", 127, "sh: kopia: not found", [])
    assert error.kind == "not_installed"
