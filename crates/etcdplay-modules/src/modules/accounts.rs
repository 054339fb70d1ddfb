//! Parsing `getent passwd` / `getent group` lines, shared by the `user` and `group` modules.

/// A `getent passwd` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Passwd {
    pub(crate) name: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) comment: String,
    pub(crate) home: String,
    pub(crate) shell: String,
}

/// A `getent group` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupEnt {
    pub(crate) name: String,
    pub(crate) gid: u32,
    pub(crate) members: Vec<String>,
}

pub(crate) fn parse_passwd(line: &str) -> Option<Passwd> {
    let f: Vec<&str> = line.trim_end_matches('\n').split(':').collect();
    if f.len() != 7 {
        return None;
    }
    Some(Passwd {
        name: f[0].into(),
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        comment: f[4].into(),
        home: f[5].into(),
        shell: f[6].into(),
    })
}

pub(crate) fn parse_group(line: &str) -> Option<GroupEnt> {
    let f: Vec<&str> = line.trim_end_matches('\n').split(':').collect();
    if f.len() != 4 {
        return None;
    }
    let members = f[3]
        .split(',')
        .filter(|m| !m.is_empty())
        .map(String::from)
        .collect();
    Some(GroupEnt {
        name: f[0].into(),
        gid: f[2].parse().ok()?,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_recorded_getent_lines() {
        let p = parse_passwd("etcd:x:998:998:etcd user:/var/lib/etcd:/usr/sbin/nologin\n").unwrap();
        assert_eq!(
            (p.uid, p.home.as_str(), p.shell.as_str()),
            (998, "/var/lib/etcd", "/usr/sbin/nologin")
        );
        let g = parse_group("ssl-cert:x:101:etcd,postgres").unwrap();
        assert_eq!((g.gid, g.members.len()), (101, 2));
        assert!(parse_passwd("garbage").is_none());
        assert!(parse_group("a:x:notanumber:").is_none());
    }
}
