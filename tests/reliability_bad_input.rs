//! Bad input is refused before any host is contacted: wrong types, unknown keys, missing files,
//! an `-e` that does not parse, a `--limit` that matches nothing; what only fails a task when
//! it runs (module arguments, broken templates) is a warning with its place, and such a task
//! fails without contacting its host. The only
//! host of the inventory is a TCP listener of this test on a 127.0.0.0/8 address, so "no host
//! was contacted" is measured (no connection was ever accepted), not assumed. A valid playbook
//! against the same inventory must reach the listener, which proves the probe can see contact.

mod common;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{etcdplay, etcdplay_with_deadline, text};

/// A listener standing in for a host's sshd; counts the connections it was offered.
struct Probe {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Probe {
    fn new() -> Probe {
        let listener = TcpListener::bind("127.0.0.77:0").expect("bind 127.0.0.77");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        Probe { listener, addr }
    }

    /// Connections accepted since the last call (each is closed at once).
    fn contacts(&self) -> usize {
        let mut n = 0;
        loop {
            match self.listener.accept() {
                Ok(_) => n += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return n,
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

fn write(dir: &Path, name: &str, content: &str) {
    std::fs::write(dir.join(name), content).expect("write");
}

const HEAD: &str = "- hosts: etcds\n  gather_facts: false\n";

/// Runs `etcdplay apply` with `args` and asserts it refuses with `code`, a message naming
/// `location`, and no connection to the probe.
fn refused(dir: &Path, probe: &Probe, args: &[&str], code: i32, location: &str) -> String {
    let out = etcdplay(dir, args);
    let all = text(&out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: expected exit {code}:\n{all}"
    );
    assert!(
        all.contains(location),
        "{args:?}: error does not say {location:?}:\n{all}"
    );
    assert!(!all.contains("PLAY ["), "{args:?}: a play started:\n{all}");
    assert_eq!(
        probe.contacts(),
        0,
        "{args:?}: a host was contacted:\n{all}"
    );
    all
}

fn setup() -> (tempfile::TempDir, Probe) {
    let dir = tempfile::tempdir().expect("tempdir");
    let probe = Probe::new();
    let inventory = format!(
        "[etcds]\nh1 ansible_host={} ansible_port={} ansible_user=root\n",
        probe.addr.ip(),
        probe.addr.port()
    );
    write(dir.path(), "hosts", &inventory);
    (dir, probe)
}

#[test]
fn structural_errors_are_refused_with_their_location_before_any_connection() {
    let (dir, probe) = setup();
    let d = dir.path();
    let cases: &[(&str, String, &str)] = &[
        (
            "wrong_type.yml",
            format!("{HEAD}  become: [1]\n  tasks:\n    - command: echo hi\n"),
            "wrong_type.yml:3:11",
        ),
        (
            "wrong_type2.yml",
            format!("{HEAD}  tasks:\n    - command: echo hi\n      retries: abc\n"),
            "wrong_type2.yml:5:16",
        ),
        (
            "tasks_type.yml",
            format!("{HEAD}  tasks: 3\n"),
            "tasks_type.yml:3:10",
        ),
        (
            "unknown_key.yml",
            format!("{HEAD}  tasks:\n    - command: echo hi\n      bogus_keyword: 3\n"),
            "unknown_key.yml:5:7",
        ),
        (
            "bad_yaml.yml",
            format!("{HEAD}  tasks:\n    - command: [unclosed\n"),
            "bad_yaml.yml:",
        ),
    ];
    for (name, body, location) in cases {
        write(d, name, body);
        refused(d, &probe, &["apply", "-i", "hosts", name], 4, location);
    }
    // A playbook file that does not exist at all.
    refused(
        d,
        &probe,
        &["apply", "-i", "hosts", "nowhere.yml"],
        4,
        "nowhere.yml",
    );
    // An inventory line that does not parse.
    write(d, "bad_inventory", "[etcds\nh1 ansible_host=127.0.0.77\n");
    write(
        d,
        "good.yml",
        &format!("{HEAD}  tasks:\n    - command: echo hi\n"),
    );
    refused(
        d,
        &probe,
        &["apply", "-i", "bad_inventory", "good.yml"],
        4,
        "bad_inventory:1",
    );
}

#[test]
fn bad_options_are_refused_before_any_connection() {
    let (dir, probe) = setup();
    let d = dir.path();
    write(
        d,
        "good.yml",
        &format!("{HEAD}  tasks:\n    - command: echo hi\n"),
    );
    let e = refused(
        d,
        &probe,
        &["apply", "-i", "hosts", "-e", "{\"a\": ", "good.yml"],
        5,
        "-e",
    );
    assert!(e.contains("not valid"), "{e}");
    refused(
        d,
        &probe,
        &[
            "apply",
            "-i",
            "hosts",
            "-e",
            "@missing-vars.yml",
            "good.yml",
        ],
        5,
        "missing-vars.yml",
    );
    refused(
        d,
        &probe,
        &["apply", "-i", "hosts", "-l", "nomatch", "good.yml"],
        5,
        "nomatch",
    );
    refused(
        d,
        &probe,
        &["apply", "-i", "hosts", "--output", "xml", "f", "good.yml"],
        5,
        "--output",
    );

    // The control: the same inventory and a valid playbook do reach the "host" (which never
    // sends an SSH banner, so the run ends UNREACHABLE after the 1 s connect timeout).
    let started = Instant::now();
    let out = etcdplay(d, &["apply", "-i", "hosts", "-T", "1", "good.yml"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        probe.contacts() >= 1,
        "the probe saw no connection from a valid run:\n{}",
        text(&out)
    );
}

/// A play whose `hosts:` matches nothing is skipped with a warning (exit 0, as in Ansible);
/// nothing is contacted.
#[test]
fn a_play_pattern_matching_nothing_contacts_no_host() {
    let (dir, probe) = setup();
    let d = dir.path();
    write(
        d,
        "nomatch.yml",
        "- hosts: nosuchgroup\n  gather_facts: false\n  tasks:\n    - command: echo hi\n",
    );
    let out = etcdplay(d, &["apply", "-i", "hosts", "nomatch.yml"]);
    let all = text(&out);
    assert!(all.contains("no hosts matched"), "{all}");
    assert_eq!(probe.contacts(), 0, "{all}");
}

/// An undefined variable is reported with its location and no host is contacted for it.
/// (Today the engine finds it only when the task runs: exit 2, FAILED for the host; the
/// variable is templated before the connection is opened, so no host is contacted.)
#[test]
fn an_undefined_variable_is_reported_with_its_location_without_contacting_the_host() {
    let (dir, probe) = setup();
    let d = dir.path();
    write(
        d,
        "undef.yml",
        &format!("{HEAD}  tasks:\n    - command: \"echo {{{{ not_defined_anywhere }}}}\"\n"),
    );
    let out = etcdplay(d, &["apply", "-i", "hosts", "undef.yml"]);
    let all = text(&out);
    assert!(
        all.contains("undef.yml:4:") && all.contains("'not_defined_anywhere' is undefined"),
        "{all}"
    );
    assert_eq!(probe.contacts(), 0, "{all}");
    assert!(matches!(out.status.code(), Some(2 | 4 | 5)), "{all}");
}

/// Writes each case's playbook `(name, body, location)` and runs `etcdplay apply` on it:
/// asserts exit `code`, a warning naming `location`, `outcome` in the output (what became of
/// the task), and no connection to the probe.
fn assert_warned_without_contact(
    d: &Path,
    probe: &Probe,
    cases: &[(&str, String, &str)],
    code: i32,
    outcome: &str,
) {
    for (name, body, location) in cases {
        write(d, name, body);
        let out = etcdplay(d, &["apply", "-i", "hosts", name]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(code), "{name}: {all}");
        assert!(
            all.contains(&format!("[WARNING]: {location}")),
            "{name}: no warning at {location}: {all}"
        );
        assert!(all.contains(outcome), "{name}: {all}");
        assert_eq!(probe.contacts(), 0, "{name}: a host was contacted: {all}");
    }
}

/// What fails a task only when it runs (an unknown module argument, a missing `copy` source, a
/// Jinja syntax error): ansible-core 2.19.14 says nothing of these before the task runs and
/// skips them without a word under a false `when:` (exit 0). etcdplay warns with the place
/// before the run and contacts no host for a play whose tasks all skip.
#[test]
fn problems_of_tasks_that_may_never_run_are_warned_with_their_place() {
    let (dir, probe) = setup();
    let d = dir.path();
    let cases: &[(&str, String, &str)] = &[
        ("unknown_arg.yml", format!("{HEAD}  tasks:\n    - copy: {{dest: /tmp/x, content: hi, bogus: 1}}\n      when: false\n"), "unknown_arg.yml:4:"),
        ("missing_src.yml", format!("{HEAD}  tasks:\n    - copy:\n        src: does-not-exist.bin\n        dest: /tmp/x\n      when: false\n"), "missing_src.yml:5:9"),
        ("broken_template.yml", format!("{HEAD}  tasks:\n    - command: echo {{{{ 1 + }}}}\n      when: false\n"), "broken_template.yml:4:"),
    ];
    assert_warned_without_contact(d, &probe, cases, 0, "skipping: [h1]");
}

/// Values of the wrong type inside module arguments: a warning with the place before the run,
/// and the task fails when it runs (as Ansible's argument check fails it) before anything is
/// sent to the host.
#[test]
fn wrong_module_argument_values_fail_the_task_before_any_connection() {
    let (dir, probe) = setup();
    let d = dir.path();
    let cases: &[(&str, String, &str)] = &[
        (
            "mode.yml",
            format!("{HEAD}  tasks:\n    - copy: dest=/tmp/x content=hi mode=[1]\n"),
            "mode.yml:4:",
        ),
        (
            "state.yml",
            format!("{HEAD}  tasks:\n    - file: path=/tmp/x state=weird\n"),
            "state.yml:4:",
        ),
        (
            "pause.yml",
            format!("{HEAD}  tasks:\n    - pause: seconds=abc\n"),
            "pause.yml:4:",
        ),
    ];
    assert_warned_without_contact(d, &probe, cases, 2, "fatal: [h1]: FAILED!");
}

/// A value of `ansible_ssh_common_args`/`ansible_ssh_extra_args` that ssh cannot take is refused
/// for every host before any is contacted, naming the inventory file, host and variable; `-e`
/// overrides the inventory's value.
#[test]
fn bad_ssh_args_are_refused_for_every_host_before_any_connection() {
    let (dir, probe) = setup();
    let d = dir.path();
    write(
        d,
        "good.yml",
        &format!("{HEAD}  tasks:\n    - command: echo hi\n"),
    );
    let host = format!(
        "ansible_host={} ansible_port={} ansible_user=root",
        probe.addr.ip(),
        probe.addr.port()
    );
    write(
        d,
        "bad_args",
        &format!("[etcds]\nh1 {host}\nh2 {host} ansible_ssh_common_args='-o Foo=bar -X'\n"),
    );
    let e = refused(
        d,
        &probe,
        &["apply", "-i", "bad_args", "good.yml"],
        4,
        "bad_args: host h2: ansible_ssh_common_args:",
    );
    assert!(!e.contains("host h1"), "{e}");
    // An address or user ssh would read as an option (no `--` before ssh's destination).
    write(
        d,
        "option_like",
        &format!(
            "[etcds]\nh1 {host}\nh2 ansible_host='-oProxyCommand=touch /tmp/x' ansible_user=root\n\
             h3 ansible_host={} ansible_port={} ansible_user=-oLogLevel=QUIET\n",
            probe.addr.ip(),
            probe.addr.port()
        ),
    );
    let e = refused(
        d,
        &probe,
        &["apply", "-i", "option_like", "good.yml"],
        4,
        "option_like: host h2: ansible_host: '-oProxyCommand=touch /tmp/x' starts with '-'",
    );
    assert!(
        e.contains("host h3: ansible_user: '-oLogLevel=QUIET'"),
        "{e}"
    );
    assert!(!e.contains("host h1"), "{e}");
    std::fs::create_dir_all(d.join("group_vars")).expect("mkdir");
    write(
        d,
        "group_vars/etcds.yml",
        "ansible_ssh_extra_args: \"-o 'unclosed\"\n",
    );
    refused(
        d,
        &probe,
        &["apply", "-i", "hosts", "good.yml"],
        4,
        "host h1: ansible_ssh_extra_args:",
    );
    std::fs::remove_file(d.join("group_vars/etcds.yml")).expect("rm");
    refused(
        d,
        &probe,
        &[
            "apply",
            "-i",
            "hosts",
            "-e",
            "ansible_ssh_common_args='-X'",
            "good.yml",
        ],
        4,
        "host h1: ansible_ssh_common_args:",
    );
    // Overridden by -e with a good value: the run goes on to the hosts.
    let out = etcdplay(
        d,
        &[
            "apply",
            "-i",
            "bad_args",
            "-T",
            "1",
            "-e",
            "ansible_ssh_common_args='-o ConnectTimeout=1'",
            "good.yml",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(probe.contacts() >= 1, "{}", text(&out));
}

/// The built-in playbook never installs a release it cannot verify: `etcd_release_url` without
/// `etcd_release_checksum` fails before the download (here on a local-connection host, whose
/// fact gathering is the only thing that runs).
#[test]
fn a_release_url_without_a_checksum_is_refused_before_the_download() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "hosts",
        "[etcd]\nlocal1 ansible_connection=local\n",
    );
    let out = etcdplay(
        dir.path(),
        &[
            "apply",
            "-i",
            "hosts",
            "-e",
            "etcd_release_url=http://127.0.0.1:9/etcd.tar.gz",
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("etcd_release_checksum is empty"), "{all}");
    assert!(!all.contains("Download the etcd release"), "{all}");
    assert!(!dir.path().join("etcd-release").exists());
}

fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(made.success(), "mkfifo {}", path.display());
}

/// A file of `len` zero bytes that takes no disk space (the limit is checked against its
/// size before anything is read).
fn sparse(path: &Path, len: u64) {
    std::fs::File::create(path)
        .and_then(|f| f.set_len(len))
        .expect("sparse file");
}

/// Files named on the command line or in a playbook that are not regular files, or larger than
/// the 64 MiB etcdplay reads of YAML: refused at once with their path, before any host is
/// contacted. Before, `-e @/dev/zero` grew memory without end and `-e @fifo` (a FIFO nobody
/// writes) hung; each run here must end within seconds.
#[test]
fn special_and_oversized_input_files_are_refused_quickly_before_any_connection() {
    let (dir, probe) = setup();
    let d = dir.path();
    write(
        d,
        "good.yml",
        &format!("{HEAD}  tasks:\n    - command: echo hi\n"),
    );
    mkfifo(&d.join("fifo"));
    sparse(&d.join("big.yml"), (64 << 20) + 1);
    let deadline = Duration::from_secs(20);
    let refused_quickly = |args: &[&str], code: i32, says: &[&str]| {
        let started = Instant::now();
        let out = etcdplay_with_deadline(d, args, deadline);
        let took = started.elapsed();
        let all = text(&out);
        eprintln!("{args:?}: exit {:?} after {took:?}", out.status.code());
        assert_eq!(out.status.code(), Some(code), "{args:?}:\n{all}");
        for part in says {
            assert!(
                all.contains(part),
                "{args:?}: does not say {part:?}:\n{all}"
            );
        }
        assert!(!all.contains("PLAY ["), "{args:?}: a play started:\n{all}");
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
    };
    let apply = |extra: &[&'static str], playbook: &'static str| -> Vec<&'static str> {
        let mut args = vec!["apply", "-i", "hosts"];
        args.extend_from_slice(extra);
        args.push(playbook);
        args
    };
    refused_quickly(
        &apply(&["-e", "@/dev/zero"], "good.yml"),
        5,
        &["-e @/dev/zero", "not a regular file (a character device)"],
    );
    refused_quickly(
        &apply(&["-e", "@fifo"], "good.yml"),
        5,
        &["-e @fifo", "not a regular file (a FIFO)"],
    );
    refused_quickly(
        &apply(&["-e", "@big.yml"], "good.yml"),
        5,
        &["-e @big.yml", "larger than 64 MiB"],
    );
    // The inventory and the playbook themselves.
    refused_quickly(
        &["apply", "-i", "fifo", "good.yml"],
        4,
        &["fifo: cannot read inventory file: not a regular file (a FIFO)"],
    );
    refused_quickly(
        &apply(&[], "fifo"),
        4,
        &["fifo", "not a regular file (a FIFO)"],
    );
    refused_quickly(
        &apply(&[], "big.yml"),
        4,
        &["big.yml", "larger than 64 MiB"],
    );
    // vars_files, refused while the playbook loads (the engine reads them per host later).
    write(
        d,
        "vars_files.yml",
        &format!("{HEAD}  vars_files: [big.yml, fifo]\n  tasks:\n    - command: echo hi\n"),
    );
    refused_quickly(
        &apply(&[], "vars_files.yml"),
        4,
        &[
            "vars_files.yml:3:16: vars file `big.yml` cannot be read: larger than 64 MiB",
            "vars_files.yml:3:25: vars file `fifo` cannot be read: not a regular file (a FIFO)",
        ],
    );
    // group_vars of the inventory.
    std::fs::create_dir_all(d.join("group_vars")).expect("mkdir");
    std::fs::rename(d.join("big.yml"), d.join("group_vars/etcds.yml")).expect("mv");
    refused_quickly(
        &apply(&[], "good.yml"),
        4,
        &["group_vars/etcds.yml: cannot read file: larger than 64 MiB"],
    );
    assert_eq!(probe.contacts(), 0);
}

/// Files tasks read on the control node at run time (`copy`/`template` `src`, `include_vars`)
/// that are not regular files fail their task quickly, naming the file, instead of hanging
/// the run on a FIFO. The host is the control node itself (`ansible_connection=local`).
#[test]
fn special_files_read_by_tasks_fail_the_task_quickly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(d, "hosts", "[etcds]\nlocal1 ansible_connection=local\n");
    mkfifo(&d.join("fifo"));
    let dest = d.join("out");
    write(
        d,
        "tasks.yml",
        &format!(
            "{HEAD}  tasks:\n\
             \x20   - copy: {{src: fifo, dest: {dest}}}\n      ignore_errors: true\n\
             \x20   - template: {{src: fifo, dest: {dest}}}\n      ignore_errors: true\n\
             \x20   - include_vars: fifo\n",
            dest = dest.display()
        ),
    );
    let started = Instant::now();
    let out = etcdplay_with_deadline(
        d,
        &["apply", "-i", "hosts", "tasks.yml"],
        Duration::from_secs(30),
    );
    let took = started.elapsed();
    let all = text(&out);
    eprintln!(
        "tasks reading a FIFO: exit {:?} after {took:?}",
        out.status.code()
    );
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert_eq!(
        all.matches("fifo: not a regular file (a FIFO); refused")
            .count()
            + all
                .matches("fifo: cannot read template: not a regular file (a FIFO)")
                .count()
            + all
                .matches("fifo: cannot read file: not a regular file (a FIFO)")
                .count(),
        3,
        "{all}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(!dest.exists(), "something was written from a FIFO");
}
