//! `package_facts` and `service_facts` against the local host: each gathers in one round trip
//! (its probe, which read-ahead can send with the play's others) and changes nothing. The
//! facts themselves are compared with Ansible's on lab hosts in `tests/facts_modules_e2e.rs`.

mod common;

use common::Env;
use serde_json::json;

#[tokio::test]
async fn package_facts_reads_dpkg_in_one_round_trip() {
    let env = Env::new();
    let has_dpkg = std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "dpkg"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let r = env.run("package_facts", json!({})).await;
    assert_eq!(env.host.reset(), (1, 0), "one probe, no upload");
    assert!(!r.changed);
    match has_dpkg {
        Some(version) => {
            let dpkg = &r.data["ansible_facts"]["packages"]["dpkg"][0];
            assert_eq!(dpkg["version"], version.as_str(), "{r:?}");
            assert_eq!(dpkg["source"], "apt");
        }
        None => assert!(r.failed, "{r:?}"),
    }
    let r = env
        .run("package_facts", json!({"manager": ["portage"]}))
        .await;
    assert!(r.failed, "{r:?}");
    assert_eq!(
        r.data["warnings"][0],
        "Requested package manager portage was not usable by this module: etcdplay does not \
         read its database"
    );
}

#[tokio::test]
async fn service_facts_gathers_in_one_round_trip() {
    let env = Env::new();
    let r = env.run("service_facts", json!({})).await;
    assert_eq!(env.host.reset(), (1, 0), "one probe, no upload");
    assert!(!r.changed && !r.failed, "{r:?}");
    assert!(
        r.skipped || r.data["ansible_facts"]["services"].is_object(),
        "{r:?}"
    );
}
