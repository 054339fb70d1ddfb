//! Extra ssh client settings from the inventory (`ansible_ssh_common_args`,
//! `ansible_ssh_extra_args`): the argument text is split like a shell would, each flag becomes
//! an ssh_config `Keyword value` line, and [`config_text`] builds the client config file the
//! master connection is started with (`ssh -F`). The openssh crate has no way to pass a bare
//! `-o`, and a generated file that puts these lines first and then includes the user's and the
//! system's config keeps ssh's own precedence: the first value obtained for a keyword wins.

use std::fmt;
use std::path::Path;

use crate::script::shlex_split;

/// One ssh_config setting, such as `KexAlgorithms curve25519-sha256`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SshSetting {
    pub keyword: String,
    pub value: String,
}

/// Why an argument text could not be turned into settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshArgsError(pub String);

impl fmt::Display for SshArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SshArgsError {}

/// Parses ssh command-line arguments as Ansible users write them in
/// `ansible_ssh_common_args`: `-o Keyword=value` (also `-oKeyword=value` and `-o "Keyword
/// value"`), and the flags that are shorthands for a keyword (`-J`, `-p`, `-l`, `-i`, `-C`,
/// `-4`, `-6`, `-A`, `-a`, `-q`, `-T`). Anything else is refused: etcdplay runs ssh itself, so
/// an option it cannot express would silently do nothing.
pub fn parse_ssh_args(text: &str) -> Result<Vec<SshSetting>, SshArgsError> {
    let words = shlex_split(text).map_err(SshArgsError)?;
    let mut out = Vec::new();
    let mut it = words.into_iter();
    while let Some(word) = it.next() {
        let Some(flag) = word.strip_prefix('-').filter(|f| !f.is_empty()) else {
            return Err(SshArgsError(format!(
                "'{word}' is not an ssh option (etcdplay accepts -o Keyword=value and -J/-p/-l/-i/-C/-4/-6/-A/-a/-q/-T)"
            )));
        };
        let (letter, attached) = flag.split_at(1);
        let mut value = || -> Result<String, SshArgsError> {
            if !attached.is_empty() {
                return Ok(attached.to_string());
            }
            it.next()
                .ok_or_else(|| SshArgsError(format!("'-{letter}' needs a value")))
        };
        let setting = |k: &str, v: String| SshSetting {
            keyword: k.to_string(),
            value: v,
        };
        let no_value = |k: &str, v: &str| -> Result<SshSetting, SshArgsError> {
            if attached.is_empty() {
                Ok(setting(k, v.to_string()))
            } else {
                Err(SshArgsError(format!(
                    "'-{flag}': combined single-letter flags are not supported, write them apart"
                )))
            }
        };
        let s = match letter {
            "o" => option(&value()?)?,
            "J" => setting("ProxyJump", value()?),
            "p" => setting("Port", value()?),
            "l" => setting("User", value()?),
            "i" => setting("IdentityFile", value()?),
            "C" => no_value("Compression", "yes")?,
            "4" => no_value("AddressFamily", "inet")?,
            "6" => no_value("AddressFamily", "inet6")?,
            "A" => no_value("ForwardAgent", "yes")?,
            "a" => no_value("ForwardAgent", "no")?,
            "q" => no_value("LogLevel", "QUIET")?,
            // No terminal is what etcdplay asks for anyway.
            "T" => {
                no_value("RequestTTY", "no")?;
                continue;
            }
            _ => {
                return Err(SshArgsError(format!(
                    "ssh option '-{letter}' is not supported (etcdplay accepts -o Keyword=value and -J/-p/-l/-i/-C/-4/-6/-A/-a/-q/-T)"
                )))
            }
        };
        if s.value.contains(['\n', '\r']) {
            return Err(SshArgsError(format!(
                "the value of {} contains a line break",
                s.keyword
            )));
        }
        out.push(s);
    }
    Ok(out)
}

/// `Keyword=value` or `Keyword value`, as `-o` takes it.
fn option(text: &str) -> Result<SshSetting, SshArgsError> {
    let split = text
        .find(|c: char| c == '=' || c.is_whitespace())
        .ok_or_else(|| {
            SshArgsError(format!("'-o {text}' has no value (write -o Keyword=value)"))
        })?;
    let keyword = &text[..split];
    let value = text[split..]
        .trim_start_matches(|c: char| c.is_whitespace())
        .trim_start_matches('=')
        .trim();
    if keyword.is_empty() || !keyword.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(SshArgsError(format!(
            "'-o {text}': '{keyword}' is not an ssh_config keyword"
        )));
    }
    // ssh refuses these on its command line; in the generated config they would make every
    // line after them conditional, or read another file in their place.
    if ["match", "host", "include"].contains(&keyword.to_ascii_lowercase().as_str()) {
        return Err(SshArgsError(format!(
            "'-o {text}': {keyword} cannot be given as an option (ssh refuses it on its command line)"
        )));
    }
    Ok(SshSetting {
        keyword: keyword.to_string(),
        value: value.to_string(),
    })
}

/// The client config for `ssh -F`: the inventory's settings first (for ssh the first value
/// wins, as a `-o` would), then what ssh would have read otherwise: `~/.ssh/config` and the
/// system-wide file, or only the config file etcdplay was given (`-F` skips the system-wide
/// one; `/dev/null` means nothing at all, and ssh would refuse to include it).
pub(crate) fn config_text(settings: &[SshSetting], user_config: Option<&Path>) -> String {
    let mut text =
        String::from("# Written by etcdplay for one connection; removed once connected.\n");
    for s in settings {
        text.push_str(&format!("{} {}\n", s.keyword, s.value));
    }
    match user_config {
        Some(path) if path == Path::new("/dev/null") => {}
        Some(path) => text.push_str(&format!("Include \"{}\"\n", path.display())),
        None => text.push_str("Include ~/.ssh/config\nInclude /etc/ssh/ssh_config\n"),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> SshSetting {
        SshSetting {
            keyword: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn ansible_style_common_args() {
        assert_eq!(
            parse_ssh_args("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null").unwrap(),
            vec![
                kv("StrictHostKeyChecking", "no"),
                kv("UserKnownHostsFile", "/dev/null")
            ]
        );
        assert_eq!(
            parse_ssh_args("-oKexAlgorithms=curve25519-sha256 -J bastion -p 2222").unwrap(),
            vec![
                kv("KexAlgorithms", "curve25519-sha256"),
                kv("ProxyJump", "bastion"),
                kv("Port", "2222")
            ]
        );
        assert_eq!(
            parse_ssh_args(
                r#"-o 'ProxyCommand=ssh -W %h:%p jump' -o "ServerAliveCountMax 5" -C -T"#
            )
            .unwrap(),
            vec![
                kv("ProxyCommand", "ssh -W %h:%p jump"),
                kv("ServerAliveCountMax", "5"),
                kv("Compression", "yes")
            ]
        );
        assert_eq!(parse_ssh_args("  ").unwrap(), vec![]);
    }

    #[test]
    fn unsupported_or_broken_args_are_refused_with_the_reason() {
        let err = |t: &str| parse_ssh_args(t).unwrap_err().0;
        assert!(err("-X").contains("'-X' is not supported"), "{}", err("-X"));
        for blocked in [
            "-o Match=all",
            "-o Host=*",
            "-oInclude=/tmp/x",
            "-o \"include /tmp/x\"",
        ] {
            assert!(
                err(blocked).contains("cannot be given as an option"),
                "{}",
                err(blocked)
            );
        }
        assert!(err("-o").contains("needs a value"));
        assert!(err("-o Nothing").contains("has no value"));
        assert!(err("-o 'Bad-Key=1'").contains("not an ssh_config keyword"));
        assert!(err("-o 'Key=unterminated").contains("unterminated single quote"));
        assert!(err("hostname").contains("not an ssh option"));
        assert!(err("-Cq").contains("write them apart"));
        assert!(err("-o \"ProxyCommand=a\nb\"").contains("line break"));
    }

    #[test]
    fn config_puts_inventory_settings_before_the_includes() {
        let text = config_text(&[kv("KexAlgorithms", "curve25519-sha256")], None);
        assert_eq!(
            text.lines().skip(1).collect::<Vec<_>>(),
            [
                "KexAlgorithms curve25519-sha256",
                "Include ~/.ssh/config",
                "Include /etc/ssh/ssh_config"
            ]
        );
        let text = config_text(&[], Some(Path::new("/etc/etcdplay/ssh.conf")));
        assert!(
            text.ends_with("\nInclude \"/etc/etcdplay/ssh.conf\"\n"),
            "{text}"
        );
        let text = config_text(&[kv("Port", "2")], Some(Path::new("/dev/null")));
        assert!(text.ends_with("\nPort 2\n"), "{text}");
    }
}
