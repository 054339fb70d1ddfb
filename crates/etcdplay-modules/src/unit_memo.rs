//! What a read-ahead batch asks systemd once for all of its probes. systemd's answers are the
//! dearest part of a no-change run on a host: each `systemctl` costs 3–6 ms of the host's CPU
//! (its PID 1 answering included) and the reload check's `find` over the unit directories
//! about 4 ms, against about 1 ms for a small command. The `systemd` module's probe and the
//! data-dir guard's both want the unit's `systemctl show` and whether a daemon-reload is due.
//! A probe names what it wants on a hint line ([`show_hint`], [`RELOAD_HINT`]; alone, a
//! comment); [`prelude`] asks each question once at the start of the batch and leaves the
//! answers in shell variables, and a probe that finds them set uses them instead of asking
//! (sent alone, it asks itself and gives the same answer).

use etcdplay_transport::script::sh_quote;

use crate::modules::systemd::system_reload_due_script;
use crate::probe::{is_literal_word, lookup_function};

/// The line a probe carries when it reads `$ep_rld` (`yes` when a system daemon-reload is
/// due, `no` when not): in a batch, the prelude then sets it.
pub(crate) const RELOAD_HINT: &str = "# ep_reload_due\n";

/// When a probe wants the system manager's `systemctl show` of a unit from the batch's
/// prelude: the word on its hint line (`# ep_unit_show WANT UNIT`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ShowWant {
    /// Whenever it runs.
    Always,
    /// Unless a daemon-reload is due: the probe of a task that reloads first.
    UnlessReloadDue,
    /// The data-dir guard's: while a reload is due, only to see that the unit does not exist
    /// (no file on disk, and the host agent did not say no unit file mentions etcd).
    Guard,
}

impl ShowWant {
    const ALL: [ShowWant; 3] = [ShowWant::Always, ShowWant::UnlessReloadDue, ShowWant::Guard];

    fn word(self) -> &'static str {
        match self {
            ShowWant::Always => "always",
            ShowWant::UnlessReloadDue => "unless-reload-due",
            ShowWant::Guard => "guard",
        }
    }
}

/// The prefix of the line naming a unit whose `systemctl show` a probe reads.
const SHOW_HINT: &str = "# ep_unit_show ";

/// The line a probe carries when it reads the system manager's `systemctl show` of `unit`.
fn show_hint(want: ShowWant, unit: &str) -> String {
    format!("{SHOW_HINT}{} {}\n", want.word(), sh_quote(unit))
}

/// Shell that sets `$ep_uv` to `systemctl show UNIT --no-pager 2>&1` of the system manager:
/// the batch prelude's answer when it has one, else systemctl's. Runs in the probe's own
/// shell (no `exit`, no options).
pub(crate) fn show_into_var(unit: &str) -> String {
    show_into_var_unless(ShowWant::Always, unit, "")
}

/// [`show_into_var`] for a probe that does not need systemd's view while a daemon-reload is
/// due (`$ep_rld` is `yes`: it asks again after the reload): then, unless the prelude asked
/// anyway, `$ep_uv` is left empty and systemctl is not asked.
pub(crate) fn show_into_var_unless_reload_due(unit: &str) -> String {
    show_into_var_unless(
        ShowWant::UnlessReloadDue,
        unit,
        "elif [ \"${ep_rld:-}\" = yes ]; then ep_uv=; ",
    )
}

fn show_into_var_unless(want: ShowWant, unit: &str, skip: &str) -> String {
    let q = sh_quote(unit);
    format!(
        "{}if [ \"${{ep_un:-0}}\" -gt 0 ] && ep_unit_shown {q}; then :; {skip}else ep_uv=$(systemctl show {q} --no-pager 2>&1); fi\n",
        show_hint(want, unit)
    )
}

/// A `case` pattern that matches `"$ep_nl$ep_uv$ep_nl"` (see [`SHOWN`]) when `systemctl show`
/// printed `line` (`KEY=VALUE`) as a whole line.
pub(crate) fn shown_line(line: &str) -> String {
    format!("*\"${{ep_nl}}{line}$ep_nl\"*")
}

/// Sets `$ep_nl` to a newline, and the word [`shown_line`] patterns are matched against:
/// `$ep_uv` with a newline on both sides, so every line of it is whole.
pub(crate) const SHOWN: (&str, &str) = ("ep_nl='\n'\n", "\"$ep_nl$ep_uv$ep_nl\"");

/// Where systemd looks for unit files (`systemd-analyze unit-paths` of systemd 252, and
/// `/lib/systemd/system` of systems without a merged `/usr`). Tests name others in
/// `$EP_UNIT_DIRS`.
const UNIT_DIRS: &str = "/etc/systemd/system.control /run/systemd/system.control \
/run/systemd/transient /run/systemd/generator.early /etc/systemd/system \
/etc/systemd/system.attached /run/systemd/system /run/systemd/system.attached \
/run/systemd/generator /usr/local/lib/systemd/system /usr/lib/systemd/system \
/lib/systemd/system /run/systemd/generator.late";

/// The names a unit `id` may have a file by in a unit directory: its own and, for an
/// instance (`a@b.service`), its template's (`a@.service`), as shell words.
fn file_names(id: &str) -> String {
    let template = match (id.split_once('@'), id.rsplit_once('.')) {
        (Some((stem, _)), Some((_, suffix))) => {
            format!(" {}", sh_quote(&format!("{stem}@.{suffix}")))
        }
        _ => String::new(),
    };
    format!("{}{template}", sh_quote(id))
}

/// Where systemctl looks for a SysV init script of a `.service` without a unit file
/// (Debian's and Red Hat's builds); `systemctl is-enabled` then asks `systemd-sysv-install`.
/// Tests name others in `$EP_SYSV_DIRS`. The host agent keeps the same list (its
/// `SYSV_DIRS`, held equal by a test here).
const SYSV_INIT_DIRS: &str = "/etc/init.d /etc/rc.d/init.d";

/// Shell that sets `$ep_uf` to `yes` when no unit directory holds a file or link named for
/// the unit `id` (or its template), and no SysV init script stands in for it:
/// `systemctl is-enabled` reads the unit files, so it would then print nothing and fail ("No
/// such file or directory", on stderr), whatever systemd has loaded.
pub(crate) fn no_unit_file_check(id: &str) -> String {
    let sysv = match id.strip_suffix(".service") {
        Some(stem) => format!(
            "for ep_d in ${{EP_SYSV_DIRS:-{SYSV_INIT_DIRS}}}; do if [ -e \"$ep_d\"/{} ]; then ep_uf=; fi; done\n",
            sh_quote(stem)
        ),
        None => String::new(),
    };
    format!(
        "ep_uf=yes\nfor ep_d in ${{EP_UNIT_DIRS:-{UNIT_DIRS}}}; do for ep_f in {names}; do\n  if [ -e \"$ep_d/$ep_f\" ] || [ -L \"$ep_d/$ep_f\" ]; then ep_uf=; fi\ndone; done\n{sysv}",
        names = file_names(id),
    )
}

/// Shell that sets `$ep_ua` to `yes` when the unit systemd shows as `id` (its `Id=`, see
/// `systemd::expected_id`) in `$ep_uv` does not exist: systemd found no file for it
/// (`LoadState=not-found`; it looks again on every `show` since version 246, earlier ones
/// kept the answer until a reload) and no unit directory holds a file or link by its name or
/// by its template's (`a@.service` for `a@b.service`), which also covers an older systemd.
/// `systemctl is-enabled` and `systemctl cat` would then only fail (on a converging host, the
/// read-ahead asks about a unit that a later task writes: two `systemctl` runs, 10 ms of the
/// host's CPU, for answers nobody uses). Needs [`SHOWN`]'s `$ep_nl`.
pub(crate) fn absent_unit_check(id: &str) -> String {
    format!(
        "ep_ua=\ncase {shown} in {named})\n  case {shown} in {absent})\n    {files}    ep_ua=$ep_uf;;\n  esac;;\nesac\n",
        shown = SHOWN.1,
        named = shown_line(&format!("Id={id}")),
        absent = shown_line("LoadState=not-found"),
        files = no_unit_file_check(id).replace('\n', "\n    "),
    )
}

/// Shell for a probe that only wants to know what systemd has loaded for `unit`, and only
/// when that is cheap: in a batch whose prelude asked, it sets `$ep_uv` to the unit's
/// `systemctl show` when the unit is loaded and nothing it is made of changed since (systemd
/// says `NeedDaemonReload=no` and no unit file's ctime moved since the last daemon-reload
/// this module made, so a reload before the start would load the same thing); otherwise, and
/// sent alone, it leaves `$ep_uv` empty and the probe must ask its own way. Needs no
/// functions of [`crate::probe::FUNCS`].
///
/// It also sets `$ep_ua` to `yes` when that answer says the unit does not exist (see
/// [`absent_unit_check`]): it then starts nothing, and the probe needs no `systemctl cat`;
/// and `$ep_ur` to the answer as the prelude had it, even when not trusted.
pub fn loaded_unit_script(unit: &str) -> String {
    let q = sh_quote(unit);
    let absent = match crate::modules::systemd::expected_id(unit) {
        Some(id) => absent_unit_check(&id),
        None => "ep_ua=\n".into(),
    };
    format!(
        "{}{RELOAD_HINT}ep_uv=\nep_ua=\nep_ur=\nif [ \"${{ep_un:-0}}\" -gt 0 ] && ep_unit_shown {q}; then\n  ep_ur=$ep_uv\n  {set_nl}{absent}  if [ \"${{ep_rld:-}}\" != no ]; then ep_uv=; fi\n  case {shown} in {loaded}) ;; *) ep_uv=;; esac\n  case {shown} in {current}) ;; *) ep_uv=;; esac\nfi\n",
        show_hint(ShowWant::Guard, unit),
        set_nl = SHOWN.0,
        shown = SHOWN.1,
        loaded = shown_line("LoadState=loaded"),
        current = shown_line("NeedDaemonReload=no"),
    )
}

/// Whether one of `scripts` carries [`RELOAD_HINT`]: the batch's prelude then runs the
/// reload check.
pub(crate) fn asks_reload(scripts: &[&str]) -> bool {
    scripts
        .iter()
        .flat_map(|s| s.lines())
        .any(|line| line == RELOAD_HINT.trim_end())
}

/// The part of a batch's prelude that asks systemd: one `systemctl show` per unit the
/// batch's `scripts` name on a [`show_hint`] line (kept only when it succeeded, so a probe
/// meets a failure by asking itself), and the reload check when one carries
/// [`RELOAD_HINT`]. Empty when none does.
///
/// While a reload is due, a unit is only shown for a probe that wants it then
/// ([`ShowWant::Always`]: it would ask itself otherwise). What systemd has loaded is about to
/// be replaced: the probe of a task that reloads first asks again after its reload (its
/// `is-enabled` reads the unit files, and is not asked about a unit with none), and the guard
/// does not trust that view, except to see that the unit does not exist, which it needs only
/// when no file by the unit's name is on disk and the host agent did not already answer that
/// no unit file mentions etcd (`$ep_ag_noetcd`, looked for exactly then). A unit systemd
/// still runs from a file no longer on disk is thus only left unshown for a task that reloads
/// before it starts anything; a task that does not has its probe want the unit shown, and the
/// guard reads that answer for a mention of etcd too. On a converging host this spares a
/// `systemctl show` in the read-ahead before the task that writes the unit and in the one
/// after it.
pub(crate) fn prelude(scripts: &[&str]) -> String {
    let mut units: Vec<(&str, Vec<ShowWant>)> = Vec::new();
    for line in scripts.iter().flat_map(|s| s.lines()) {
        let Some(rest) = line.strip_prefix(SHOW_HINT) else {
            continue;
        };
        let Some((want, word)) = rest.split_once(' ') else {
            continue;
        };
        let Some(want) = ShowWant::ALL.into_iter().find(|w| w.word() == want) else {
            continue;
        };
        if !is_literal_word(word) {
            continue;
        }
        match units.iter_mut().find(|(u, _)| *u == word) {
            Some((_, wants)) => wants.push(want),
            None => units.push((word, vec![want])),
        }
    }
    let reload = asks_reload(scripts);
    let mut out = String::new();
    if reload {
        out.push_str(&system_reload_due_script());
        out.push_str("set --\n");
    }
    if units.is_empty() {
        return out;
    }
    out.push_str(&lookup_function(
        "ep_unit_shown",
        "ep_un",
        "ep_uu",
        "ep_uo",
        "ep_uv",
    ));
    out.push_str(
        r#"ep_un=0
ep_unit_ask() {
  if ep_w=$(systemctl show "$1" --no-pager 2>&1); then
    ep_un=$((ep_un + 1)); eval "ep_uu_$ep_un=\$1; ep_uo_$ep_un=\$ep_w"
  fi
}
"#,
    );
    for (unit, wants) in units {
        if !reload || wants.contains(&ShowWant::Always) {
            out.push_str(&format!("ep_unit_ask {unit}\n"));
            continue;
        }
        let guard_needs = if wants.contains(&ShowWant::Guard) {
            let on_disk =
                crate::modules::systemd::expected_id(&crate::probe::unquote_literal(unit))
                    .map(|id| format!("{}[ \"$ep_uf\" = yes ]", no_unit_file_check(&id)))
                    .unwrap_or_else(|| "true".to_string());
            format!("[ \"${{ep_ag_noetcd-}}\" != yes ] && {{\n{on_disk}\n}}")
        } else {
            "false".to_string()
        };
        out.push_str(&format!(
            "if [ \"${{ep_rld:-}}\" != yes ] || {{ {guard_needs}; }}; then ep_unit_ask {unit}; fi\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::systemd::{status_script, status_script_with, ShowBefore};

    /// A host whose `systemctl` answers `show` with `shown` and `is-enabled` with `enabled`,
    /// and logs the verb of every call.
    struct FakeSystemd {
        dir: tempfile::TempDir,
    }

    impl FakeSystemd {
        fn new(shown: &str, enabled: (&str, i32)) -> FakeSystemd {
            let dir = tempfile::tempdir().unwrap();
            let bin = dir.path().join("bin");
            std::fs::create_dir(&bin).unwrap();
            std::fs::write(dir.path().join("show"), shown).unwrap();
            std::fs::create_dir(dir.path().join("units")).unwrap();
            let script = format!(
                "#!/bin/sh\necho \"$1\" >>{log}\ncase $1 in\n  show) cat {show};;\n  is-enabled) if [ -n '{e}' ]; then echo '{e}'; fi; exit {rc};;\n  cat) echo '[Service]'; echo 'ExecStart=/bin/true';;\nesac\n",
                log = dir.path().join("log").display(),
                show = dir.path().join("show").display(),
                e = enabled.0,
                rc = enabled.1,
            );
            crate::test_shim::write_executable(&bin.join("systemctl"), &script);
            FakeSystemd { dir }
        }

        /// A unit file by `name` in the fake's only unit directory.
        fn file(&self, name: &str) {
            std::fs::write(self.dir.path().join("units").join(name), "[Service]\n").unwrap();
        }

        /// Runs `script` with the fake first on `PATH`; its stdout.
        fn run(&self, script: &str) -> String {
            let path = format!(
                "{}:{}",
                self.dir.path().join("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            );
            let out = std::process::Command::new("/bin/sh")
                .args(["-c", script])
                .env("PATH", path)
                .env("EP_UNIT_DIRS", self.dir.path().join("units"))
                .env("EP_SYSV_DIRS", self.dir.path().join("init.d"))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{script}");
            String::from_utf8(out.stdout).unwrap()
        }

        /// The verbs systemctl was called with since the last look.
        fn calls(&self) -> Vec<String> {
            crate::test_shim::take_log(&self.dir.path().join("log"))
        }
    }

    const LOADED: &str = "Id=fleet-dummy.service\nNames=fleet-dummy.service\nLoadState=loaded\nNeedDaemonReload=no\nUnitFileState=enabled\nExecStart={ path=/bin/sleep ; argv[]=/bin/sleep 1000 ; ignore_errors=no }\n";

    /// What the guard does with [`loaded_unit_script`]'s answer (and the host agent's).
    fn guard(unit: &str) -> String {
        format!(
            "{}if [ \"$ep_ua\" = yes ]; then echo absent; elif [ -z \"$ep_uv\" ] && [ \"${{ep_ag_noetcd-}}\" = yes ]; then echo agent; else case $ep_uv in ''|*etcd*) systemctl cat {unit}; echo asked;; *) echo loaded;; esac; fi\n",
            loaded_unit_script(unit)
        )
    }

    /// A batch as the read-ahead sends it (prelude, then each probe), with `reload` as what
    /// the reload check found.
    fn batch(probes: &[&str], reload: &str) -> String {
        let prelude = prelude(probes);
        assert!(prelude.contains("ep_unit_shown()"), "{prelude}");
        // The test host's own stamp is not the fake's: the reload check is set as found.
        let prelude = prelude.replace(&system_reload_due_script(), &format!("ep_rld={reload}\n"));
        let body: String = probes
            .iter()
            .map(|p| format!("{p}\necho '@@next'\n"))
            .collect();
        format!("{{\n{prelude}\n}} >/dev/null 2>&1\n{body}")
    }

    /// In a batch, the module's probe and the guard's share one `systemctl show`; the guard
    /// needs no `systemctl cat` for a loaded unit that does not mention etcd, and the module
    /// no `is-enabled` when no unit file changed since the last reload. The module's answer
    /// is the one it gives alone.
    #[test]
    fn a_batch_asks_systemd_once_for_the_module_and_the_guard() {
        let host = FakeSystemd::new(LOADED, ("enabled", 0));
        host.file("fleet-dummy.service");
        let module = status_script("", "fleet-dummy");
        let alone = host.run(&module);
        assert_eq!(host.calls(), ["show", "is-enabled"]);
        assert!(alone.contains("\nenabled\nrc=0\n"), "{alone}");
        let out = host.run(&batch(&[&guard("fleet-dummy"), &module], "no"));
        assert_eq!(host.calls(), ["show"]);
        let answers: Vec<&str> = out.split("@@next\n").collect();
        assert_eq!(answers[0], "loaded\n");
        assert_eq!(answers[1], alone);
        // A reload due: the unit files may have changed since systemd read them.
        let out = host.run(&batch(&[&guard("fleet-dummy"), &module], "yes"));
        assert_eq!(host.calls(), ["show", "cat", "is-enabled"]);
        assert!(out.starts_with("[Service]"), "{out}");
        // Alone, the guard asks.
        assert!(host.run(&guard("fleet-dummy")).ends_with("asked\n"));
        assert_eq!(host.calls(), ["cat"]);
    }

    /// `is-enabled` is still asked whenever `show` may not say what it would: another state
    /// than enabled/disabled, the unit shown under another name (an alias), a failed `show`.
    #[test]
    fn is_enabled_is_asked_unless_show_says_the_same() {
        for (shown, name) in [
            (LOADED.replace("=enabled", "=static"), "fleet-dummy"),
            (LOADED.to_string(), "fleet-alias"),
            (LOADED.to_string(), "fleet-dummy.socket"),
            (String::new(), "fleet-dummy"),
        ] {
            let host = FakeSystemd::new(&shown, ("static", 0));
            for file in [
                "fleet-dummy.service",
                "fleet-alias.service",
                "fleet-dummy.socket",
            ] {
                host.file(file);
            }
            let module = status_script("", name);
            host.run(&format!("ep_rld=no\n{module}"));
            assert_eq!(host.calls(), ["show", "is-enabled"], "{shown} {name}");
        }
        let disabled = LOADED.replace("=enabled", "=disabled");
        let host = FakeSystemd::new(&disabled, ("disabled", 1));
        host.file("fleet-dummy.service");
        let module = status_script("", "fleet-dummy.service");
        let asked = host.run(&module);
        host.calls();
        assert_eq!(host.run(&format!("ep_rld=no\n{module}")), asked);
        assert_eq!(host.calls(), ["show"]);
    }

    /// Right after a daemon-reload (or a check that none is due) in the same request,
    /// systemd has what is on disk: `is-enabled` is not asked.
    #[test]
    fn a_reload_in_the_same_request_makes_is_enabled_unneeded() {
        use crate::modules::systemd::skippable_reload_script;
        let host = FakeSystemd::new(LOADED, ("enabled", 0));
        let units = host.dir.path().join("units");
        let stamp = host.dir.path().join("run/stamp").display().to_string();
        let reload = skippable_reload_script(&stamp, &[&units.display().to_string()]);
        let out = host.run(&format!("{reload}{}", status_script("", "fleet-dummy")));
        assert_eq!(host.calls(), ["daemon-reload", "show"]);
        assert!(out.contains("\nenabled\nrc=0\n"), "{out}");
        // Nothing changed since: no reload, and still no question.
        host.run(&format!("{reload}{}", status_script("", "fleet-dummy")));
        assert_eq!(host.calls(), ["show"]);
    }

    /// The guard's cheap answer needs a unit loaded as it is on disk that does not mention
    /// etcd anywhere in what systemd shows.
    #[test]
    fn the_guard_asks_for_the_unit_text_unless_systemd_loaded_a_plain_one() {
        for shown in [
            LOADED.replace("/bin/sleep", "/usr/local/bin/etcd"),
            LOADED.replace("NeedDaemonReload=no", "NeedDaemonReload=yes"),
            LOADED.replace("LoadState=loaded", "LoadState=not-found"),
        ] {
            let host = FakeSystemd::new(&shown, ("enabled", 0));
            // Not found by systemd, but a file by its name is there (an older systemd that
            // has not looked again).
            std::fs::write(host.dir.path().join("units/fleet-dummy.service"), "").unwrap();
            let module = status_script("", "fleet-dummy");
            let out = host.run(&batch(&[&guard("fleet-dummy"), &module], "no"));
            assert!(out.contains("asked\n"), "{shown}: {out}");
            assert_eq!(host.calls(), ["show", "cat"], "{shown}");
        }
    }

    const NOT_FOUND: &str = "Id=fleet-dummy.service\nNames=fleet-dummy.service\nLoadState=not-found\nNeedDaemonReload=no\nUnitFileState=\n";

    /// A unit that exists nowhere (the read-ahead of a converging host asks before the task
    /// that writes it): neither `is-enabled` nor `systemctl cat` is asked, and the module's
    /// answer is the one systemctl gives. `is-enabled` reads the unit files: a file by the
    /// unit's name or its template's, and it is asked; none, and it is not, whatever `show`
    /// said. While a reload is due, the prelude shows the unit only for a probe that wants
    /// it then, or for the guard when no file is on disk and the agent gave no answer.
    #[test]
    fn nothing_more_is_asked_about_a_unit_that_does_not_exist() {
        let host = FakeSystemd::new(NOT_FOUND, ("", 1));
        let module = status_script("", "fleet-dummy");
        let alone = host.run(&format!("ep_rld=yes\n{module}"));
        assert_eq!(host.calls(), ["show"]);
        assert!(alone.contains("@@etcdplay:enabled\nrc=1\n"), "{alone}");
        let asked = host.run(&module.replace("[ \"$ep_uf\" = yes ]", "false"));
        assert_eq!(host.calls(), ["show", "is-enabled"]);
        assert_eq!(alone, asked, "the same answer as systemctl's");
        let out = host.run(&batch(&[&guard("fleet-dummy"), &module], "yes"));
        assert_eq!(host.calls(), ["show"]);
        assert_eq!(out.split("@@next\n").next(), Some("absent\n"));

        // The probe of a task that reloads first, with the guard, while a reload is due.
        let reloading = status_script_with("", "fleet-dummy", ShowBefore::UnlessReloadDue);
        let pair = [guard("fleet-dummy"), reloading.clone()];
        let pair: Vec<&str> = pair.iter().map(String::as_str).collect();
        // No file: shown for the guard, which then knows the unit does not exist.
        host.run(&batch(&pair, "yes"));
        assert_eq!(host.calls(), ["show"], "none on disk: shown for the guard");
        // The agent said no unit file mentions etcd: nothing is asked at all.
        let out = host.run(&format!("ep_ag_noetcd=yes\n{}", batch(&pair, "yes")));
        assert_eq!(host.calls(), Vec::<String>::new());
        assert_eq!(out.split("@@next\n").next(), Some("agent\n"));
        assert!(out.contains("@@etcdplay:enabled\nrc=1\n"), "{out}");

        let units = host.dir.path().join("units");
        host.file("fleet-dummy.service");
        // A file by its name while a reload is due (the task that writes it has run): a probe
        // that does not reload asks for itself, the guard reads the text.
        host.run(&batch(&[&guard("fleet-dummy"), &module], "yes"));
        assert_eq!(host.calls(), ["show", "cat", "is-enabled"]);
        let out = host.run(&batch(&pair, "yes"));
        assert_eq!(host.calls(), ["cat", "is-enabled"]);
        assert!(
            out.contains("@@etcdplay:show\n\n\n@@etcdplay:enabled\n"),
            "{out}"
        );
        host.run(&batch(&pair, "no"));
        assert_eq!(host.calls(), ["show", "cat", "is-enabled"], "no reload due");
        std::fs::remove_file(units.join("fleet-dummy.service")).unwrap();

        let instance = NOT_FOUND.replace("fleet-dummy.service", "fleet@a.service");
        let host = FakeSystemd::new(&instance, ("", 1));
        host.run(&status_script("", "fleet@a"));
        assert_eq!(host.calls(), ["show"]);
        std::os::unix::fs::symlink("/nowhere", host.dir.path().join("units/fleet@.service"))
            .unwrap();
        host.run(&status_script("", "fleet@a"));
        assert_eq!(
            host.calls(),
            ["show", "is-enabled"],
            "a dangling link counts"
        );

        // A SysV init script by the unit's name: is-enabled asks systemd-sysv-install.
        let host = FakeSystemd::new(NOT_FOUND, ("", 1));
        std::fs::create_dir(host.dir.path().join("init.d")).unwrap();
        std::fs::write(host.dir.path().join("init.d/fleet-dummy"), "#!/bin/sh\n").unwrap();
        host.run(&status_script("", "fleet-dummy"));
        assert_eq!(host.calls(), ["show", "is-enabled"], "a SysV script counts");

        // `show` about another name: still no file by this one.
        let host = FakeSystemd::new(NOT_FOUND, ("", 1));
        host.run(&status_script("", "fleet-alias"));
        assert_eq!(host.calls(), ["show"], "no file by the name asked");
        host.file("fleet-alias.service");
        host.run(&status_script("", "fleet-alias"));
        assert_eq!(host.calls(), ["show", "is-enabled"], "an alias's link");
    }

    /// The host agent looks for unit files where the probes do.
    #[test]
    fn the_agent_knows_the_same_unit_directories() {
        assert_eq!(etcdplay_agent::UNIT_DIRS, UNIT_DIRS);
        assert_eq!(etcdplay_agent::SYSV_DIRS, SYSV_INIT_DIRS);
    }

    #[test]
    fn only_literal_unit_names_reach_the_prelude() {
        assert_eq!(prelude(&["# ep_unit_show $(x)\n"]), "");
        let hint = show_hint(ShowWant::Always, "it's");
        assert!(prelude(&[&hint]).contains("\nep_unit_ask 'it'\\''s'\n"));
        assert!(prelude(&[RELOAD_HINT]).contains("ep_rld=yes"));
    }
}
