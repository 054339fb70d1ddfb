//! Every module etcdplay implements, in one Ansible-style playbook (`tests/e2e/all-modules`),
//! run on three lab hosts: it converges, a re-run changes nothing, `--check` with changed
//! variables reports changes but alters no host, and `--diff` prints Ansible's unified diffs.
//! The playbook keeps to /srv/etcdplay-modules-test and four `etcdplay-modtest-*` units, so the
//! etcd tests sharing the lab are never disturbed.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::*;

const AREA: &str = "/srv/etcdplay-modules-test";

/// Puts a host back to "never ran": the test's units, user, group and area removed.
const RESET: &str =
    "for u in web dummy stopped; do systemctl stop etcdplay-modtest-$u 2>/dev/null; \
    systemctl disable etcdplay-modtest-$u 2>/dev/null; done; \
    systemctl unmask etcdplay-modtest-masked.service 2>/dev/null; \
    rm -f /etc/systemd/system/etcdplay-modtest-*.service; systemctl daemon-reload; \
    userdel emtuser 2>/dev/null; groupdel emtgroup 2>/dev/null; \
    rm -rf /srv/etcdplay-modules-test /var/cache/etcdplay/archives; true";

/// Everything the playbook can touch on a host, as text: path/mode/owner/group/type/links of
/// every path, contents' sha256, unit states with main pids (a restart changes the pid), and
/// the account entries.
const LISTING: &str = "{ find /srv/etcdplay-modules-test -print0; \
    find /etc/systemd/system /etc/systemd/system/multi-user.target.wants -maxdepth 1 -name 'etcdplay-modtest-*' -print0; } \
    | sort -z | xargs -0 stat -c '%n %a %U %G %F %h'; \
    find /etc/systemd/system -maxdepth 1 -name 'etcdplay-modtest-*' -type f -exec sha256sum {} + | sort; \
    find /srv/etcdplay-modules-test -type f -exec sha256sum {} + | sort; \
    for u in web dummy stopped masked; do echo $u $(systemctl is-active etcdplay-modtest-$u) \
    $(systemctl is-enabled etcdplay-modtest-$u 2>&1) $(systemctl show -p MainPID --value etcdplay-modtest-$u); done; \
    getent passwd emtuser; getent group emtgroup";

/// Variables that change what the playbook wants: content, modes and a unit file.
const CHANGES: &[&str] = &[
    "-e",
    "motd_text=changed-by-e",
    "-e",
    "conf_mode=0600",
    "-e",
    "static_mode=0400",
    "-e",
    "dummy_revision=r2",
];

/// The recap lines (`host : ok=... changed=...`) of an Ansible-style run.
fn recap_lines(output: &str) -> Vec<String> {
    output
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .skip(1)
        .filter(|l| l.contains(" : ok="))
        .map(str::to_string)
        .collect()
}

/// The `changed=N` count of a recap line.
fn changed_count(line: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("changed="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no changed= in {line}"))
}

/// Runs `etcdplay apply` with `extra` arguments; returns (exit code, output, seconds).
fn apply(work: &Path, inv: &str, extra: &[&str]) -> (Option<i32>, String, f64) {
    let mut args = vec!["apply", "-i", inv, "site.yml"];
    args.extend_from_slice(extra);
    let start = Instant::now();
    let out = etcdplay(work, &args);
    (out.status.code(), text(&out), start.elapsed().as_secs_f64())
}

fn listings(lab: &etcdplay_lab::Lab) -> Vec<(String, String)> {
    lab.hosts
        .iter()
        .map(|h| (h.name.clone(), ssh_ok(lab, &h.name, LISTING)))
        .collect()
}

#[test]
fn a_playbook_using_every_module_converges_is_idempotent_and_honours_check_and_diff() {
    let lab = lab(3);
    for h in &lab.hosts {
        ssh_ok(lab, &h.name, RESET);
    }
    let work = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("tests/e2e/all-modules"), work.path());
    // The control-node archive for `unarchive`, built from the checked-in tree (no binary
    // file in the repository).
    let files = work.path().join("files");
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(files.join("bundle.tar.gz"))
        .arg("-C")
        .arg(files.join("bundle-src"))
        .args(["alpha.txt", "beta.txt"])
        .output()
        .expect("run tar");
    assert!(tar.status.success(), "tar: {}", text(&tar));
    let inventory = ini_inventory(lab, work.path(), "lab");
    let inv = inventory.to_str().unwrap();

    // (b) converge.
    let (code, first, secs) = apply(work.path(), inv, &[]);
    println!("converge run (3 hosts, fresh): {secs:.1} s");
    assert_eq!(code, Some(0), "converge failed:\n{first}");
    let recap = recap_lines(&first);
    assert_eq!(recap.len(), 3, "{first}");
    for line in &recap {
        assert!(
            changed_count(line) > 20 && line.contains("failed=0 ") && line.contains("rescued=1 "),
            "{line}\n{first}"
        );
    }
    // What the modules did, seen from outside etcdplay.
    for h in &lab.hosts {
        let host = h.name.as_str();
        let attrs = ssh_ok(lab, host, &format!(
            "cd {AREA} && stat -c '%n %a %U %G' conf/static.conf conf/motd conf/app.conf copies/motd.copy \
             copies/static.conf downloads/payload.txt archive-remote data data/touched home/emtuser"
        ));
        assert_eq!(
            attrs,
            "conf/static.conf 644 emtuser emtgroup\nconf/motd 644 root root\nconf/app.conf 640 root emtgroup\n\
             copies/motd.copy 600 root root\ncopies/static.conf 444 root root\ndownloads/payload.txt 640 root root\n\
             archive-remote 755 root root\ndata 750 emtuser emtgroup\ndata/touched 640 emtuser emtgroup\n\
             home/emtuser 755 emtuser emtgroup\n",
            "{host}"
        );
        let contents = ssh_ok(lab, host, &format!(
            "cd {AREA} && cat conf/motd copies/backed-up.txt archive-local/alpha.txt archive-remote/static.conf; \
             readlink links/motd-link; stat -c %h links/static-hard; ls copies | grep -c '^backed-up.txt\\..*~$'; \
             test ! -e data/doomed && test ! -e data/tmp-remove-me && echo gone; cat conf/settings.ini"
        ));
        assert_eq!(
            contents,
            format!(
                "converged\nreplaced\nalpha\nstatic file copied from the control node\n{AREA}/conf/motd\n2\n1\ngone\n\
                 listen = {ip}:18080\nworkers = 2\n# BEGIN etcdplay peers\npeer = 10.213.7.11\npeer = 10.213.7.12\n\
                 peer = 10.213.7.13\n# END etcdplay peers\n",
                ip = h.ip
            ),
            "{host}"
        );
        let payload = ssh_ok(
            lab,
            host,
            &format!("cat {AREA}/downloads/payload.txt {AREA}/downloads/payload-forced.txt"),
        );
        let local = std::fs::read_to_string(files.join("payload.txt")).unwrap();
        assert_eq!(payload, format!("{local}{local}"), "{host}");
        let units = ssh_ok(
            lab,
            host,
            "for u in dummy stopped masked; do echo $(systemctl is-active etcdplay-modtest-$u) \
             $(systemctl is-enabled etcdplay-modtest-$u); done",
        );
        assert_eq!(
            units, "active enabled\ninactive disabled\ninactive masked\n",
            "{host}"
        );
        let fetched =
            std::fs::read_to_string(work.path().join(format!("fetched/{host}-app.conf"))).unwrap();
        assert!(
            fetched.contains(&format!("host = {host}\naddress = {}\n", h.ip)),
            "{fetched}"
        );
    }

    // (c) a second run changes nothing.
    let (code, second, secs) = apply(work.path(), inv, &[]);
    println!("no-change run (3 hosts, converged): {secs:.1} s");
    assert_eq!(code, Some(0), "second run failed:\n{second}");
    let recap = recap_lines(&second);
    assert_eq!(recap.len(), 3, "{second}");
    assert!(
        recap
            .iter()
            .all(|l| l.contains("changed=0 ") && l.contains("failed=0 ")),
        "the second run changed something:\n{second}"
    );

    // (d) --check with changed variables reports the changes and alters nothing.
    let before = listings(lab);
    let mut args = vec!["--check"];
    args.extend_from_slice(CHANGES);
    let (code, check, secs) = apply(work.path(), inv, &args);
    println!("--check run with changes: {secs:.1} s");
    assert_eq!(code, Some(0), "check run failed:\n{check}");
    let recap = recap_lines(&check);
    assert_eq!(recap.len(), 3, "{check}");
    for line in &recap {
        // motd copy, template, file mode, dummy unit + its two handlers (at least).
        assert!(
            changed_count(line) >= 6 && line.contains("failed=0 "),
            "{line}\n{check}"
        );
    }
    assert!(
        !check.contains("+++ after"),
        "no diff without --diff:\n{check}"
    );
    let after = listings(lab);
    assert_eq!(before, after, "--check altered a host:\n{check}");

    // (e) --check --diff prints Ansible's unified diffs and still alters nothing.
    args.push("--diff");
    let (code, diff, _) = apply(work.path(), inv, &args);
    assert_eq!(code, Some(0), "check+diff run failed:\n{diff}");
    for expected in [
        format!("--- before: {AREA}/conf/motd\n+++ after: {AREA}/conf/motd\n@@ -1 +1 @@\n-converged\n+changed-by-e\n\nchanged: ["),
        format!("--- before: {AREA}/conf/app.conf\n+++ after: app.conf.j2\n"),
        "-motd = converged\n+motd = changed-by-e\n".to_string(),
        // The file has a second hard link: Ansible's get_state calls it `hard`, so the state
        // shows in the diff too.
        "--- before\n+++ after\n@@ -1,5 +1,5 @@\n {\n-    \"mode\": \"0444\",\n+    \"mode\": \"0400\",\n     \"path\": \"/srv/etcdplay-modules-test/copies/static.conf\",\n-    \"state\": \"hard\"\n+    \"state\": \"file\"\n }\n".to_string(),
        "-Description=etcdplay modules test: dummy long-running unit (r1)\n+Description=etcdplay modules test: dummy long-running unit (r2)\n".to_string(),
    ] {
        assert_eq!(diff.matches(&expected).count(), 3, "expected on every host:\n{expected}\nin:\n{diff}");
    }
    assert_eq!(
        before,
        listings(lab),
        "--check --diff altered a host:\n{diff}"
    );

    // The same changes for real, with --diff: the diffs are shown and the hosts follow.
    let (code, real, secs) = apply(
        work.path(),
        inv,
        &CHANGES
            .iter()
            .copied()
            .chain(["--diff"])
            .collect::<Vec<_>>(),
    );
    println!("--diff run applying the changes: {secs:.1} s");
    assert_eq!(code, Some(0), "diff run failed:\n{real}");
    assert_eq!(
        real.matches(&format!("--- before: {AREA}/conf/motd\n"))
            .count(),
        3,
        "{real}"
    );
    for h in &lab.hosts {
        let state = ssh_ok(lab, &h.name, &format!(
            "cat {AREA}/conf/motd; stat -c %a {AREA}/conf/motd {AREA}/copies/static.conf; grep -c r2 /etc/systemd/system/etcdplay-modtest-dummy.service"
        ));
        assert_eq!(state, "changed-by-e\n600\n400\n1\n", "{}", h.name);
    }
    let after_real = listings(lab);
    assert_ne!(before, after_real, "the real run changed nothing");
}
