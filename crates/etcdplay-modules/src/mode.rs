//! File modes as tasks write them: `'0644'`, `644`, the YAML integer `0644` (which arrives as
//! decimal 420 and means the same bits), or symbolic clauses like `u+rwx,g-w,o=r`. A symbolic
//! mode is applied to the file's current mode, so the module needs the host's state first.
//! As in Ansible (and unlike chmod), a clause with no "who" means `a`, regardless of umask.

use serde_json::Value;

/// A requested mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeSpec {
    Octal(u32),
    Symbolic(Vec<Clause>),
}

/// One symbolic clause: who, operator, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    who: Vec<char>,
    op: char,
    perms: String,
}

impl ModeSpec {
    /// Parses a task's `mode:` value.
    pub fn from_value(v: &Value) -> Result<ModeSpec, String> {
        match v {
            Value::Number(n) => match n.as_u64() {
                Some(m) if m <= 0o7777 => Ok(ModeSpec::Octal(m as u32)),
                _ => Err(format!("mode {n} is out of range")),
            },
            Value::String(s) => ModeSpec::parse(s),
            other => Err(format!("mode must be a string or an integer, got {other}")),
        }
    }

    /// Parses a mode string: octal digits, or comma-separated symbolic clauses.
    pub fn parse(s: &str) -> Result<ModeSpec, String> {
        let s = s.trim();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return match u32::from_str_radix(s, 8) {
                Ok(m) if m <= 0o7777 => Ok(ModeSpec::Octal(m)),
                _ => Err(format!("'{s}' is not a valid octal mode")),
            };
        }
        let mut clauses = Vec::new();
        for part in s.split(',') {
            let op_at = part.find(['+', '-', '=']).ok_or_else(|| {
                format!("bad symbolic mode '{s}': clause '{part}' has no +, - or =")
            })?;
            let (who, rest) = part.split_at(op_at);
            if !who.chars().all(|c| "ugoa".contains(c)) {
                return Err(format!(
                    "bad symbolic mode '{s}': '{who}' is not a combination of u, g, o, a"
                ));
            }
            let who: Vec<char> = if who.is_empty() || who.contains('a') {
                vec!['u', 'g', 'o']
            } else {
                who.chars().collect()
            };
            // A clause may chain operations on the same users, as chmod and Ansible allow:
            // `u+rwX-x` is `u+rwX` then `u-x`.
            for (op, perms) in operations(rest) {
                let copy_from = perms.len() == 1 && "ugo".contains(perms);
                if !copy_from && !perms.chars().all(|c| "rwxXst".contains(c)) {
                    return Err(format!(
                        "bad symbolic mode '{s}': '{perms}' is not a combination of r, w, x, X, s, t"
                    ));
                }
                clauses.push(Clause {
                    who: who.clone(),
                    op,
                    perms: perms.to_string(),
                });
            }
        }
        Ok(ModeSpec::Symbolic(clauses))
    }

    /// The mode a file with `current` mode ends up with.
    pub fn apply(&self, current: u32, is_dir: bool) -> u32 {
        match self {
            ModeSpec::Octal(m) => *m,
            ModeSpec::Symbolic(clauses) => clauses
                .iter()
                .fold(current & 0o7777, |mode, c| c.apply(mode, is_dir)),
        }
    }
}

impl Clause {
    fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let mut bits = 0;
        for who in &self.who {
            bits |= self.bits_for(*who, mode, is_dir);
        }
        match self.op {
            '+' => mode | bits,
            '-' => mode & !bits,
            _ => {
                let clear = self.who.iter().fold(0, |m, w| m | who_mask(*w));
                (mode & !clear) | bits
            }
        }
    }

    fn bits_for(&self, who: char, mode: u32, is_dir: bool) -> u32 {
        let shift = match who {
            'u' => 6,
            'g' => 3,
            _ => 0,
        };
        if self.perms.len() == 1 && "ugo".contains(self.perms.as_str()) {
            // `g=u`: copy the rwx bits of another class.
            let from = match self.perms.as_str() {
                "u" => (mode >> 6) & 7,
                "g" => (mode >> 3) & 7,
                _ => mode & 7,
            };
            return from << shift;
        }
        let mut rwx = 0;
        let mut special = 0;
        for p in self.perms.chars() {
            match p {
                'r' => rwx |= 4,
                'w' => rwx |= 2,
                'x' => rwx |= 1,
                'X' if is_dir || mode & 0o111 != 0 => rwx |= 1,
                's' if who == 'u' => special |= 0o4000,
                's' if who == 'g' => special |= 0o2000,
                't' if who == 'o' => special |= 0o1000,
                _ => {}
            }
        }
        (rwx << shift) | special
    }
}

fn who_mask(who: char) -> u32 {
    match who {
        'u' => 0o4700,
        'g' => 0o2070,
        _ => 0o1007,
    }
}

impl std::fmt::Display for ModeSpec {
    /// Octal as `0644`; symbolic clauses with an explicit "who" (`ugo+x`), so that chmod, which
    /// would apply its umask to a clause without one, means the same as Ansible.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModeSpec::Octal(m) => write!(f, "{m:04o}"),
            ModeSpec::Symbolic(clauses) => {
                let parts: Vec<String> = clauses
                    .iter()
                    .map(|c| format!("{}{}{}", c.who.iter().collect::<String>(), c.op, c.perms))
                    .collect();
                write!(f, "{}", parts.join(","))
            }
        }
    }
}

/// `+rwX-x` as its operations: (`+`, `rwX`), (`-`, `x`).
fn operations(text: &str) -> Vec<(char, &str)> {
    let starts: Vec<usize> = text
        .match_indices(['+', '-', '='])
        .map(|(i, _)| i)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, &at)| {
            let end = starts.get(n + 1).copied().unwrap_or(text.len());
            (text[at..].chars().next().unwrap_or('='), &text[at + 1..end])
        })
        .collect()
}

/// A mode as Ansible's results and diffs show it (`'0%03o'`): `0644`, `01444` with the sticky
/// bit. (`stat` prints `%04o` instead: [`format_stat_mode`].)
pub fn format_mode(mode: u32) -> String {
    format!("0{:03o}", mode & 0o7777)
}

/// A mode as the `stat` module shows it (`'%04o'`): `0644`, `1444` with the sticky bit.
pub(crate) fn format_stat_mode(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn octal_forms() {
        assert_eq!(ModeSpec::parse("0644"), Ok(ModeSpec::Octal(0o644)));
        assert_eq!(ModeSpec::parse("755"), Ok(ModeSpec::Octal(0o755)));
        assert_eq!(
            ModeSpec::from_value(&json!(420)),
            Ok(ModeSpec::Octal(0o644))
        );
        assert!(ModeSpec::parse("0899").is_err());
        assert!(ModeSpec::parse("77777").is_err());
    }

    #[test]
    fn symbolic_modes_apply_to_current_mode() {
        let m = ModeSpec::parse("u+rwx,g-w,o=r").unwrap();
        assert_eq!(m.apply(0o660, false), 0o744);
        assert_eq!(ModeSpec::parse("a+x").unwrap().apply(0o644, false), 0o755);
        assert_eq!(ModeSpec::parse("+r").unwrap().apply(0o200, false), 0o644);
        assert_eq!(ModeSpec::parse("go=").unwrap().apply(0o755, true), 0o700);
        assert_eq!(ModeSpec::parse("a+X").unwrap().apply(0o600, true), 0o711);
        assert_eq!(ModeSpec::parse("a+X").unwrap().apply(0o600, false), 0o600);
        assert_eq!(ModeSpec::parse("g=u").unwrap().apply(0o640, false), 0o660);
        assert_eq!(
            ModeSpec::parse("u+s,o+t").unwrap().apply(0o755, true),
            0o5755
        );
        // Python: '0%03o' % 0o644 == '0644', '0%03o' % 0o1444 == '01444',
        // '%04o' % 0o1444 == '1444' (stat's form).
        assert_eq!(format_mode(0o644), "0644");
        assert_eq!(format_mode(0o1444), "01444");
        assert_eq!(format_stat_mode(0o1444), "1444");
        assert_eq!(ModeSpec::parse("+x,g-w").unwrap().to_string(), "ugo+x,g-w");
        // Chained operations (the unarchive target's modes; Ansible: u+rwX-x on 0o644 is
        // 0o644 for a file, 0o655 for a directory... computed as chmod does).
        let chained = ModeSpec::parse("u+rwX-x,g-rwx,o=x").unwrap();
        assert_eq!(chained.apply(0o755, true), 0o601);
        assert_eq!(chained.to_string(), "u+rwX,u-x,g-rwx,o=x");
    }

    #[test]
    fn bad_symbolic_modes_are_rejected_with_reason() {
        assert!(ModeSpec::parse("u+q").unwrap_err().contains("'q'"));
        assert!(ModeSpec::parse("z+r").unwrap_err().contains("'z'"));
        assert!(ModeSpec::parse("rw").is_err());
    }
}
