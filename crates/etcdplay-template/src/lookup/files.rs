//! Lookups on control-node files and commands: `first_found`, `fileglob`, `lines` and
//! `password` (a generated password stored in a file created with mode 0600, as Ansible's).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use etcdplay_source::{read_text_file, MAX_TEXT_FILE};
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, State};

use super::{fail, term_strings};
use crate::pyrepr::try_py_str;

/// Longest generated password.
const MAX_PASSWORD_LENGTH: usize = 4096;
/// Most paths one `fileglob` pattern may return.
const MAX_GLOB_RESULTS: usize = 100_000;
/// The variable through which a `with_first_found` loop names the task's subdirectory.
pub(crate) const SUBDIR_VAR: &str = "__etcdplay_lookup_subdir";

pub(super) fn run(
    state: &State,
    search: &[PathBuf],
    plugin: &str,
    terms: &[Value],
    kwargs: &Kwargs,
) -> Result<Option<Vec<Value>>, Error> {
    Ok(Some(match plugin {
        "first_found" => first_found(state, search, terms, kwargs)?,
        "fileglob" => fileglob(search, &term_strings(terms)?)?,
        "lines" => lines(&term_strings(terms)?)?,
        "password" => password(search, &term_strings(terms)?, kwargs)?,
        _ => return Ok(None),
    }))
}

/// `paths` × `files` candidates of one term (strings split on `,;`, paths on `,:;`).
fn candidates(term: &Value, paths: &[String], out: &mut Vec<String>) -> Result<(), Error> {
    let split = |text: &str, seps: &[char]| -> Vec<String> {
        text.split(seps)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (files, paths): (Vec<String>, Vec<String>) = match term.kind() {
        ValueKind::String => (
            split(term.as_str().unwrap_or_default(), &[',', ';']),
            paths.to_vec(),
        ),
        ValueKind::Seq | ValueKind::Iterable => {
            for item in term.try_iter()? {
                candidates(&item, paths, out)?;
            }
            return Ok(());
        }
        ValueKind::Map => {
            let list = |key: &str, seps: &[char]| -> Result<Vec<String>, Error> {
                let v = term.get_attr(key)?;
                Ok(match v.kind() {
                    ValueKind::Undefined | ValueKind::None => Vec::new(),
                    ValueKind::String => split(v.as_str().unwrap_or_default(), seps),
                    _ => {
                        let mut all = Vec::new();
                        for item in v.try_iter()? {
                            all.extend(split(&try_py_str(&item)?, seps));
                        }
                        all
                    }
                })
            };
            (
                list("files", &[',', ';'])?,
                list("paths", &[',', ':', ';'])?,
            )
        }
        _ => {
            return Err(fail(format!(
                "Invalid term supplied. A string, dict or list is required, not '{}').",
                crate::filters::python_type_name(term)
            )))
        }
    };
    if paths.is_empty() {
        out.extend(files);
    } else {
        for path in &paths {
            for file in &files {
                out.push(Path::new(path).join(file).display().to_string());
            }
        }
    }
    Ok(())
}

/// `first_found`: the first candidate that exists, searched in the role's and playbook's
/// directories (in `files/`, `templates/` or `vars/` too when run as a `with_first_found` of a
/// copy/template/include_vars task); `skip=True` gives no item instead of an error.
fn first_found(
    state: &State,
    search: &[PathBuf],
    terms: &[Value],
    kwargs: &Kwargs,
) -> Result<Vec<Value>, Error> {
    let skip = kwargs.get::<Option<bool>>("skip")?.unwrap_or(false);
    let paths: Vec<String> = match kwargs.get::<Option<Value>>("paths")? {
        Some(v) if v.kind() == ValueKind::String => vec![try_py_str(&v)?],
        Some(v) => v
            .try_iter()?
            .map(|p| try_py_str(&p))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let files: Option<Value> = kwargs.get("files")?;
    let mut all = Vec::new();
    if terms.is_empty() {
        if let Some(files) = &files {
            candidates(files, &paths, &mut all)?;
        }
    }
    for term in terms {
        candidates(term, &paths, &mut all)?;
    }
    let subdir = state
        .lookup(SUBDIR_VAR)
        .and_then(|v| v.as_str().map(str::to_string));
    for candidate in &all {
        if let Some(found) = locate(search, subdir.as_deref(), candidate) {
            return Ok(vec![Value::from(found.display().to_string())]);
        }
    }
    if skip {
        return Ok(Vec::new());
    }
    Err(fail("No file was found when using first_found.".into()))
}

/// An existing path for `name`: itself if absolute, else `dir/subdir/name` or `dir/name`.
fn locate(search: &[PathBuf], subdir: Option<&str>, name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        return path.exists().then(|| normalize(path));
    }
    let candidates = match subdir {
        Some(sub) => etcdplay_source::file_candidates(search, sub, name, false),
        None => search.iter().map(|dir| dir.join(path)).collect(),
    };
    candidates
        .into_iter()
        .find(|c| c.exists())
        .map(|c| normalize(&c))
}

/// An absolute, lexically normalised path (links are not followed, as Ansible's
/// `unfrackpath(follow=False)`).
fn normalize(path: &Path) -> PathBuf {
    let base = if path.is_absolute() {
        PathBuf::new()
    } else {
        std::env::current_dir().unwrap_or_default()
    };
    let mut out = base;
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `fileglob`: files (not directories) matching each pattern, in the first search directory
/// (`files/` first) that has any; sorted.
fn fileglob(search: &[PathBuf], terms: &[String]) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for term in terms {
        let path = Path::new(term);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dirs: Vec<PathBuf> = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(parent) if parent.is_absolute() => vec![parent.to_path_buf()],
            Some(parent) => locate(search, Some("files"), &parent.display().to_string())
                .into_iter()
                .collect(),
            None => search
                .iter()
                .flat_map(|d| [d.join("files"), d.clone()])
                .collect(),
        };
        for dir in dirs {
            let pattern = format!(
                "{}/{name}",
                glob::Pattern::escape(&dir.display().to_string())
            );
            let entries = glob::glob(&pattern).map_err(|e| fail(format!("fileglob: {e}")))?;
            let mut found: Vec<String> = Vec::new();
            for entry in entries.flatten() {
                if entry.is_file() {
                    found.push(entry.display().to_string());
                    if found.len() > MAX_GLOB_RESULTS {
                        return Err(fail(format!(
                            "fileglob: more than {MAX_GLOB_RESULTS} files match {term}"
                        )));
                    }
                }
            }
            if !found.is_empty() {
                found.sort();
                out.extend(found.into_iter().map(Value::from));
                break;
            }
        }
    }
    Ok(out)
}

/// `lines`: runs each term with `/bin/sh -c` on the control node; its output lines are the
/// items.
fn lines(terms: &[String]) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for term in terms {
        let output = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(term)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| fail(format!("lookup_plugin.lines({term}) failed to start: {e}")))?;
        if !output.status.success() {
            return Err(fail(format!(
                "lookup_plugin.lines({term}) returned {}",
                output.status.code().unwrap_or(-1)
            )));
        }
        if output.stdout.len() > MAX_TEXT_FILE as usize {
            return Err(fail(format!(
                "lookup_plugin.lines({term}): output too large"
            )));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        out.extend(text.lines().map(Value::from));
    }
    Ok(out)
}

/// Python's `string` module constants the `chars` option may name.
fn char_class(name: &str) -> String {
    const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
    const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const DIGITS: &str = "0123456789";
    const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    match name {
        "ascii_letters" | "letters" => format!("{LOWER}{UPPER}"),
        "ascii_lowercase" | "lowercase" => LOWER.into(),
        "ascii_uppercase" | "uppercase" => UPPER.into(),
        "digits" => DIGITS.into(),
        "hexdigits" => "0123456789abcdefABCDEF".into(),
        "octdigits" => "01234567".into(),
        "punctuation" => PUNCTUATION.into(),
        "printable" => format!("{DIGITS}{LOWER}{UPPER}{PUNCTUATION} \t\n\r\x0b\x0c"),
        "whitespace" => " \t\n\r\x0b\x0c".into(),
        other => other.into(),
    }
}

/// `password`: `path [length=N] [chars=a,b] [seed=S]`; the password stored in `path` (read
/// back on later runs; `/dev/null` stores nothing).
fn password(search: &[PathBuf], terms: &[String], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for term in terms {
        let mut parts = term.split_whitespace();
        let path = parts
            .next()
            .ok_or_else(|| fail("password lookup needs a path".into()))?;
        let mut length = kwargs.get::<Option<usize>>("length")?.unwrap_or(20);
        let mut chars_spec = kwargs.get::<Option<String>>("chars")?;
        let mut seed = kwargs.get::<Option<Value>>("seed")?;
        for part in parts {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| fail(format!("password lookup: invalid parameter '{part}'")))?;
            match k {
                "length" => {
                    length = v
                        .parse()
                        .map_err(|_| fail(format!("password lookup: bad length '{v}'")))?
                }
                "chars" => chars_spec = Some(v.to_string()),
                "seed" => seed = Some(Value::from(v)),
                "encrypt" | "ident" => {
                    return Err(fail(format!(
                        "password lookup: '{k}' is not supported by etcdplay"
                    )))
                }
                other => {
                    return Err(fail(format!(
                        "Unrecognized value(s) for password lookup: {other}"
                    )))
                }
            }
        }
        if length == 0 || length > MAX_PASSWORD_LENGTH {
            return Err(fail(format!(
                "password lookup: length must be 1 to {MAX_PASSWORD_LENGTH}"
            )));
        }
        let chars: Vec<char> = match &chars_spec {
            Some(spec) => {
                let mut names: Vec<String> = Vec::new();
                if spec.contains(",,") {
                    names.push(",".into());
                }
                names.extend(
                    spec.replace(",,", ",")
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
                names
                    .iter()
                    .map(|n| char_class(n))
                    .collect::<String>()
                    .chars()
                    .collect()
            }
            None => format!(
                "{}{}.,:-_",
                char_class("ascii_letters"),
                char_class("digits")
            )
            .chars()
            .collect(),
        };
        let file = if Path::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            search.first().cloned().unwrap_or_default().join(path)
        };
        if file.is_file() {
            let stored = read_text_file(&file, MAX_TEXT_FILE).map_err(|e| {
                fail(format!(
                    "password lookup: {}: {}",
                    file.display(),
                    e.problem
                ))
            })?;
            let first = stored.lines().next().unwrap_or_default();
            let plain = first.split(" salt=").next().unwrap_or_default();
            out.push(Value::from(plain));
            continue;
        }
        let mut rng = crate::filters::random_generator(seed.as_ref())?;
        let mut generated = String::with_capacity(length);
        for _ in 0..length {
            let i = rng
                .choice_index(chars.len())
                .map_err(|e| fail(e.to_string()))?;
            generated.push(chars[i]);
        }
        if file != Path::new("/dev/null") {
            store_password(&file, &generated)?;
        }
        out.push(Value::from(generated));
    }
    Ok(out)
}

/// Writes a new password file with mode 0600 (its directory created 0700 if missing).
fn store_password(file: &Path, password: &str) -> Result<(), Error> {
    let failed = |e: std::io::Error| {
        fail(format!(
            "password lookup: cannot write {}: {e}",
            file.display()
        ))
    };
    if let Some(dir) = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(failed)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(failed)?;
    f.write_all(format!("{password}\n").as_bytes())
        .map_err(failed)
}
