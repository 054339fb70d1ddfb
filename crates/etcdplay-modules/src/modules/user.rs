//! `user`: create, modify or remove a local account with `useradd`/`usermod`/`userdel`.
//! The probe reads `getent passwd`, the primary group, the supplementary groups and whether the
//! requested groups exist, in one round trip; the pure [`plan`] turns the difference into one
//! command line.

use etcdplay_transport::script::sh_quote;
use etcdplay_transport::{ExecOutput, ExecRequest};

use crate::host::Ctx;
use crate::modules::accounts::{parse_group, parse_passwd, GroupEnt, Passwd};
use crate::probe::section;
use crate::read_ahead::{sections, text, with_funcs, FirstProbe, ProbeInput, Sections};
use crate::{ModuleError, ModuleResult};

/// The account as the task wants it; `None` fields are left alone.
#[derive(Debug, Clone, Default)]
pub(crate) struct WantUser {
    pub(crate) name: String,
    pub(crate) present: bool,
    pub(crate) uid: Option<u32>,
    pub(crate) group: Option<String>,
    pub(crate) groups: Option<Vec<String>>,
    pub(crate) append: bool,
    pub(crate) shell: Option<String>,
    pub(crate) home: Option<String>,
    pub(crate) comment: Option<String>,
    pub(crate) system: bool,
    pub(crate) create_home: bool,
    pub(crate) remove: bool,
    pub(crate) force: bool,
    /// `password`: a crypt hash (never logged); set on creation, and later only with
    /// `update_password: always` (Ansible's default).
    pub(crate) password: Option<String>,
    pub(crate) update_always: bool,
    pub(crate) password_lock: Option<bool>,
    /// `expires`: seconds since the epoch; negative removes the expiry.
    pub(crate) expires: Option<f64>,
    pub(crate) uid_min: Option<u32>,
    pub(crate) uid_max: Option<u32>,
    pub(crate) skeleton: Option<String>,
    pub(crate) umask: Option<String>,
    /// `password_expire_account_disable` (`-f`): Ansible passes it on every run.
    pub(crate) inactive: Option<i64>,
    /// `password_expire_min`, `_max`, `_warn` (`chage -m/-M/-W`).
    pub(crate) expire_policy: [Option<i64>; 3],
}

/// The account as the host has it.
#[derive(Debug, Clone, Default)]
pub(crate) struct HaveUser {
    pub(crate) passwd: Option<Passwd>,
    pub(crate) primary: Option<GroupEnt>,
    /// Supplementary groups (primary excluded).
    pub(crate) groups: Vec<String>,
    /// The shadow entry's password hash and expiry day (-1: none), when the host has one.
    pub(crate) shadow: Option<Shadow>,
}

/// The fields of a `getent shadow` line the module compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Shadow {
    pub(crate) hash: String,
    /// Days since the epoch; -1 when the field is empty (as Ansible reads `/etc/shadow`).
    pub(crate) expire_days: i64,
    /// Minimum and maximum password age and warning days; -1 when empty.
    pub(crate) policy: [i64; 3],
}

/// Reads a `getent shadow` line.
pub(crate) fn parse_shadow(line: &str) -> Option<Shadow> {
    let f: Vec<&str> = line.trim_end_matches('\n').split(':').collect();
    if f.len() != 9 {
        return None;
    }
    let days = |field: &str| -> Option<i64> {
        if field.is_empty() {
            Some(-1)
        } else {
            field.parse().ok()
        }
    };
    Some(Shadow {
        hash: f[1].to_string(),
        expire_days: days(f[7])?,
        policy: [days(f[3])?, days(f[4])?, days(f[5])?],
    })
}

/// `expires` as `useradd -e`/`usermod -e` take it: the UTC calendar date (`YYYY-MM-DD`), or
/// the empty string that removes the expiry for a negative value, as Ansible does.
pub(crate) fn expiry_date(expires: f64) -> String {
    if expires < 0.0 {
        return String::new();
    }
    let (y, m, d) = civil_from_days(expires.floor() as i64 / 86_400);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Whether the expiry on the host differs from the requested one (Ansible compares the
/// calendar date; a negative request only matters while an expiry is set).
fn expiry_differs(expires: f64, have_days: i64) -> bool {
    if expires < 0.0 {
        return have_days >= 0;
    }
    have_days < 0 || expiry_date(have_days as f64 * 86_400.0) != expiry_date(expires)
}

/// The hash to give the account (`chpasswd -e`, on stdin), if the password is to be set:
/// always on creation; on an existing account with `update_password: always` when the hash
/// differs (a leading `!`, the lock, ignored). With `password_lock: yes` the hash is stored
/// locked (`!HASH`).
pub(crate) fn new_hash(want: &WantUser, have: &HaveUser) -> Option<String> {
    let password = want.password.as_ref().filter(|_| want.present)?;
    let set = match (&have.passwd, &have.shadow) {
        (None, _) => true,
        (Some(_), shadow) => {
            let current = shadow.as_ref().map(|s| s.hash.as_str()).unwrap_or("");
            want.update_always
                && current.trim_start_matches('!') != password.trim_start_matches('!')
        }
    };
    set.then(|| {
        if want.password_lock == Some(true) {
            format!("!{password}")
        } else {
            password.clone()
        }
    })
}

/// `chage` for the password ageing fields that differ from the shadow entry (all given ones
/// for an account that has none yet), as Ansible's set_password_expire.
pub(crate) fn chage(want: &WantUser, have: &HaveUser) -> Option<Vec<String>> {
    if !want.present {
        return None;
    }
    let mut cmd = vec!["chage".to_string()];
    for ((wanted, flag), current) in want.expire_policy.iter().zip(["-m", "-M", "-W"]).zip(
        have.shadow
            .as_ref()
            .map(|s| s.policy.map(Some))
            .unwrap_or([None; 3]),
    ) {
        if let Some(days) = wanted.filter(|d| current != Some(*d)) {
            cmd.extend([flag.to_string(), days.to_string()]);
        }
    }
    (cmd.len() > 1).then(|| {
        cmd.push(want.name.clone());
        cmd
    })
}

/// Ansible's warning for a `password` that does not look like a crypt hash.
pub(crate) fn plaintext_warning(password: &str) -> Option<&'static str> {
    let looks_hashed = if ["*", "!", "*************"].contains(&password) {
        true
    } else if password.contains([':', '*', '!']) || !password.contains('$') {
        false
    } else {
        let fields: Vec<&str> = password.split('$').collect();
        let last = fields.last().copied().unwrap_or("");
        let crypt_chars = last
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '/');
        let length_ok = match fields.get(1).copied() {
            Some("1") => last.len() == 22,
            Some("5" | "y") => last.len() == 43,
            Some("6") => last.len() == 86,
            _ => true,
        };
        fields.len() >= 3 && crypt_chars && length_ok
    };
    (!looks_hashed).then_some(
        "The input password appears not to have been hashed. The 'password' argument must be \
         encrypted for this module to work properly.",
    )
}

fn group_matches(wanted: &str, g: &GroupEnt) -> bool {
    wanted == g.name || wanted.parse::<u32>().is_ok_and(|id| id == g.gid)
}

/// The command (argv) that brings the account to `want`, or `None` when it already is.
pub(crate) fn plan(want: &WantUser, have: &HaveUser) -> Option<Vec<String>> {
    let mut cmd: Vec<String> = Vec::new();
    let push = |cmd: &mut Vec<String>, flag: &str, v: &str| {
        cmd.push(flag.into());
        cmd.push(v.into());
    };
    match (&have.passwd, want.present) {
        (None, false) => None,
        (Some(_), false) => {
            cmd.push("userdel".into());
            if want.remove {
                cmd.push("-r".into());
            }
            if want.force {
                cmd.push("-f".into());
            }
            cmd.push(want.name.clone());
            Some(cmd)
        }
        (None, true) => {
            cmd.push("useradd".into());
            if let Some(uid) = want.uid {
                push(&mut cmd, "-u", &uid.to_string());
            }
            if let Some(g) = &want.group {
                push(&mut cmd, "-g", g);
            }
            if let Some(gs) = want.groups.as_ref().filter(|g| !g.is_empty()) {
                push(&mut cmd, "-G", &gs.join(","));
            }
            if let Some(c) = &want.comment {
                push(&mut cmd, "-c", c);
            }
            if let Some(h) = &want.home {
                push(&mut cmd, "-d", h);
            }
            if let Some(s) = &want.shell {
                push(&mut cmd, "-s", s);
            }
            if let Some(expires) = want.expires {
                push(&mut cmd, "-e", &expiry_date(expires));
            }
            if let Some(days) = want.inactive {
                push(&mut cmd, "-f", &days.to_string());
            }
            if want.create_home {
                cmd.push("-m".into());
                if let Some(k) = &want.skeleton {
                    push(&mut cmd, "-k", k);
                }
                if let Some(u) = &want.umask {
                    push(&mut cmd, "-K", &format!("UMASK={u}"));
                }
            } else {
                cmd.push("-M".into());
            }
            if want.system {
                cmd.push("-r".into());
            }
            if let Some(min) = want.uid_min {
                push(&mut cmd, "-K", &format!("UID_MIN={min}"));
            }
            if let Some(max) = want.uid_max {
                push(&mut cmd, "-K", &format!("UID_MAX={max}"));
            }
            cmd.push(want.name.clone());
            Some(cmd)
        }
        (Some(p), true) => {
            cmd.push("usermod".into());
            if let Some(uid) = want.uid.filter(|u| *u != p.uid) {
                push(&mut cmd, "-u", &uid.to_string());
            }
            if let Some(g) = &want.group {
                let same = have.primary.as_ref().is_some_and(|pg| group_matches(g, pg))
                    || g.parse::<u32>().is_ok_and(|id| id == p.gid);
                if !same {
                    push(&mut cmd, "-g", g);
                }
            }
            if let Some(gs) = &want.groups {
                let primary_name = have
                    .primary
                    .as_ref()
                    .map(|g| g.name.clone())
                    .unwrap_or_default();
                let wanted: Vec<&String> = gs.iter().filter(|g| **g != primary_name).collect();
                let missing = wanted.iter().any(|g| !have.groups.contains(g));
                let extra = have.groups.iter().any(|g| !gs.contains(g));
                if want.append && missing {
                    cmd.push("-a".into());
                    push(&mut cmd, "-G", &gs.join(","));
                } else if !want.append && (missing || extra) {
                    push(&mut cmd, "-G", &gs.join(","));
                }
            }
            if let Some(c) = want.comment.as_ref().filter(|c| **c != p.comment) {
                push(&mut cmd, "-c", c);
            }
            if let Some(h) = want.home.as_ref().filter(|h| **h != p.home) {
                push(&mut cmd, "-d", h);
            }
            if let Some(s) = want.shell.as_ref().filter(|s| **s != p.shell) {
                push(&mut cmd, "-s", s);
            }
            // An account without a shadow entry counts as expiring on day 0, as Ansible's
            // module reads it (`user_password()[1] or '0'`): `usermod -e` then creates one.
            let have_days = have.shadow.as_ref().map_or(0, |s| s.expire_days);
            if let Some(expires) = want.expires.filter(|e| expiry_differs(*e, have_days)) {
                push(&mut cmd, "-e", &expiry_date(expires));
            }
            if let Some(days) = want.inactive {
                push(&mut cmd, "-f", &days.to_string());
            }
            // A new hash carries the lock itself (`!HASH`); otherwise lock or unlock.
            if new_hash(want, have).is_none() {
                let locked = have
                    .shadow
                    .as_ref()
                    .is_some_and(|s| s.hash.starts_with('!'));
                match want.password_lock {
                    Some(true) if !locked => cmd.push("-L".into()),
                    Some(false) if locked => cmd.push("-U".into()),
                    _ => {}
                }
            }
            if cmd.len() == 1 {
                return None;
            }
            cmd.push(want.name.clone());
            Some(cmd)
        }
    }
}

/// Builds [`HaveUser`] from the probe's sections.
pub(crate) fn parse_have(passwd: &str, primary: &str, groups: &str) -> HaveUser {
    let passwd = passwd.lines().next().and_then(parse_passwd);
    let primary = primary.lines().next().and_then(parse_group);
    let pname = primary.as_ref().map(|g| g.name.clone()).unwrap_or_default();
    let groups = if passwd.is_some() {
        groups
            .split_whitespace()
            .filter(|g| *g != pname)
            .map(String::from)
            .collect()
    } else {
        Vec::new()
    };
    HaveUser {
        passwd,
        primary,
        groups,
        shadow: None,
    }
}

/// The groups a task names (primary first), each checked to exist by the probe.
fn needed_groups(group: &Option<String>, groups: Option<&[String]>) -> Vec<String> {
    group
        .iter()
        .cloned()
        .chain(groups.unwrap_or_default().iter().cloned())
        .collect()
}

/// The account as the system resolves it (passwd, primary group, groups, shadow) and whether
/// each named group exists: the module's one read, which the read-ahead sends early.
pub(crate) struct UserProbe;

impl FirstProbe for UserProbe {
    type Answer = Sections;

    fn script(input: &ProbeInput<'_>) -> Result<Option<String>, ModuleError> {
        let a = input.args;
        let q = sh_quote(&a.req_str("name")?);
        let mut script = format!("{}getent passwd {q}\n", section("passwd"));
        script.push_str(&section("primary"));
        script.push_str(&format!(
            "g=$(getent passwd {q} | cut -d: -f4); [ -n \"$g\" ] && getent group \"$g\"\n"
        ));
        script.push_str(&section("groups"));
        script.push_str(&format!("getent passwd {q} >/dev/null && id -Gn {q}\n"));
        script.push_str(&section("shadow"));
        script.push_str(&format!("getent shadow {q}\n"));
        script.push_str(&section("home"));
        script.push_str(&home_missing_probe(
            &a.req_str("name")?,
            a.str("home").as_deref(),
        ));
        let groups = a.list("groups")?;
        for (i, g) in needed_groups(&a.str("group"), groups.as_deref())
            .iter()
            .enumerate()
        {
            script.push_str(&section(&format!("g{i}")));
            script.push_str(&format!(
                "getent group {} >/dev/null && echo yes\n",
                sh_quote(g)
            ));
        }
        script.push_str(&section("end"));
        Ok(Some(with_funcs(&script)))
    }

    fn parse(out: &ExecOutput) -> Result<Sections, String> {
        sections(out)
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let a = &ctx.args;
    let to_u32 = |arg: &str, v: Option<i64>| {
        v.map(|n| u32::try_from(n).map_err(|_| ctx.bad(arg, format!("{n} is out of range"))))
            .transpose()
    };
    let want = WantUser {
        name: a.req_str("name")?,
        present: a.choice("state", &["present", "absent"], "present")? == "present",
        uid: to_u32("uid", a.int("uid")?)?,
        group: a.str("group"),
        groups: a.list("groups")?,
        append: a.bool("append", false)?,
        shell: a.str("shell"),
        home: a.str("home"),
        comment: a.str("comment"),
        system: a.bool("system", false)?,
        create_home: a.bool("create_home", true)?,
        remove: a.bool("remove", false)?,
        force: a.bool("force", false)?,
        password: a.str("password"),
        update_always: a.choice("update_password", &["always", "on_create"], "always")? == "always",
        password_lock: a
            .has("password_lock")
            .then(|| a.bool("password_lock", false))
            .transpose()?,
        expires: a.float("expires")?,
        uid_min: to_u32("uid_min", a.int("uid_min")?)?,
        uid_max: to_u32("uid_max", a.int("uid_max")?)?,
        skeleton: a.str("skeleton"),
        umask: a.str("umask"),
        inactive: a.int("password_expire_account_disable")?,
        expire_policy: [
            a.int("password_expire_min")?,
            a.int("password_expire_max")?,
            a.int("password_expire_warn")?,
        ],
    };
    let keygen = KeyGen::from_args(ctx)?;
    let needed = needed_groups(&want.group, want.groups.as_deref());
    let s = ctx.read_probe::<UserProbe>().await?;
    let text = |k: &str| text(&s, k);
    if want.present {
        if let Some((_, g)) = needed
            .iter()
            .enumerate()
            .find(|(i, _)| !text(&format!("g{i}")).starts_with("yes"))
        {
            return Ok(ModuleResult::fail(format!("Group {g} does not exist")));
        }
    }
    let mut have = parse_have(&text("passwd"), &text("primary"), &text("groups"));
    have.shadow = text("shadow").lines().next().and_then(parse_shadow);
    let mut res = ModuleResult::ok();
    res.set("name", want.name.clone())
        .set("state", if want.present { "present" } else { "absent" });
    if let Some(p) = &have.passwd {
        res.set("uid", want.uid.unwrap_or(p.uid))
            .set("home", want.home.clone().unwrap_or(p.home.clone()))
            .set("shell", want.shell.clone().unwrap_or(p.shell.clone()));
    }
    if let Some(gs) = &want.groups {
        res.set("groups", gs.join(","));
    }
    if let Some(password) = want.password.as_deref().filter(|_| want.present) {
        res.set("password", "NOT_LOGGING_PASSWORD");
        if let Some(warning) = plaintext_warning(password) {
            res.set("warnings", vec![warning]);
        }
    }
    let hash = new_hash(&want, &have);
    let cmd = plan(&want, &have);
    let ageing = chage(&want, &have);
    if cmd.is_some() || hash.is_some() || ageing.is_some() {
        res.changed = true;
        if !ctx.call.check {
            let mut script = String::from("set -e\n");
            if let Some(cmd) = &cmd {
                let line: Vec<String> = cmd.iter().map(|w| sh_quote(w)).collect();
                script.push_str(&line.join(" "));
                script.push('\n');
            }
            if let Some(ageing) = &ageing {
                let line: Vec<String> = ageing.iter().map(|w| sh_quote(w)).collect();
                script.push_str(&line.join(" "));
                script.push('\n');
            }
            // The hash goes on stdin, never in a command line.
            let mut req = ExecRequest::default();
            if let Some(hash) = &hash {
                script.push_str("chpasswd -e\n");
                req.stdin = format!("{}:{hash}\n", want.name).into_bytes();
            }
            // useradd picks uid/home/shell defaults: read the entry back in the same round
            // trip so that a new user's result carries them, as Ansible's does.
            if want.present {
                script.push_str(&format!("getent passwd {}\n", sh_quote(&want.name)));
            }
            req.script = script;
            let out = ctx.exec_req(req).await?;
            if out.rc != 0 {
                let mut failed = ModuleResult::fail(out.stderr_str().trim().to_string());
                failed.set("name", want.name.clone()).set("rc", out.rc);
                return Ok(failed);
            }
            if let Some(p) = parse_passwd(out.stdout_str().lines().next().unwrap_or("")) {
                res.set("uid", p.uid)
                    .set("home", p.home)
                    .set("shell", p.shell);
            }
        }
    }
    // Ansible's module creates a missing home directory of an existing account whenever
    // `create_home` is on ("handle missing homedirs"), before the key generation.
    let home_missing = text("home").starts_with("missing");
    if want.present && want.create_home && have.passwd.is_some() && home_missing {
        res.changed = true;
        if !ctx.call.check {
            let script = fallback_home_script(&want);
            let out = ctx.exec(script).await?;
            if out.rc != 0 {
                return Ok(ModuleResult::fail(out.stderr_str().trim().to_string()));
            }
        }
    }
    if let Some(keygen) = keygen.filter(|_| want.present && !ctx.call.check) {
        if let Some(failed) = keygen.run(ctx, &want.name, &mut res).await? {
            return Ok(failed);
        }
    }
    Ok(res)
}

/// Prints `missing` when the home directory the account has (or is given with `home:`) does
/// not exist; nothing for an account that does not exist.
fn home_missing_probe(name: &str, home: Option<&str>) -> String {
    let home = match home {
        Some(home) => sh_quote(home),
        None => format!("\"$(getent passwd {} | cut -d: -f6)\"", sh_quote(name)),
    };
    format!(
        "if getent passwd {} >/dev/null; then h={home}; [ -n \"$h\" ] && [ ! -e \"$h\" ] && \
         echo missing; fi; true\n",
        sh_quote(name)
    )
}

/// Creates the missing home directory as Ansible's `create_homedir` and `chown_homedir` do: a
/// copy of the skeleton (`/etc/skel` unless `skeleton:` names another; a plain directory when
/// there is none), its mode from `/etc/login.defs` (`HOME_MODE`, else `0777 & ~UMASK`, else
/// 0755) when that file exists, then everything in it but links owned by the account.
fn fallback_home_script(want: &WantUser) -> String {
    let name = sh_quote(&want.name);
    let home = match &want.home {
        Some(home) => sh_quote(home),
        None => format!("\"$(getent passwd {name} | cut -d: -f6)\""),
    };
    let skel = sh_quote(want.skeleton.as_deref().unwrap_or("/etc/skel"));
    format!(
        r#"set -e
h={home}; k={skel}
mkdir -p "$(dirname "$h")"
if [ -e "$k" ] && [ "$k" != /dev/null ]; then cp -a "$k" "$h"; else mkdir -p "$h"; fi
if [ -e /etc/login.defs ]; then
  m=$(awk '/^HOME_MODE[ 	]+[0-9]+$/ {{ print "h " $2; found = 1; exit }}
           /^UMASK[ 	]+[0-9]+$/ {{ u = $2 }}
           END {{ if (!found && u != "") print "u " u }}' /etc/login.defs)
  case $m in
    "h "*) chmod "${{m#h }}" "$h" ;;
    "u "*) chmod "$(printf '%o' $(( 0777 & ~0${{m#u }} )))" "$h" ;;
    *) chmod 0755 "$h" ;;
  esac
fi
ids=$(getent passwd {name} | cut -d: -f3,4)
find "$h" ! -type l -exec chown "$ids" {{}} +
"#
    )
}

/// `generate_ssh_key: yes` and its `ssh_key_*` arguments.
pub(crate) struct KeyGen {
    kind: String,
    bits: i64,
    /// Relative paths are below the user's home, as Ansible resolves them.
    file: String,
    comment: String,
    force: bool,
    /// `ssh_key_passphrase`: given to ssh-keygen on its standard input, never in argv.
    passphrase: Option<String>,
}

impl KeyGen {
    fn from_args(ctx: &Ctx<'_>) -> Result<Option<KeyGen>, ModuleError> {
        let a = &ctx.args;
        if !a.bool("generate_ssh_key", false)? {
            return Ok(None);
        }
        let passphrase = a.str("ssh_key_passphrase");
        if passphrase.as_deref().is_some_and(|p| p.contains('\n')) {
            return Err(ctx.bad(
                "ssh_key_passphrase",
                "a passphrase with a line break cannot be given to ssh-keygen",
            ));
        }
        let kind = a.str("ssh_key_type").unwrap_or_else(|| "rsa".into());
        Ok(Some(KeyGen {
            file: a
                .str("ssh_key_file")
                .unwrap_or_else(|| format!(".ssh/id_{kind}")),
            kind,
            bits: a.int("ssh_key_bits")?.unwrap_or(0),
            comment: a.str("ssh_key_comment").unwrap_or_default(),
            force: a.bool("force", false)?,
            passphrase,
        }))
    }

    /// Generates the key unless it exists (or with `force`), owned by the user, in one round
    /// trip that also reads back what Ansible reports: `ssh_fingerprint`, `ssh_key_file`,
    /// `ssh_public_key`.
    async fn run(
        &self,
        ctx: &Ctx<'_>,
        user: &str,
        res: &mut ModuleResult,
    ) -> Result<Option<ModuleResult>, ModuleError> {
        let q = sh_quote(user);
        let path = if self.file.starts_with('/') {
            sh_quote(&self.file)
        } else {
            format!("\"$h\"/{}", sh_quote(&self.file))
        };
        // Ansible's default comment names the host it runs on.
        let comment = if self.comment.is_empty() {
            "\"ansible-generated on $(hostname)\"".to_string()
        } else {
            sh_quote(&self.comment)
        };
        let bits = if self.bits > 0 {
            format!("-b {} ", self.bits)
        } else {
            String::new()
        };
        // Without `-N`, ssh-keygen asks for the passphrase twice; with no terminal it reads
        // the answers from its standard input (Ansible answers its prompts through a pty).
        // The passphrase is never on a command line.
        let (new_passphrase, stdin) = match &self.passphrase {
            Some(p) => (String::new(), format!("{p}\n{p}\n").into_bytes()),
            None => ("-N '' ".to_string(), Vec::new()),
        };
        let script = format!(
            "set -e\nh=$(getent passwd {q} | cut -d: -f6)\nids=$(id -u {q}):$(id -g {q})\n\
             f={path}\nd=$(dirname -- \"$f\")\n\
             if [ ! -d \"$d\" ]; then mkdir -m 0700 -- \"$d\"; chown \"$ids\" -- \"$d\"; fi\n\
             if [ -e \"$f\" ] && [ {force} != yes ]; then echo exists >&3; else\n\
             rm -f -- \"$f\" \"$f.pub\"\n\
             ssh-keygen -q -t {kind} {bits}-C {comment} -f \"$f\" {new_passphrase}>/dev/null\n\
             chown \"$ids\" -- \"$f\" \"$f.pub\"\necho generated >&3; fi 3>&1\n\
             printf '%s\\n' \"$f\"\nssh-keygen -l -f \"$f\" || true\ncat -- \"$f.pub\" 2>/dev/null || true\n",
            force = if self.force { "yes" } else { "no" },
            kind = sh_quote(&self.kind),
        );
        let mut req = ExecRequest::script(script);
        req.stdin = stdin;
        let out = ctx.exec_req(req).await?;
        if out.rc != 0 {
            let mut failed = ModuleResult::fail(out.stderr_str().trim().to_string());
            failed.set("name", user).set("rc", out.rc);
            return Ok(Some(failed));
        }
        let text = out.stdout_str();
        let mut lines = text.lines();
        let outcome = lines.next().unwrap_or_default();
        let file = lines.next().unwrap_or_default().to_string();
        if outcome == "generated" {
            res.changed = true;
        } else {
            let warning = format!(
                "Found existing ssh key private file \"{file}\", no force, so skipping \
                 ssh-keygen generation"
            );
            res.set("warnings", vec![warning]);
        }
        res.set("ssh_fingerprint", lines.next().unwrap_or_default().trim())
            .set("ssh_key_file", file)
            .set("ssh_public_key", lines.next().unwrap_or_default().trim());
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want() -> WantUser {
        WantUser {
            name: "etcd".into(),
            present: true,
            create_home: true,
            ..WantUser::default()
        }
    }

    // Recorded `getent passwd etcd`, `getent group 998`, `id -Gn etcd` on Debian 12.
    fn have() -> HaveUser {
        parse_have(
            "etcd:x:998:998::/var/lib/etcd:/usr/sbin/nologin\n",
            "etcd:x:998:\n",
            "etcd ssl-cert\n",
        )
    }

    fn sh(script: &str) -> std::process::Output {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap()
    }

    // ansible-core 2.19's user target, test_no_home_fallback.yml: an account created with
    // `create_home: no`, then `user: name=ansibulluser` again, reports changed and its home
    // exists (Ansible's "handle missing homedirs"); the probe says so only for a missing one.
    #[test]
    fn a_missing_home_of_an_existing_account_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = want();
        w.name = "root".into();
        w.home = Some(dir.path().join("nohome").display().to_string());
        let out = sh(&home_missing_probe(&w.name, w.home.as_deref()));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "missing\n");
        w.home = Some(dir.path().display().to_string());
        assert_eq!(
            sh(&home_missing_probe(&w.name, w.home.as_deref())).stdout,
            b""
        );
        w.name = "etcdplay-no-such-user".into();
        w.home = Some(dir.path().join("nohome").display().to_string());
        assert_eq!(
            sh(&home_missing_probe(&w.name, w.home.as_deref())).stdout,
            b""
        );
    }

    // Ansible's create_homedir: a copy of the skeleton, mode from /etc/login.defs.
    #[test]
    fn the_fallback_home_copies_the_skeleton() {
        let dir = tempfile::tempdir().unwrap();
        let skel = dir.path().join("skel");
        std::fs::create_dir(&skel).unwrap();
        std::fs::write(skel.join(".profile"), "x").unwrap();
        let mut w = want();
        // The account running the test, so that the chown needs no privilege.
        w.name = String::from_utf8_lossy(&sh("id -un").stdout)
            .trim()
            .to_string();
        w.home = Some(dir.path().join("a/home").display().to_string());
        w.skeleton = Some(skel.display().to_string());
        let out = sh(&fallback_home_script(&w));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(dir.path().join("a/home/.profile").is_file());
    }

    // ansible-core 2.19's user target, test_ssh_key_passphrase.yml: the generated key opens
    // with `ssh-keygen -y -f KEY -P secret_passphrase`. ssh-keygen without `-N` and without a
    // terminal reads the passphrase (twice) from its standard input, as the module gives it.
    #[test]
    fn ssh_keygen_takes_the_passphrase_on_stdin() {
        use std::io::Write;
        if sh("command -v ssh-keygen && command -v setsid")
            .stdout
            .is_empty()
        {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        let mut child = std::process::Command::new("setsid")
            .args(["-w", "ssh-keygen", "-q", "-t", "ed25519", "-C", "c", "-f"])
            .arg(&key)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"secret_passphrase\nsecret_passphrase\n")
            .unwrap();
        assert!(child.wait().unwrap().success());
        let opened = std::process::Command::new("ssh-keygen")
            .args(["-y", "-P", "secret_passphrase", "-f"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(opened.status.success());
        let wrong = std::process::Command::new("ssh-keygen")
            .args(["-y", "-P", "", "-f"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(!wrong.status.success());
    }

    #[test]
    fn creates_missing_user() {
        let mut w = want();
        w.system = true;
        w.create_home = false;
        w.shell = Some("/usr/sbin/nologin".into());
        w.groups = Some(vec!["ssl-cert".into()]);
        let cmd = plan(&w, &HaveUser::default()).unwrap();
        assert_eq!(
            cmd.join(" "),
            "useradd -G ssl-cert -s /usr/sbin/nologin -M -r etcd"
        );
    }

    #[test]
    fn existing_user_changes_only_differences() {
        let h = have();
        assert_eq!(h.groups, vec!["ssl-cert".to_string()]);
        let mut w = want();
        w.shell = Some("/usr/sbin/nologin".into());
        w.group = Some("etcd".into());
        w.groups = Some(vec!["ssl-cert".into()]);
        assert_eq!(plan(&w, &h), None);
        w.home = Some("/srv/etcd".into());
        w.groups = Some(vec!["docker".into()]);
        w.append = true;
        assert_eq!(
            plan(&w, &h).unwrap().join(" "),
            "usermod -a -G docker -d /srv/etcd etcd"
        );
        w.append = false;
        w.groups = Some(vec![]);
        w.home = None;
        assert_eq!(plan(&w, &h).unwrap().join(" "), "usermod -G  etcd");
        w.groups = None;
        w.uid = Some(998);
        w.group = Some("998".into());
        assert_eq!(plan(&w, &h), None);
    }

    #[test]
    fn removal() {
        let mut w = want();
        w.present = false;
        assert_eq!(plan(&w, &HaveUser::default()), None);
        w.remove = true;
        assert_eq!(plan(&w, &have()).unwrap().join(" "), "userdel -r etcd");
    }

    // ansible-core's user target: `expires: 2529881062` stores 29281 in the shadow entry
    // (2050-03-03), a second run with the same value is not changed; `expires: -1` removes it.
    #[test]
    fn expiry_is_a_utc_calendar_date() {
        assert_eq!(expiry_date(2_529_881_062.0), "2050-03-03");
        assert_eq!(expiry_date(0.0), "1970-01-01");
        assert_eq!(expiry_date(-1.0), "");
        assert_eq!(civil_from_days(29_281), (2050, 3, 3));
        assert!(!expiry_differs(2_529_881_062.0, 29_281));
        assert!(expiry_differs(2_529_881_062.0, -1));
        assert!(expiry_differs(-1.0, 29_281));
        assert!(!expiry_differs(-1.0, -1));
        // ansible-core's user target, test_expires_no_shadow.yml: an account in /etc/passwd
        // only, `expires: -1` is changed (usermod -e '' adds its shadow entry), then not.
        let mut w = want();
        w.expires = Some(-1.0);
        assert_eq!(plan(&w, &have()).unwrap().join(" "), "usermod -e  etcd");
        let mut w = want();
        w.expires = Some(2_529_881_062.0);
        let mut h = have();
        h.shadow = parse_shadow("etcd:!:19000:0:99999:7:::\n");
        assert_eq!(
            plan(&w, &h).unwrap().join(" "),
            "usermod -e 2050-03-03 etcd"
        );
        h.shadow = parse_shadow("etcd:!:19000:0:99999:7::29281:\n");
        assert_eq!(plan(&w, &h), None);
    }

    // The user target's hashes: its sha512 hash is taken as hashed, "plaintextpassword" and a
    // hash with '+' in it get Ansible's warning; update_password: on_create leaves an existing
    // hash alone; password_lock stores "!HASH" with a new hash and otherwise locks with -L.
    #[test]
    fn passwords_are_hashes_set_through_chpasswd() {
        let sha512 = "$6$rounds=656000$TT4O7jz2M57npccl$33LF6FcUMSW11qrESXL1HX0BS.bsiT6aenFLLiVp\
                      sQh6hDtI9pJh5iY7x8J7ePkN4fP8hmElidHXaeD51pbGS.";
        assert_eq!(plaintext_warning(sha512), None);
        assert!(plaintext_warning("plaintextpassword").is_some());
        assert!(plaintext_warning(
            "$6$rounds=656000$tgK3gYTyRLUmhyv2$lAFrYUQwn7E6VsjPOwQwoSx30lmpi\
             U9r/E0Al7tzKrR9mkodcMEZGe9OXD0H/clOn6qdsUnaL4zefy5fG+++++"
        )
        .is_some());
        assert_eq!(plaintext_warning("*"), None);
        let mut w = want();
        w.password = Some(sha512.into());
        w.update_always = true;
        let mut h = have();
        h.shadow = parse_shadow("etcd:*:19000:0:99999:7:::\n");
        assert_eq!(new_hash(&w, &h).as_deref(), Some(sha512));
        h.shadow = parse_shadow(&format!("etcd:!{sha512}:19000:0:99999:7:::\n"));
        assert_eq!(new_hash(&w, &h), None);
        w.update_always = false;
        h.shadow = parse_shadow("etcd:*:19000:0:99999:7:::\n");
        assert_eq!(new_hash(&w, &h), None);
        assert_eq!(new_hash(&w, &HaveUser::default()).as_deref(), Some(sha512));
        w.password_lock = Some(true);
        assert_eq!(
            new_hash(&w, &HaveUser::default()),
            Some(format!("!{sha512}"))
        );
        assert_eq!(plan(&w, &h).unwrap().join(" "), "usermod -L etcd");
        h.shadow = parse_shadow("etcd:!*:19000:0:99999:7:::\n");
        assert_eq!(plan(&w, &h), None);
        w.password_lock = Some(false);
        assert_eq!(plan(&w, &h).unwrap().join(" "), "usermod -U etcd");
    }

    #[test]
    fn creation_options_as_ansibles_useradd_line() {
        let mut w = want();
        w.skeleton = Some("/etc/skel2".into());
        w.umask = Some("027".into());
        w.uid_min = Some(1200);
        w.uid_max = Some(1300);
        assert_eq!(
            plan(&w, &HaveUser::default()).unwrap().join(" "),
            "useradd -m -k /etc/skel2 -K UMASK=027 -K UID_MIN=1200 -K UID_MAX=1300 etcd"
        );
    }

    // Ansible's user module: password_expire_min/max/warn run `chage -m/-M/-W` for what
    // differs from the shadow entry; password_expire_account_disable is `usermod -f N` on
    // every run.
    #[test]
    fn password_ageing() {
        let mut w = want();
        w.expire_policy = [Some(1), Some(90), Some(7)];
        let mut h = have();
        h.shadow = parse_shadow("etcd:!:19000:0:99999:7:::\n");
        assert_eq!(chage(&w, &h).unwrap().join(" "), "chage -m 1 -M 90 etcd");
        h.shadow = parse_shadow("etcd:!:19000:1:90:7:::\n");
        assert_eq!(chage(&w, &h), None);
        w.inactive = Some(15);
        assert_eq!(plan(&w, &h).unwrap().join(" "), "usermod -f 15 etcd");
    }
}
