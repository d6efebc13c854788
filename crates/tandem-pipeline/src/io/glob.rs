//! File globs: `*` and `?` within one path component, `**` for any number of components.
//! Character classes (`[ab]`) are not supported and are rejected as invalid.

use std::path::{Path, PathBuf};

use crate::error::Error;

fn invalid(pattern: &str, reason: &'static str) -> Error {
    Error::InvalidGlob {
        pattern: pattern.to_string(),
        reason,
    }
}

/// Whether `name` matches the single-component pattern `pat` (`*`, `?`, literals).
fn component_matches(pat: &[char], name: &[char]) -> bool {
    match (pat.first(), name.first()) {
        (None, None) => true,
        (Some('*'), _) => {
            component_matches(&pat[1..], name)
                || (!name.is_empty() && component_matches(pat, &name[1..]))
        }
        (Some('?'), Some(_)) => component_matches(&pat[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => component_matches(&pat[1..], &name[1..]),
        _ => false,
    }
}

fn has_wildcard(component: &str) -> bool {
    component.contains(['*', '?'])
}

/// Files (not folders) matching `pattern`, sorted so runs are reproducible.
pub(crate) fn glob(pattern: &str) -> Result<Vec<PathBuf>, Error> {
    if pattern.is_empty() {
        return Err(invalid(pattern, "empty pattern"));
    }
    if pattern.contains(['[', ']', '{', '}']) {
        return Err(invalid(
            pattern,
            "character classes and alternatives are not supported",
        ));
    }
    let path = Path::new(pattern);
    let mut base = PathBuf::new();
    let mut rest: Vec<String> = Vec::new();
    for comp in path.components() {
        let text = comp.as_os_str().to_string_lossy().into_owned();
        if rest.is_empty() && !has_wildcard(&text) {
            base.push(comp.as_os_str());
        } else {
            rest.push(text);
        }
    }
    let mut found = Vec::new();
    if rest.is_empty() {
        if base.is_file() {
            found.push(base);
        }
        return Ok(found);
    }
    let start = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let parts: Vec<Vec<char>> = rest.iter().map(|s| s.chars().collect()).collect();
    walk(&start, &parts, &mut found)?;
    found.sort();
    found.dedup();
    Ok(found)
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, parts: &[Vec<char>], found: &mut Vec<PathBuf>) -> Result<(), Error> {
    let Some((first, tail)) = parts.split_first() else {
        return Ok(());
    };
    if first.iter().collect::<String>() == "**" {
        // Zero components...
        walk(dir, tail, found)?;
        if tail.is_empty() {
            for p in read_dir_sorted(dir)? {
                if p.is_file() {
                    found.push(p);
                }
            }
        }
        // ...or one more, keeping `**` active.
        for p in read_dir_sorted(dir)? {
            if p.is_dir() {
                walk(&p, parts, found)?;
            }
        }
        return Ok(());
    }
    for p in read_dir_sorted(dir)? {
        let name: Vec<char> = p
            .file_name()
            .map(|n| n.to_string_lossy().chars().collect())
            .unwrap_or_default();
        if !component_matches(first, &name) {
            continue;
        }
        if tail.is_empty() {
            if p.is_file() {
                found.push(p);
            }
        } else if p.is_dir() {
            walk(&p, tail, found)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        component_matches(
            &p.chars().collect::<Vec<_>>(),
            &n.chars().collect::<Vec<_>>(),
        )
    }

    #[test]
    fn wildcards_match_within_a_component() {
        assert!(m("*.jpg", "cat.jpg"));
        assert!(m("*.jpg", ".jpg"));
        assert!(!m("*.jpg", "cat.png"));
        assert!(m("img_??.png", "img_01.png"));
        assert!(!m("img_??.png", "img_1.png"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
    }

    #[test]
    fn rejects_unsupported_syntax() {
        assert!(matches!(glob("x/[ab].txt"), Err(Error::InvalidGlob { .. })));
        assert!(matches!(glob(""), Err(Error::InvalidGlob { .. })));
    }
}
