//! Finds the Debian mirror this machine already uses, so the base image comes from the same
//! place as the machine's own packages (which may be the only mirror reachable from here).

use std::path::{Path, PathBuf};

use crate::error::LabError;

/// The deb822 sources file of a Debian 12 machine.
pub(crate) const DEB822_SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";
/// The one-line sources file of older or hand-configured machines.
pub(crate) const LEGACY_SOURCES: &str = "/etc/apt/sources.list";

/// The first `URIs:` value of a deb822 sources file (the first URI when a line lists several).
pub fn parse_deb822(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim_start)
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            if !key.trim().eq_ignore_ascii_case("URIs") {
                return None;
            }
            value.split_whitespace().next().map(str::to_owned)
        })
}

/// The URI of the first `deb` line of a one-line sources file, skipping `[option=...]` blocks.
pub fn parse_sources_list(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next()? != "deb" {
            return None;
        }
        let mut in_options = false;
        for word in words {
            if in_options || word.starts_with('[') {
                in_options = !word.ends_with(']');
                continue;
            }
            return Some(word.to_owned());
        }
        None
    })
}

/// Reads the mirror from the given deb822 file, falling back to the one-line file.
pub(crate) fn find_mirror(deb822: &Path, legacy: &Path) -> Result<String, LabError> {
    let from_deb822 = std::fs::read_to_string(deb822)
        .ok()
        .and_then(|t| parse_deb822(&t));
    from_deb822
        .or_else(|| {
            std::fs::read_to_string(legacy)
                .ok()
                .and_then(|t| parse_sources_list(&t))
        })
        .ok_or_else(|| LabError::NoMirror {
            searched: vec![deb822.to_path_buf(), legacy.to_path_buf()],
        })
}

/// The mirror of this machine's apt configuration.
pub fn system_mirror() -> Result<String, LabError> {
    find_mirror(
        &PathBuf::from(DEB822_SOURCES),
        &PathBuf::from(LEGACY_SOURCES),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOKWORM: &str = "Types: deb\n\
        # http://snapshot.debian.org/archive/debian/20250520T000000Z\n\
        URIs: http://mirror.example/debian http://other.example/debian\n\
        Suites: bookworm bookworm-updates\n\
        Components: main\n\n\
        Types: deb\n\
        URIs: http://mirror.example/debian-security\n\
        Suites: bookworm-security\n";

    #[test]
    fn deb822_first_uri() {
        assert_eq!(
            parse_deb822(BOOKWORM).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            parse_deb822("# URIs: http://commented/\nuris:  http://lower/ \n").as_deref(),
            Some("http://lower/")
        );
        assert_eq!(parse_deb822("Types: deb\nSuites: bookworm\n"), None);
        assert_eq!(parse_deb822("URIs:\n"), None);
    }

    #[test]
    fn legacy_first_deb_line() {
        let text = "# deb http://commented/ bookworm main\n\
            deb-src http://src.example/debian bookworm main\n\
            deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n\
            deb http://second.example/debian bookworm main\n";
        assert_eq!(
            parse_sources_list(text).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            parse_sources_list("deb [trusted=yes] http://x/ ./\n").as_deref(),
            Some("http://x/")
        );
        assert_eq!(parse_sources_list("deb\n"), None);
        assert_eq!(parse_sources_list(""), None);
    }

    #[test]
    fn falls_back_to_legacy_then_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deb822 = dir.path().join("debian.sources");
        let legacy = dir.path().join("sources.list");
        assert!(matches!(
            find_mirror(&deb822, &legacy),
            Err(LabError::NoMirror { .. })
        ));
        std::fs::write(&legacy, "deb http://legacy.example/debian bookworm main\n").expect("write");
        assert_eq!(
            find_mirror(&deb822, &legacy).ok().as_deref(),
            Some("http://legacy.example/debian")
        );
        std::fs::write(&deb822, BOOKWORM).expect("write");
        assert_eq!(
            find_mirror(&deb822, &legacy).ok().as_deref(),
            Some("http://mirror.example/debian")
        );
    }
}
