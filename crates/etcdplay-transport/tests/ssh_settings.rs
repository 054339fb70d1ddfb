//! The inventory's extra ssh settings (`ansible_ssh_common_args`) reach the real `ssh` client:
//! against the test sshd on 127.0.0.1, a `HostName` given only there decides where ssh goes,
//! a bogus `KexAlgorithms` makes the host unreachable with ssh's own complaint, and the
//! generated client config is gone once the connection is up.

mod support;

use etcdplay_transport::{parse_ssh_args, ExecRequest, SshTransport, Transport, TransportError};
use support::Sshd;

fn leftover_configs(sshd: &Sshd) -> Vec<String> {
    std::fs::read_dir(sshd.path("c"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("etcdplay-ssh-"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn settings_from_the_inventory_are_what_ssh_uses() {
    if !support::available() {
        return;
    }
    let sshd = Sshd::start();
    // The address alone cannot resolve; only the HostName setting makes this connect.
    let mut opts = sshd.options("node1");
    opts.address = "etcdplay-test.invalid".into();
    opts.extra_settings =
        parse_ssh_args("-o HostName=127.0.0.1 -o KexAlgorithms=curve25519-sha256").unwrap();
    let t = match SshTransport::connect(opts).await {
        Ok(t) => t,
        Err(e) => panic!("connect failed: {e}\nsshd log:\n{}", sshd.log()),
    };
    let out = t.exec(ExecRequest::script("echo up")).await.unwrap();
    assert_eq!(out.stdout_str(), "up\n");
    assert_eq!(leftover_configs(&sshd), Vec::<String>::new());
    t.close().await.unwrap();

    let mut opts = sshd.options("node1");
    opts.extra_settings = parse_ssh_args("-o KexAlgorithms=no-such-kex").unwrap();
    match SshTransport::connect(opts).await {
        Err(TransportError::Unreachable { reason, .. }) => {
            assert!(reason.to_lowercase().contains("kex"), "{reason}")
        }
        other => panic!("a bogus KexAlgorithms must not connect: {other:?}"),
    }
    assert_eq!(leftover_configs(&sshd), Vec::<String>::new());
}
