//! `dnf` (also `yum`, which Ansible 2.19 runs as dnf, and `package` on RPM hosts): install,
//! upgrade or remove RPM packages and groups with the host's `dnf` command. One probe asks
//! `rpm -q` what each name (a package, `name-version[-release]`, a provided path, a glob, a
//! local `.rpm` file or an `.rpm` URL) has installed, `dnf group list --installed --ids` for
//! `@group`s and, for `state: latest`, `dnf check-update`; the pure [`plan`] decides and only
//! then (never in check mode) one `dnf -y install/upgrade/remove` runs, followed by `rpm -q`
//! again so the result lists what was installed, as Ansible's `results` do.

use std::collections::BTreeMap;

use etcdplay_transport::script::sh_quote;
use etcdplay_transport::ExecOutput;

use crate::args::Args;
use crate::host::Ctx;
use crate::probe::section;
use crate::read_ahead::{sections, text, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::{ModuleError, ModuleResult};

/// One name of the task, by what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Spec {
    /// A package name, optionally with version, release or arch, a glob or a provided path.
    Package(String),
    /// `@group` (or `@^environment`).
    Group(String),
    /// A `.rpm` file on the host.
    File(String),
    /// A `.rpm` URL, which dnf downloads itself.
    Url(String),
}

impl Spec {
    pub(crate) fn parse(name: &str) -> Spec {
        let name = name.trim();
        if let Some(group) = name.strip_prefix('@') {
            Spec::Group(group.to_string())
        } else if name.contains("://") {
            Spec::Url(name.to_string())
        } else if name.ends_with(".rpm") {
            Spec::File(name.to_string())
        } else {
            Spec::Package(name.to_string())
        }
    }

    /// How dnf is told about it.
    fn arg(&self) -> String {
        match self {
            Spec::Group(g) => format!("@{g}"),
            Spec::Package(s) | Spec::File(s) | Spec::Url(s) => s.clone(),
        }
    }
}

/// The state asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Desired {
    Present,
    Latest,
    Absent,
}

/// One installed package as `rpm -q` printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Installed {
    pub(crate) name: String,
    pub(crate) epoch: String,
    pub(crate) version: String,
    pub(crate) release: String,
    pub(crate) arch: String,
}

impl Installed {
    /// `name-[epoch:]version-release.arch`, as dnf names a package (epoch 0 left out).
    pub(crate) fn nevra(&self) -> String {
        let epoch = if self.epoch.is_empty() || self.epoch == "0" {
            String::new()
        } else {
            format!("{}:", self.epoch)
        };
        format!(
            "{}-{epoch}{}-{}.{}",
            self.name, self.version, self.release, self.arch
        )
    }
}

/// The `rpm -q` format every query uses: one `pkg|...` line per installed package; anything
/// else rpm prints ("package x is not installed") is ignored.
const RPM_QF: &str = "pkg|%{NAME}|%{EPOCHNUM}|%{VERSION}|%{RELEASE}|%{ARCH}\\n";

/// Reads `pkg|name|epoch|version|release|arch` lines.
pub(crate) fn parse_installed(text: &str) -> Vec<Installed> {
    text.lines()
        .filter_map(|l| l.strip_prefix("pkg|"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f.len() == 5).then(|| Installed {
                name: f[0].to_string(),
                epoch: f[1].to_string(),
                version: f[2].to_string(),
                release: f[3].to_string(),
                arch: f[4].to_string(),
            })
        })
        .collect()
}

/// Reads `dnf check-update` output: `name.arch  [epoch:]version-release  repo` lines (package
/// name → the version an upgrade would install). Headings (`Obsoleting Packages`, `Last
/// metadata expiration check`) and continuation lines are skipped.
pub(crate) fn parse_check_update(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with(' ') || line.starts_with('\t') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 || !f[1].contains('-') {
            continue;
        }
        let Some((name, _arch)) = f[0].rsplit_once('.') else {
            continue;
        };
        out.entry(name.to_string())
            .or_insert_with(|| f[1].to_string());
    }
    out
}

/// Reads `dnf group list --installed --ids`: `   Name (id)` lines, as lower-case names and ids.
pub(crate) fn parse_groups(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with(' ')) {
        let line = line.trim();
        match line.rsplit_once(" (") {
            Some((name, id)) if id.ends_with(')') => {
                out.push(name.to_lowercase());
                out.push(id.trim_end_matches(')').to_lowercase());
            }
            _ => out.push(line.to_lowercase()),
        }
    }
    out
}

/// What the probe learnt about one spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SpecState {
    pub(crate) installed: Vec<Installed>,
    /// A local `.rpm` file's `name-version-release.arch`, when rpm could read it.
    pub(crate) file_nvra: Option<String>,
}

/// The probe's answer.
#[derive(Debug, Default)]
pub(crate) struct DnfAnswer {
    pub(crate) specs: Vec<SpecState>,
    pub(crate) groups: Vec<String>,
    pub(crate) updates: BTreeMap<String, String>,
    /// `check-update` failed (exit 1): the repositories could not be read.
    pub(crate) update_error: Option<String>,
    pub(crate) uid: Option<u32>,
    /// `autoremove` without names: what dnf would remove.
    pub(crate) unneeded: Vec<String>,
}

/// What has to run.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) install: Vec<String>,
    pub(crate) upgrade: Vec<String>,
    pub(crate) remove: Vec<String>,
    /// Ansible's `results` lines known before anything runs (removals, upgrades).
    pub(crate) results: Vec<String>,
    /// `update_only` names not installed (reported, not installed).
    pub(crate) not_installed: Vec<String>,
    /// `autoremove` without names: `dnf autoremove` has something to remove.
    pub(crate) autoremove: bool,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.install.is_empty()
            && self.upgrade.is_empty()
            && self.remove.is_empty()
            && !self.autoremove
    }
}

/// Decides from the probe's answer what dnf must do, as Ansible's dnf module does: a name
/// with something installed is present (a version in the name is part of what rpm matched);
/// `latest` upgrades an installed name that `check-update` lists; `absent` removes what is
/// installed.
pub(crate) fn plan(specs: &[Spec], desired: Desired, update_only: bool, a: &DnfAnswer) -> Plan {
    let mut out = Plan::default();
    let empty = SpecState::default();
    for (i, spec) in specs.iter().enumerate() {
        let state = a.specs.get(i).unwrap_or(&empty);
        let installed = match spec {
            Spec::Group(g) => a.groups.contains(&g.trim_start_matches('^').to_lowercase()),
            _ => !state.installed.is_empty(),
        };
        match desired {
            Desired::Absent if installed => {
                out.remove.push(match (spec, &state.installed.first()) {
                    (Spec::File(_) | Spec::Url(_), Some(p)) => p.name.clone(),
                    _ => spec.arg(),
                });
                for p in &state.installed {
                    out.results.push(format!("Removed: {}", p.nevra()));
                }
            }
            Desired::Absent => {}
            Desired::Present | Desired::Latest if !installed => {
                if update_only && desired == Desired::Latest {
                    out.not_installed.push(spec.arg());
                } else {
                    out.install.push(spec.arg());
                }
            }
            Desired::Present => {}
            Desired::Latest => {
                for p in &state.installed {
                    if let Some(new) = a.updates.get(&p.name) {
                        if !out.upgrade.contains(&spec.arg()) {
                            out.upgrade.push(spec.arg());
                        }
                        out.results
                            .push(format!("Installed: {}-{new}.{}", p.name, p.arch));
                        out.results.push(format!("Removed: {}", p.nevra()));
                    }
                }
            }
        }
    }
    out
}

/// The task's arguments, checked.
struct DnfTask {
    specs: Vec<Spec>,
    desired: Desired,
    update_cache: bool,
    autoremove: bool,
    update_only: bool,
    /// Options every dnf command of the task gets (repositories, gpg, weak deps...).
    options: Vec<String>,
    download_only: bool,
}

impl DnfTask {
    /// Whether its first request asks dnf itself (its metadata), which is no read-only probe.
    fn asks_dnf(&self) -> bool {
        self.desired == Desired::Latest
            || self.autoremove
            || self.update_cache
            || self.specs.iter().any(|s| matches!(s, Spec::Group(_)))
    }

    fn from_args(args: &Args) -> Result<DnfTask, ModuleError> {
        let module = args.module;
        if args.has("list") {
            return Err(ModuleError::bad(
                module,
                "list",
                "list is not supported by etcdplay; use package_facts or a command",
            ));
        }
        let names = args.list("name")?.unwrap_or_default();
        let autoremove = args.bool("autoremove", false)?;
        let update_cache = args.bool("update_cache", false)?;
        if names.is_empty() && !autoremove && !update_cache {
            return Err(ModuleError::bad(
                module,
                "name",
                "one of the following is required: name, list, update_cache",
            ));
        }
        let desired = match args.str("state").as_deref() {
            None if autoremove && names.is_empty() => Desired::Absent,
            None | Some("present") | Some("installed") => Desired::Present,
            Some("latest") => Desired::Latest,
            Some("absent") | Some("removed") => Desired::Absent,
            Some(other) => {
                return Err(ModuleError::bad(
                    module,
                    "state",
                    format!(
                        "value of state must be one of: absent, installed, latest, present, removed, got: {other}"
                    ),
                ))
            }
        };
        if autoremove && desired != Desired::Absent {
            return Err(ModuleError::bad(
                module,
                "autoremove",
                "Autoremove should be used alone or with state=absent",
            ));
        }
        Ok(DnfTask {
            specs: names.iter().map(|n| Spec::parse(n)).collect(),
            desired,
            update_cache,
            autoremove,
            update_only: args.bool("update_only", false)?,
            options: command_options(args)?,
            download_only: args.bool("download_only", false)?,
        })
    }

    /// `dnf` with the task's options (and `--refresh` for `update_cache`).
    fn dnf(&self) -> String {
        let mut cmd = String::from("dnf");
        for o in &self.options {
            cmd.push(' ');
            cmd.push_str(&sh_quote(o));
        }
        if self.update_cache {
            cmd.push_str(" --refresh");
        }
        cmd
    }
}

/// The dnf options the arguments ask for, in the order dnf documents them.
fn command_options(args: &Args) -> Result<Vec<String>, ModuleError> {
    let mut o = Vec::new();
    let joined = |name: &str| -> Result<Option<String>, ModuleError> {
        Ok(args
            .list(name)?
            .filter(|l| !l.is_empty())
            .map(|l| l.join(",")))
    };
    if let Some(f) = args.str("conf_file") {
        o.push(format!("--config={f}"));
    }
    if let Some(r) = args.str("installroot").filter(|r| r != "/") {
        o.push(format!("--installroot={r}"));
    }
    if let Some(r) = args.str("releasever") {
        o.push(format!("--releasever={r}"));
    }
    if let Some(r) = joined("disablerepo")? {
        o.push(format!("--disablerepo={r}"));
    }
    if let Some(r) = joined("enablerepo")? {
        o.push(format!("--enablerepo={r}"));
    }
    if let Some(r) = joined("exclude")? {
        o.push(format!("--exclude={r}"));
    }
    if let Some(r) = joined("disable_plugin")? {
        o.push(format!("--disableplugin={r}"));
    }
    if let Some(r) = joined("enable_plugin")? {
        o.push(format!("--enableplugin={r}"));
    }
    if let Some(r) = args.str("disable_excludes") {
        o.push(format!("--disableexcludes={r}"));
    }
    let flags = [
        ("disable_gpg_check", true, "--nogpgcheck"),
        ("allowerasing", true, "--allowerasing"),
        ("skip_broken", true, "--skip-broken"),
        ("cacheonly", true, "--cacheonly"),
        ("security", true, "--security"),
        ("bugfix", true, "--bugfix"),
        ("download_only", true, "--downloadonly"),
        (
            "install_weak_deps",
            false,
            "--setopt=install_weak_deps=False",
        ),
        ("sslverify", false, "--setopt=sslverify=False"),
    ];
    for (name, when, flag) in flags {
        if args.opt_bool(name)? == Some(when) {
            o.push(flag.to_string());
        }
    }
    match (args.opt_bool("best")?, args.opt_bool("nobest")?) {
        (Some(true), _) | (_, Some(false)) => o.push("--best".into()),
        (Some(false), _) | (_, Some(true)) => o.push("--nobest".into()),
        _ => {}
    }
    if let Some(d) = args.str("download_dir") {
        o.push(format!("--downloaddir={d}"));
    }
    // Ansible sets clean_requirements_on_remove from `autoremove`.
    if !args.bool("autoremove", false)? {
        o.push("--setopt=clean_requirements_on_remove=False".into());
    }
    Ok(o)
}

/// The `rpm -q` lines that print what `spec` has installed.
fn query(spec: &Spec) -> String {
    let qf = sh_quote(RPM_QF);
    match spec {
        Spec::Package(p) if p.starts_with('/') => {
            format!("rpm -q --whatprovides --qf {qf} -- {} 2>&1\n", sh_quote(p))
        }
        Spec::Package(p) if p.contains(['*', '?', '[']) => {
            format!("rpm -qa --qf {qf} -- {} 2>&1\n", sh_quote(p))
        }
        Spec::Package(p) => format!("rpm -q --qf {qf} -- {} 2>&1\n", sh_quote(p)),
        Spec::File(f) => format!(
            "n=$(rpm -qp --qf '%{{NAME}}-%{{VERSION}}-%{{RELEASE}}.%{{ARCH}}' -- {} 2>/dev/null) && {{ printf 'file|%s\\n' \"$n\"; rpm -q --qf {qf} -- \"$n\" 2>&1; }}\n",
            sh_quote(f)
        ),
        Spec::Url(u) => {
            let base = u.rsplit('/').next().unwrap_or(u).trim_end_matches(".rpm");
            format!("rpm -q --qf {qf} -- {} 2>&1\n", sh_quote(base))
        }
        Spec::Group(_) => String::new(),
    }
}

/// The probe body: one `q<i>` section per name, then the installed groups, the available
/// upgrades (for `latest`), the unneeded packages (for a bare `autoremove`) and the user.
fn probe_body(task: &DnfTask) -> String {
    let mut s = String::new();
    for (i, spec) in task.specs.iter().enumerate() {
        s.push_str(&section(&format!("q{i}")));
        s.push_str(&query(spec));
    }
    if task.specs.iter().any(|s| matches!(s, Spec::Group(_))) {
        s.push_str(&section("groups"));
        s.push_str(&format!(
            "{} -q group list --installed --ids 2>/dev/null\n",
            task.dnf()
        ));
    }
    let packages: Vec<String> = task
        .specs
        .iter()
        .filter_map(|s| match s {
            Spec::Package(p) => Some(sh_quote(p)),
            _ => None,
        })
        .collect();
    if task.desired == Desired::Latest && !packages.is_empty() {
        s.push_str(&section("updates"));
        s.push_str(&format!(
            "{} -q check-update -- {} 2>&1; echo \"rc=$?\"\n",
            task.dnf(),
            packages.join(" ")
        ));
    }
    if task.autoremove && task.specs.is_empty() {
        s.push_str(&section("unneeded"));
        s.push_str(&format!(
            "{} -q repoquery --unneeded --qf '%{{name}}-%{{evr}}.%{{arch}}' 2>/dev/null\n",
            task.dnf()
        ));
    }
    s.push_str(&section("uid"));
    s.push_str("id -u\n");
    s.push_str(&section("end"));
    s
}

/// Reads the probe's sections.
fn read_answer(s: &Sections, specs: usize) -> DnfAnswer {
    let specs = (0..specs)
        .map(|i| {
            let t = text(s, &format!("q{i}"));
            SpecState {
                installed: parse_installed(&t),
                file_nvra: t
                    .lines()
                    .find_map(|l| l.strip_prefix("file|"))
                    .map(str::to_string),
            }
        })
        .collect();
    let updates_text = text(s, "updates");
    let (updates_out, rc) = updates_text
        .trim_end()
        .rsplit_once("rc=")
        .map(|(o, rc)| (o.to_string(), rc.trim().parse::<i32>().unwrap_or(1)))
        .unwrap_or_default();
    DnfAnswer {
        specs,
        groups: parse_groups(&text(s, "groups")),
        updates: parse_check_update(&updates_out),
        update_error: (rc == 1).then(|| updates_out.trim().to_string()),
        uid: text(s, "uid").trim().parse().ok(),
        unneeded: text(s, "unneeded")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

/// `dnf`'s probe. It only reads, but `latest` (`check-update`), `@group`s and a bare
/// `autoremove` ask dnf, which may fetch repository metadata: those are not read ahead.
pub(crate) struct DnfProbe;

impl FirstProbe for DnfProbe {
    type Answer = Sections;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let task = DnfTask::from_args(input.args)?;
        Ok((!task.asks_dnf()).then(|| with_funcs(&probe_body(&task))))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

/// A failure result with Ansible's fields.
fn failure(msg: impl Into<String>, failures: Vec<String>, rc: i32) -> ModuleResult {
    let mut res = ModuleResult::fail(msg);
    res.set("failures", failures)
        .set("results", Vec::<String>::new())
        .set("rc", rc);
    res
}

/// The names dnf said it could not find (`No match for argument: x`).
pub(crate) fn unmatched(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("No match for argument: "))
        .map(|n| n.trim().to_string())
        .collect()
}

/// The probe `package` sends for a dnf or yum host when it reads one (see [`DnfProbe`]).
pub(crate) fn package_probe_body(args: &Args) -> Result<Option<String>, ModuleError> {
    let task = DnfTask::from_args(args)?;
    Ok((!task.asks_dnf()).then(|| probe_body(&task)))
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    run_with(ctx, None).await
}

/// `dnf`, and `package`'s work on a dnf or yum host: `pre_read` is the answer to
/// [`package_probe_body`] when `package` has already read it.
pub(crate) async fn run_with(
    ctx: &Ctx<'_>,
    pre_read: Option<Sections>,
) -> Result<ModuleResult, ModuleError> {
    // Ansible's dnf action refuses both names of the backend at once. (`package` hands its
    // own `use`, the package manager, to this module: it is not a dnf argument then.)
    if ctx.module() != "package" && ctx.args.has("use") && ctx.args.has("use_backend") {
        return Ok(ModuleResult::fail(
            "parameters are mutually exclusive: ('use', 'use_backend')",
        ));
    }
    let task = DnfTask::from_args(&ctx.args)?;
    let s = if let Some(read) = pre_read {
        read
    } else if matches!(ctx.module(), "dnf") {
        match ctx.read_first::<DnfProbe>().await? {
            Some(s) => s,
            None => ctx.probe(&probe_body(&task)).await?,
        }
    } else {
        ctx.probe(&probe_body(&task)).await?
    };
    let answer = read_answer(&s, task.specs.len());
    converge(ctx, &task, &answer).await
}

async fn converge(
    ctx: &Ctx<'_>,
    task: &DnfTask,
    answer: &DnfAnswer,
) -> Result<ModuleResult, ModuleError> {
    if answer.uid != Some(0) && !task.download_only {
        let mut res = ModuleResult::fail("This command has to be run under the root user.");
        res.set("results", Vec::<String>::new());
        return Ok(res);
    }
    if task.specs.is_empty() && !task.autoremove {
        // `update_cache` alone.
        if !ctx.call.check {
            if let Err(msg) = ctx.change(format!("{} -q makecache\n", task.dnf())).await? {
                return Ok(failure(
                    format!("Failed to synchronize repodata: {msg}"),
                    vec![],
                    1,
                ));
            }
        }
        let mut res = ModuleResult::ok();
        res.msg = Some("Cache updated".into());
        res.set("results", Vec::<String>::new()).set("rc", 0);
        return Ok(res);
    }
    if let Some(err) = &answer.update_error {
        return Ok(failure(
            format!("Failed to check for updates: {err}"),
            vec![],
            1,
        ));
    }
    let mut plan = plan(&task.specs, task.desired, task.update_only, answer);
    if task.autoremove && task.specs.is_empty() && !answer.unneeded.is_empty() {
        plan.autoremove = true;
        plan.results
            .extend(answer.unneeded.iter().map(|p| format!("Removed: {p}")));
    }
    let mut res = ModuleResult::ok();
    res.set("rc", 0);
    let mut results: Vec<String> = plan
        .not_installed
        .iter()
        .map(|s| format!("Packages providing {s} not installed due to update_only specified"))
        .collect();
    if plan.is_empty() {
        res.msg = Some("Nothing to do".into());
        res.set("results", results);
        return Ok(res);
    }
    res.changed = true;
    if ctx.call.check {
        results.extend(plan.install.iter().map(|s| format!("Installed: {s}")));
        results.extend(plan.results.iter().cloned());
        res.msg = Some("Check mode: No changes made, but would have if not in check mode".into());
        res.set("results", results);
        return Ok(res);
    }
    let out = ctx.exec(change_script(task, &plan)).await?;
    if out.rc != 0 {
        let stderr = out.stderr_str();
        let missing = unmatched(&stderr);
        let failures = if missing.is_empty() {
            vec![stderr.trim().to_string()]
        } else {
            missing
                .iter()
                .map(|n| format!("No package {n} available."))
                .collect()
        };
        return Ok(failure(
            "Failed to install some of the specified packages",
            failures,
            1,
        ));
    }
    // What the install brought: the packages each name has now that it did not have before.
    let after = crate::read_ahead::sections(&out).unwrap_or_default();
    for (i, spec) in task.specs.iter().enumerate() {
        let before = answer.specs.get(i).map(|s| &s.installed[..]).unwrap_or(&[]);
        if !before.is_empty() || !plan.install.contains(&spec.arg()) {
            continue;
        }
        match spec {
            Spec::Group(g) => results.push(format!("Group {g} installed.")),
            _ => {
                for p in parse_installed(&text(&after, &format!("q{i}"))) {
                    results.push(format!("Installed: {}", p.nevra()));
                }
            }
        }
    }
    results.extend(plan.results.iter().cloned());
    res.msg = Some(String::new());
    res.set("results", results);
    Ok(res)
}

/// The change: one dnf command per kind of work, then the names' `rpm -q` again (sections
/// `q<i>`, for the results).
fn change_script(task: &DnfTask, plan: &Plan) -> String {
    let dnf = task.dnf();
    let quoted = |v: &[String]| v.iter().map(|s| sh_quote(s)).collect::<Vec<_>>().join(" ");
    let mut s = String::from("set -e\n");
    if !plan.remove.is_empty() {
        s.push_str(&format!(
            "{dnf} -y -q remove -- {} >&2\n",
            quoted(&plan.remove)
        ));
    }
    if plan.autoremove || (task.autoremove && !plan.remove.is_empty()) {
        s.push_str(&format!("{dnf} -y -q autoremove >&2\n"));
    }
    if !plan.install.is_empty() {
        s.push_str(&format!(
            "{dnf} -y -q install -- {} >&2\n",
            quoted(&plan.install)
        ));
    }
    if !plan.upgrade.is_empty() {
        s.push_str(&format!(
            "{dnf} -y -q upgrade -- {} >&2\n",
            quoted(&plan.upgrade)
        ));
    }
    s.push_str("set +e\n");
    for (i, spec) in task.specs.iter().enumerate() {
        s.push_str(&section(&format!("q{i}")));
        s.push_str(&query(spec));
    }
    s.push_str(&section("end"));
    with_funcs(&s)
}
