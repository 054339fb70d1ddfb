//! `setup`: gather Ansible's facts about a host in one round trip. [`SCRIPT`] prints one
//! section per source (hostname, os-release, /proc, `ip` tables, id, environment); the pure
//! [`parse_facts`] builds the facts with Ansible's names and shapes (`ansible_hostname`,
//! `ansible_default_ipv4.address`, `ansible_eth0.ipv4.address`, ...). The network facts read
//! only local tables (`ip -4 route show default`, `ip -4 -o addr`, `ip -o link`): nothing is
//! sent on the network.

mod local;
mod net;
mod parse;
mod system;

pub use parse::parse_facts;

use etcdplay_transport::ExecOutput;
use serde_json::{Map, Value};

use crate::host::Ctx;
use crate::probe::parse_sections;
use crate::read_ahead::{FirstProbe, ProbeInput};
use crate::{ModuleError, ModuleResult};

/// The `systemd` section's body: `systemctl --version`, kept in `/run/etcdplay` (see
/// [`SCRIPT`]). A macro, so that [`SCRIPT`] stays one literal and tests can run it alone.
macro_rules! systemctl_version {
    () => {
        r#"# ep_stat /usr/bin/systemctl
p= k= f=${EP_FACTS_CACHE:-/run/etcdplay/facts-systemctl-version}
IFS=:; for d in $PATH; do [ -f "$d/systemctl" ] && [ -x "$d/systemctl" ] && { p=$d/systemctl; break; }; done; unset IFS
if [ -n "$p" ] && [ "${ep_sn:-0}" -gt 0 ] && ep_cached_stat "$p"; then IFS='|'; set -- $ep_l; unset IFS; k="$p $8 $9 ${11} ${12} ${14}"; fi
if [ -n "$k" ] && [ -r "$f" ] && { IFS= read -r l && [ "$l" = "$k" ] && IFS= read -r l && printf '%s\n' "$l" && while IFS= read -r l; do printf '%s\n' "$l"; done; } <"$f"; then :
elif o=$(systemctl --version 2>/dev/null); then
printf '%s\n' "$o"
[ -z "$k" ] || { [ -d "${f%/*}" ] || mkdir -m 0700 "${f%/*}"; printf '%s\n%s\n' "$k" "$o" >"$f.$$" && mv -f "$f.$$" "$f"; } 2>/dev/null || :
fi
"#
    };
}

/// The sections of [`SCRIPT`] that only read files: on a host served by the host agent it
/// prints them all itself (the agent's `facts_files.rs`, compared with this text by
/// `tests::the_agents_answers_give_the_shells_facts`), where `dash` reads each
/// file a byte per system call. A macro, so that [`SCRIPT`] stays one literal.
macro_rules! file_sections {
    () => {
        r#"s hostname; r /proc/sys/kernel/hostname 2>/dev/null || uname -n
s uname; { r /proc/sys/kernel/ostype && r /proc/sys/kernel/osrelease && { r /proc/sys/kernel/arch || uname -m; } && r /proc/sys/kernel/version; } 2>/dev/null || { uname -s; uname -r; uname -m; uname -v; }
s os_release; r /etc/os-release 2>/dev/null || r /usr/lib/os-release 2>/dev/null
s debian_version; r /etc/debian_version 2>/dev/null
s meminfo; while read -r k v; do case $k in MemTotal:|MemFree:|Buffers:|Cached:|SwapTotal:|SwapCached:) echo "$k $v";; SwapFree:) echo "$k $v"; break;; esac; done </proc/meminfo 2>/dev/null
s pid1; r /proc/1/comm 2>/dev/null
s machine_id; r /etc/machine-id 2>/dev/null
s uptime; read -r up _ </proc/uptime 2>/dev/null && echo "$up"
s loadavg; r /proc/loadavg 2>/dev/null
s cmdline; r /proc/cmdline 2>/dev/null
s fips; r /proc/sys/crypto/fips_enabled 2>/dev/null
s resolv; r /etc/resolv.conf 2>/dev/null
s security; [ -d /sys/fs/selinux ] && { printf 'selinux '; r /sys/fs/selinux/enforce 2>/dev/null || echo; }; [ -d /sys/kernel/security/apparmor ] && echo apparmor
s container; r /run/systemd/container 2>/dev/null || echo; [ -e /.dockerenv ] || [ -e /.dockerinit ] && echo dockerenv; [ -e /run/.containerenv ] && echo containerenv; r /proc/1/cgroup 2>/dev/null
s modules; [ -r /proc/modules ] && while read -r m _; do case $m in kvm|vboxdrv|virtio) echo "$m";; esac; done </proc/modules
s kvm; [ -e /dev/kvm ] && echo yes
s dmi; for f in bios_date bios_vendor bios_version board_asset_tag board_name board_serial board_vendor board_version chassis_asset_tag chassis_serial chassis_type chassis_vendor chassis_version product_name product_serial product_uuid product_version sys_vendor; do printf '%s=' $f; r /sys/devices/virtual/dmi/id/$f 2>/dev/null || echo; done
s ssh_host_keys; for t in rsa ecdsa ed25519; do [ -r /etc/ssh/ssh_host_${t}_key.pub ] && { printf '%s ' $t; r /etc/ssh/ssh_host_${t}_key.pub; }; done
s chroot; [ -r /proc/1/root/. ] && { [ / -ef /proc/1/root/. ] && echo no || echo yes; }
"#
    };
}

/// The gathering script. Every command tolerates absence (minimal containers lack some tools).
/// Files of one line or a few are read with the shell's own `read`: every process started
/// costs about a millisecond of CPU on the host, and a fleet's hosts often share cores (a lab,
/// a hypervisor), so the script starts ~7 processes instead of ~27: the machine type, the CPUs
/// this shell may use (what `nproc` counts, unless `OMP_*` variables change its answer), the
/// user and group (`/proc/self/status`, `/etc/passwd`, `/etc/group`: what `id` prints), the
/// user's `/etc/passwd` line and the Python interpreter on `PATH` are found by builtins too,
/// each with the command as fallback, and one `ip -batch` prints the three `ip` tables. The
/// shell's `read` takes a byte per system call, so `/proc/self/status` is read once, up to the
/// CPUs line, for both the CPUs and the ids, and `/proc/meminfo` up to `SwapFree` (together
/// 2,400 of the 6,400 reads the script made). `systemctl --version` (3 ms of a host's CPU,
/// most of it loading systemd's shared library) is kept in `/run/etcdplay` with the identity
/// of the `systemctl` it came from (path, size, mtime, ctime, inode, device) and read back
/// while that identity holds, which a read-ahead batch knows without a process (its one `stat`
/// of every path includes `systemctl`); alone, or anything amiss, it runs `systemctl`. On a
/// host served by the host agent, the first line asks it (`etcdplay_transport::
/// AGENT_PREFILL_HINT`) for what `hostname -f`, the `grep` of `/proc/cpuinfo` and the
/// `readlink -f` of the interpreter would print, so those three start no process either, and
/// for the sections that only read files ([`file_sections!`]) and the ids of
/// `/proc/self/status`, which `dash` would read a byte per system call; a missing answer (the
/// shell loop, a name that resolves beyond `/etc/hosts`, another interpreter found on this
/// `PATH`) runs the shell text. Only
/// the Python facts are cheaper than Ansible's: the version comes from the interpreter's file
/// name (`python3.11`), not from starting Python.
pub const SCRIPT: &str = concat!(
    r#"# ep_agent_prefill cpuinfo fqdn python files ids
s() { printf '\n@@etcdplay:%s\n' "$1"; }
r() { while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done <"$1"; }
if [ -n "${ep_ag_files+x}" ]; then printf '%s' "$ep_ag_files"; else
"#,
    file_sections!(),
    r#"fi
s fqdn; if [ -n "${ep_ag_fqdn-}" ]; then printf '%s\n' "$ep_ag_fqdn"; else hostname -f 2>/dev/null || r /proc/sys/kernel/hostname 2>/dev/null || uname -n; fi
s cpuinfo; if [ -n "${ep_ag_cpuinfo+x}" ]; then printf '%s' "$ep_ag_cpuinfo"; else grep -E '^(processor|vendor_id|model name|physical id|cpu cores|siblings)[[:space:]]*:' /proc/cpuinfo 2>/dev/null; fi
s nproc; c= u= g=
if [ -n "${ep_ag_ids+x}" ]; then u=$ep_ag_uid g=$ep_ag_gid c=$ep_ag_cpus; else
while read -r k v _; do case $k in Uid:) u=$v;; Gid:) g=$v;; Cpus_allowed_list:) c=$v; break;; esac; done </proc/self/status 2>/dev/null
fi
[ -z "${OMP_NUM_THREADS:-}${OMP_THREAD_LIMIT:-}" ] || c=
if [ -n "$c" ]; then n=0; IFS=,; for x in $c; do case $x in *-*) n=$((n + ${x#*-} - ${x%-*} + 1));; *) n=$((n + 1));; esac; done; unset IFS; echo "$n"; else nproc 2>/dev/null; fi
s systemd_dir; [ -d /run/systemd/system ] && echo yes
s systemd; if [ -d /run/systemd/system ]; then
"#,
    systemctl_version!(),
    r#"fi
s id; un= gn=
[ -n "$u" ] && while IFS=: read -r k _ v _; do [ "$v" = "$u" ] && { un=$k; break; }; done </etc/passwd 2>/dev/null
[ -n "$g" ] && while IFS=: read -r k _ v _; do [ "$v" = "$g" ] && { gn=$k; break; }; done </etc/group 2>/dev/null
if [ -n "$un" ] && [ -n "$gn" ]; then printf '%s\n' "$un" "$u" "$g" "$gn"; else
i=$(id 2>/dev/null)
case $i in
  "uid="*"("*") gid="*"("*")"*) u=${i#uid=}; g=${i#* gid=}; un=${u#*\(}; gn=${g#*\(}; printf '%s\n' "${un%%)*}" "${u%%\(*}" "${g%%\(*}" "${gn%%)*}"; un=${un%%)*};;
  *) id -un; id -u; id -g; id -gn; un=$(id -un);;
esac
fi
s passwd; e=; while IFS= read -r l; do case $l in "$un:"*) e=$l; break;; esac; done </etc/passwd 2>/dev/null
if [ -n "$e" ]; then printf '%s\n' "$e"; else getent passwd "$un"; fi
s env; env -0
if o=$(ip -4 -o -batch - 2>/dev/null <<'EOF'
route show default
addr show
link show
EOF
); then s ip; printf '%s\n' "$o"; else
s route; ip -4 route show default 2>/dev/null
s addr; ip -4 -o addr show 2>/dev/null
s link; ip -o link show 2>/dev/null
fi
s python; p=; for n in python3 python; do IFS=:; for d in $PATH; do [ -f "$d/$n" ] && [ -x "$d/$n" ] && { p=$d/$n; break; }; done; unset IFS; [ -n "$p" ] && break; done
[ -n "$p" ] && { echo "$p"; if [ "$p" = "${ep_ag_py-}" ]; then printf '%s\n' "$ep_ag_pyr"; else readlink -f "$p"; fi; }
s date; date '+%Y|%m|%d|%H|%M|%S|%Z|%z|%s|%A|%B|%j|%u|%a|%b|%W|%6N'
s pkg_mgr; for m in apt-get dnf yum zypper apk pacman; do command -v $m >/dev/null 2>&1 && { echo $m; break; }; done
s lsb; r /etc/lsb-release 2>/dev/null || { command -v lsb_release >/dev/null 2>&1 && echo lsb_release; }
s end
"#
);

/// [`SCRIPT`] with the local facts of `fact_path` (see `local.rs`) read before its end.
fn gathering_script(fact_path: &str) -> String {
    let base = SCRIPT.strip_suffix("s end\n").unwrap_or(SCRIPT);
    format!("{base}{}s end\n", local::script(fact_path))
}

/// Fact gathering's probe: [`SCRIPT`] and the local facts of `fact_path`, whatever the other
/// arguments (`filter` applies afterwards). The answer is the facts and the warnings of local
/// facts that could not be read.
pub(crate) struct FactsProbe;

impl FirstProbe for FactsProbe {
    type Answer = (Map<String, Value>, Vec<String>);

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let fact_path = input.args.str("fact_path");
        let fact_path = fact_path.as_deref().unwrap_or(local::DEFAULT_FACT_PATH);
        Ok(Some(gathering_script(fact_path)))
    }

    fn parse(out: &ExecOutput) -> Result<Self::Answer, String> {
        let sections = parse_sections(&out.stdout);
        if !sections.contains_key("end") {
            return Err(format!(
                "fact gathering failed (rc {}): {}",
                out.rc,
                out.stderr_str().trim()
            ));
        }
        let mut facts = parse_facts(&out.stdout);
        let (local, warnings) = local::parse(&sections);
        facts.insert("ansible_local".into(), Value::Object(local));
        Ok((facts, warnings))
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let filter = ctx.args.list("filter")?.unwrap_or_default();
    let (mut facts, warnings) = ctx.read_probe::<FactsProbe>().await?;
    if !filter.is_empty() {
        facts.retain(|k, _| filter.iter().any(|f| glob_match(f, k)));
    }
    let mut res = ModuleResult::ok();
    res.set("ansible_facts", Value::Object(facts));
    if !warnings.is_empty() {
        res.set("warnings", warnings);
    }
    Ok(res)
}

/// `fnmatch`-style `*` matching for `filter:` (Ansible accepts shell globs there).
fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    /// The host agent reads the hint on a request's first line, where the script alone has it.
    #[test]
    fn the_script_opens_with_the_agents_prefill_hint() {
        assert!(super::SCRIPT.starts_with(etcdplay_transport::AGENT_PREFILL_HINT));
    }

    /// The facts script gives the same facts with the host agent's answers in front of it as
    /// the shell alone gives, on the machine the test runs on (less what changes between two
    /// runs: the clock, free memory, the load, and the processes' own ids in the env).
    #[test]
    fn the_agents_answers_give_the_shells_facts() {
        let run = |prefix: &[u8]| {
            let mut script = prefix.to_vec();
            script.extend_from_slice(super::SCRIPT.as_bytes());
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(std::os::unix::ffi::OsStrExt::from_bytes(&script) as &std::ffi::OsStr)
                .output()
                .unwrap();
            crate::probe::parse_sections(&out.stdout)
        };
        let answers = etcdplay_agent::prefill_answers(super::SCRIPT.as_bytes()).unwrap();
        let text = String::from_utf8_lossy(&answers);
        for asked in ["ep_ag_files=", "ep_ag_ids=", "ep_ag_cpuinfo=", "ep_ag_py="] {
            assert!(
                text.contains(asked),
                "no {asked} among the answers:\n{text}"
            );
        }
        let mut shell = run(b"");
        let mut agent = run(&answers);
        for changing in ["date", "uptime", "meminfo", "loadavg", "env"] {
            assert!(shell.remove(changing).is_some() && agent.remove(changing).is_some());
        }
        assert!(shell.contains_key("os_release") && shell.contains_key("end"));
        for (name, body) in &shell {
            assert_eq!(
                String::from_utf8_lossy(body),
                String::from_utf8_lossy(&agent[name]),
                "section {name}"
            );
        }
        assert_eq!(shell.len(), agent.len());
    }

    /// In a read-ahead batch whose prelude stated `systemctl`, its `--version` is run once
    /// and then read back from the cache while the binary is the same; a new binary (its
    /// ctime moved) is asked again. Alone (no prelude), it is always asked.
    #[test]
    fn systemctl_version_is_kept_while_the_binary_is_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let fake = bin.join("systemctl");
        let log = dir.path().join("log");
        let write_fake = |version: &str| {
            crate::test_shim::write_executable(
                &fake,
                &format!(
                    "#!/bin/sh\necho x >>{}\necho 'systemd {version} ({version}.1)'\necho '+PAM -BPF'\n",
                    log.display()
                ),
            )
        };
        write_fake("252");
        let body = systemctl_version!();
        let hint = format!(
            "# ep_stat {}\n# ep_stat {}\n",
            fake.display(),
            dir.path().display()
        );
        let prelude = crate::probe::batch_prelude(&[body, &hint]);
        let run = |script: &str| {
            let out = std::process::Command::new("/bin/sh")
                .args(["-c", script])
                .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
                .env("EP_FACTS_CACHE", dir.path().join("cache/version"))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stderr), "");
            String::from_utf8(out.stdout).unwrap()
        };
        let calls = || crate::test_shim::take_log(&log).len();
        let batch = format!("{{\n{prelude}\n}} >/dev/null 2>&1\n({body})\n");
        let want = "systemd 252 (252.1)\n+PAM -BPF\n";
        assert_eq!(run(&batch), want);
        assert_eq!(calls(), 1);
        assert_eq!(run(&batch), want);
        assert_eq!(calls(), 0, "read back");
        assert_eq!(run(body), want);
        assert_eq!(calls(), 1, "alone, asked");
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_fake("253");
        assert_eq!(run(&batch), "systemd 253 (253.1)\n+PAM -BPF\n");
        assert_eq!(calls(), 1, "a new binary is asked");
    }

    /// The script writes nothing to stderr, whatever this machine lacks (here: no
    /// `/proc/modules`): a probe that wrote to stderr is not kept by the read-ahead, and the
    /// fact gathering sent again then drops every answer read ahead for the play's first tasks.
    #[test]
    fn the_script_is_silent_on_stderr() {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(super::SCRIPT)
            .output()
            .expect("sh");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "");
        assert!(String::from_utf8_lossy(&out.stdout).contains("@@etcdplay:end"));
    }

    fn sh(script: &str) -> Vec<u8> {
        std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh")
            .stdout
    }

    /// The builtins' reading of the user and group (from /proc and /etc) and the one `ip`
    /// batch answer here as `id` and the three `ip` commands do.
    #[test]
    fn builtins_and_one_ip_batch_agree_with_the_commands() {
        let s = crate::probe::parse_sections(&sh(super::SCRIPT));
        let id = String::from_utf8(sh("id -un; id -u; id -g; id -gn")).unwrap();
        assert_eq!(String::from_utf8_lossy(&s["id"]), id);
        let tables = (
            String::from_utf8(sh("ip -4 route show default")).unwrap(),
            String::from_utf8(sh("ip -4 -o addr show")).unwrap(),
            String::from_utf8(sh("ip -o link show")).unwrap(),
        );
        assert_eq!(
            super::net::split_ip_batch(&String::from_utf8_lossy(&s["ip"])),
            tables
        );
    }

    #[test]
    fn filter_globs() {
        assert!(super::glob_match("ansible_*_ipv4", "ansible_default_ipv4"));
        assert!(super::glob_match("ansible_hostname", "ansible_hostname"));
        assert!(!super::glob_match("ansible_eth*", "ansible_lo"));
    }
}
