# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Kubernetes connection options: the names, aliases and K8S_AUTH_* variables of kubernetes.core.
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig content as a dictionary.
      - When no connection option is given, the files of E(KUBECONFIG) (merged as kubectl merges them) or
        C(~/.kube/config) are used, and inside a pod the pod's service account (its token is read again
        every minute, as projected tokens rotate).
      - Static credentials (token, token file, client certificate, user name and password) are read
        directly; a user with a credential plugin (C(exec), C(auth-provider)) is loaded, and refreshed,
        by the C(kubernetes) Python package.
      - Several files can be given as a list separated by C(:) (C(;) on Windows), in the option or in
        E(K8S_AUTH_KUBECONFIG); they are merged as kubectl merges the files of E(KUBECONFIG) (the first file to
        set C(current-context) or to define a name wins; missing files are skipped).
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
      - The option is C(no_log). A path is shown in the result's C(invocation); a dictionary is not (its
        tokens, passwords, client keys, auth-provider configuration and credential plugin environment
        are masked wherever they would appear in the output).
    type: raw
  context:
    description:
      - The kubeconfig context to use. Can also be set with E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the Kubernetes API server. Can also be set with E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token for the API server. Can also be set with E(K8S_AUTH_API_KEY).
    type: str
  username:
    description:
      - Username for basic authentication. Can also be set with E(K8S_AUTH_USERNAME).
    type: str
  password:
    description:
      - Password for basic authentication. Can also be set with E(K8S_AUTH_PASSWORD).
    type: str
  client_cert:
    description:
      - Path to a client certificate file. Can also be set with E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the client certificate's key file. Can also be set with E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  ca_cert:
    description:
      - Path to a CA certificate used to verify the API server. Can also be set with E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Can also be set with E(K8S_AUTH_VERIFY_SSL).
      - When not set, the kubeconfig's setting applies (verification on).
    type: bool
    aliases: [verify_ssl]
  proxy:
    description:
      - HTTP proxy URL for API server connections. Can also be set with E(K8S_AUTH_PROXY).
    type: str
  no_proxy:
    description:
      - Comma-separated entries that bypass the proxy, as curl and Go read C(NO_PROXY) - a host name (it and
        its subdomains; a leading C(.) is allowed), an IP address, a CIDR such as C(10.0.0.0/8) or C(fd00::/8)
        (which covers any address of the API server's URL inside it), any of these with C(:port) (only that
        port), or C(*) for every host.
      - Can also be set with E(K8S_AUTH_NO_PROXY).
    type: str
  proxy_headers:
    description:
      - Headers sent to the proxy.
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - Colon-separated username:password for proxy basic authentication.
        type: str
      basic_auth:
        description:
          - Colon-separated username:password for basic authentication.
        type: str
      user_agent:
        description:
          - The User-Agent header value sent to the proxy. Requests to the API server carry
            C(kubedr.backup/<version> (<module>)).
        type: str
  persist_config:
    description:
      - Whether refreshed authentication tokens are saved back into the kubeconfig file.
      - Can also be set with E(K8S_AUTH_PERSIST_CONFIG).
    type: bool
  impersonate_user:
    description:
      - Username to impersonate. Can also be set with E(K8S_AUTH_IMPERSONATE_USER).
      - Pod exec (backup and restore hooks, pod volume data) is impersonated too. For a kubeconfig user with a
        credential plugin (C(exec), C(auth-provider)) the C(kubernetes) package makes the connection, and its
        websocket client sends no impersonation header, so pod exec is refused for such a user under
        impersonation and reported as an error of the run.
    type: str
  impersonate_groups:
    description:
      - Groups to impersonate, each sent as an C(Impersonate-Group) header line of its own. Can also be set
        with E(K8S_AUTH_IMPERSONATE_GROUPS).
      - Pod exec is impersonated too, with the exception given for O(impersonate_user).
    type: list
    elements: str
  api_connect_timeout:
    description:
      - Seconds to wait for the API server to accept a connection (requests and pod exec).
      - A connection refused or reset is retried with backoff; a connection not accepted within this time is
        not retried, and the run fails (V(Failed)) with a reason naming the API server.
      - Can also be set with E(KUBEDR_API_CONNECT_TIMEOUT).
      - Defaults to 10 seconds.
    type: float
  api_read_timeout:
    description:
      - Seconds to wait for any answer from the API server on an open connection (between two reads of a
        response), and for the answer to a pod exec's upgrade request.
      - A request unanswered within this time is not retried (a hung API server costs this wait once); the run
        fails (V(Failed)) with a reason naming the API server and the request.
      - Answers V(429) (API Priority and Fairness) are retried for up to 5 minutes, honouring C(Retry-After).
      - Can also be set with E(KUBEDR_API_READ_TIMEOUT).
      - Defaults to 60 seconds.
    type: float
requirements:
  - kubernetes >= 24.2.0
  - websocket-client (installed with C(kubernetes); pod exec for hooks and pod volume data)
"""

    # The same options, accepted and ignored by a module that makes no Kubernetes connection
    # (restic_repo), so that module_defaults for group/kubedr.backup.kubedr apply to it too.
    IGNORED = r"""
options:
  kubeconfig:
    description:
      - Ignored; accepted so that C(module_defaults) for C(group/kubedr.backup.kubedr) apply to this module.
      - Hidden from the output like in the other modules. Can also be set with E(K8S_AUTH_KUBECONFIG).
    type: raw
  context:
    description:
      - Ignored (see O(kubeconfig)). Can also be set with E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - Ignored (see O(kubeconfig)). Can also be set with E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Ignored (see O(kubeconfig)). Can also be set with E(K8S_AUTH_API_KEY).
    type: str
  username:
    description:
      - Ignored (see O(kubeconfig)). Can also be set with E(K8S_AUTH_USERNAME).
    type: str
  client_cert:
    description:
      - Ignored (see O(kubeconfig)). Can also be set with E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Ignored (see O(kubeconfig)). Can also be set with E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  ca_cert:
    description:
      - Ignored (see O(kubeconfig)). Can also be set with E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  validate_certs:
    description:
      - Ignored (see O(kubeconfig)); the S3 server's certificate is checked as O(storage_location.validate_certs) says.
        Can also be set with E(K8S_AUTH_VERIFY_SSL).
    type: bool
    aliases: [verify_ssl]
  proxy:
    description:
      - Ignored (see O(kubeconfig)). Can also be set with E(K8S_AUTH_PROXY).
    type: str
  no_proxy:
    description:
      - Ignored (see O(kubeconfig)). Can also be set with E(K8S_AUTH_NO_PROXY).
    type: str
  proxy_headers:
    description:
      - Ignored (see O(kubeconfig)).
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - Ignored.
        type: str
      basic_auth:
        description:
          - Ignored.
        type: str
      user_agent:
        description:
          - Ignored.
        type: str
  persist_config:
    description:
      - Ignored (see O(kubeconfig)). Can also be set with E(K8S_AUTH_PERSIST_CONFIG).
    type: bool
  impersonate_user:
    description:
      - Ignored (see O(kubeconfig)). Can also be set with E(K8S_AUTH_IMPERSONATE_USER).
    type: str
  impersonate_groups:
    description:
      - Ignored (see O(kubeconfig)). Can also be set with E(K8S_AUTH_IMPERSONATE_GROUPS).
    type: list
    elements: str
  api_connect_timeout:
    description:
      - Ignored (see O(kubeconfig)). Can also be set with E(KUBEDR_API_CONNECT_TIMEOUT).
    type: float
  api_read_timeout:
    description:
      - Ignored (see O(kubeconfig)). Can also be set with E(KUBEDR_API_READ_TIMEOUT).
    type: float
"""
