"""The Temporal connection flags shared by `playbook run --engine temporal` and `playbook worker` (click only:
`playbook run` may not import the SDK unless asked for Temporal)."""
from __future__ import annotations

import click


def connection_options(fn):
    """--temporal-address, --namespace and the TLS / API-key flags, passed through to the SDK's client."""
    for decl, help_text in [
            ("--temporal-key-file", "Key file shared by the client and the workers: every payload the server "
                                    "keeps is encrypted with it; needed for secret inputs "
                                    "[PLAYBOOK_TEMPORAL_KEY_FILE]."),
            ("--temporal-api-key", "API key (Temporal Cloud) [TEMPORAL_API_KEY]; implies TLS."),
            ("--temporal-tls-ca", "CA certificate that signed the server's [TEMPORAL_TLS_CA]."),
            ("--temporal-tls-key", "Client private key for mTLS [TEMPORAL_TLS_KEY]."),
            ("--temporal-tls-cert", "Client certificate for mTLS [TEMPORAL_TLS_CERT]."),
            ("--namespace", "Temporal namespace [TEMPORAL_NAMESPACE or default]."),
            ("--temporal-address", "Temporal frontend HOST:PORT [TEMPORAL_ADDRESS or 127.0.0.1:7233].")]:
        fn = click.option(decl, help=help_text)(fn)
    fn = click.option("--temporal-tls", is_flag=True, help="Connect to Temporal with TLS (system CAs).")(fn)
    return fn
