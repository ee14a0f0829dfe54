//! Web functions' `scf_bootstrap` as Tencent's templates write it: the interpreter by its
//! absolute path in SCF's image (`/var/lang/python3/bin/python3 app.py`,
//! `#!/var/lang/node12/bin/node`, spec tencent-migration §2) and the code under `/var/user`.
//! Those paths do not exist here, and writing under the host's `/var` is not the gateway's to do;
//! so a bootstrap that names them is run from a copy with each one replaced: the interpreter by
//! the one of the same kind found on `PATH` (`python3` for `/var/lang/python37/bin/python3`,
//! `node` for `/var/lang/node16/bin/node`, a versioned `python3.9` itself when it is there), and
//! `/var/user` by the code folder. A path with no local counterpart is named in the error. A
//! bootstrap naming none of them is run as it is.
//!
//! The copies go to scfgate's private runtime folder (`super::standard`); the code folder is left
//! as the user shipped it.

use std::io;
use std::path::{Path, PathBuf};

/// The program to run for `code`'s `scf_bootstrap`: itself, or a copy with SCF's image paths
/// mapped to this machine's (see the module docs).
pub fn bootstrap(code: &Path) -> io::Result<PathBuf> {
    let original = code.join("scf_bootstrap");
    let Ok(text) = std::fs::read_to_string(&original) else {
        // Not text (a compiled server): run as it is.
        return Ok(original);
    };
    if !text.contains("/var/lang/") && !text.contains("/var/user") {
        return Ok(original);
    }
    let mapped = map(&text, code, &find_on_path).map_err(io::Error::other)?;
    super::standard::write_private(&format!("scf_bootstrap-{:016x}", fingerprint(&original, &mapped)), &mapped, 0o700)
}

/// `text` with every `/var/lang/<runtime>/bin/<program>` replaced by the local program `find`
/// gives for `<program>`, and `/var/user` by `code`; an error naming the first that has none.
fn map(text: &str, code: &Path, find: &dyn Fn(&str) -> Option<PathBuf>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("/var/lang/") {
        out.push_str(&rest[..at]);
        let path_end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '&' | '|' | ')' | '`'))
            .map_or(rest.len(), |end| at + end);
        let path = &rest[at..path_end];
        let program = path.rsplit('/').next().unwrap_or_default();
        let in_bin = path.trim_start_matches("/var/lang/").split('/').nth(1) == Some("bin");
        let local = in_bin.then(|| local_program(program, find)).flatten().ok_or_else(|| {
            format!(
                "scf_bootstrap calls `{path}` (SCF's image); no `{}` found on PATH to run it with here",
                generic(program)
            )
        })?;
        out.push_str(&local.display().to_string());
        rest = &rest[path_end..];
    }
    out.push_str(rest);
    Ok(out.replace("/var/user", &code.display().to_string()))
}

/// The local program for SCF's `program` (`python3.9`, `python3`, `node`, `php`, `java`): the
/// same name when found, else its generic name.
fn local_program(program: &str, find: &dyn Fn(&str) -> Option<PathBuf>) -> Option<PathBuf> {
    find(program).or_else(|| find(generic(program)))
}

/// `python3.9` -> `python3`, `python2.7` -> `python2`; others as they are.
fn generic(program: &str) -> &str {
    match program.split_once('.') {
        Some((base, minor)) if base.starts_with("python") && minor.chars().all(|c| c.is_ascii_digit()) => base,
        _ => program,
    }
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH")?.to_str()?.split(':').map(|folder| Path::new(folder).join(program)).find(|path| {
        path.metadata().is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
    })
}

/// Names the copy after its source and content, so each function (and each version of its
/// bootstrap) has its own and a rewrite is never half-read by a starting process.
fn fingerprint(original: &Path, mapped: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    original.hash(&mut hasher);
    mapped.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scf_image_paths_become_local_ones() {
        let find = |program: &str| match program {
            "python3" | "node" | "python3.11" => Some(PathBuf::from(format!("/usr/bin/{program}"))),
            _ => None,
        };
        let code = Path::new("/srv/fn");
        // (scf_bootstrap, what runs here, or the start of the error)
        #[rustfmt::skip]
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("#!/bin/bash\n/var/lang/python3/bin/python3 app.py\n", Ok("#!/bin/bash\n/usr/bin/python3 app.py\n")),
            ("#!/bin/bash\n/var/lang/python37/bin/python3 -u app.py", Ok("#!/bin/bash\n/usr/bin/python3 -u app.py")),
            ("/var/lang/python39/bin/python3.9 app.py", Ok("/usr/bin/python3 app.py")),
            ("/var/lang/python311/bin/python3.11 app.py", Ok("/usr/bin/python3.11 app.py")),
            ("#!/var/lang/node12/bin/node\nrequire('next')", Ok("#!/usr/bin/node\nrequire('next')")),
            ("cd /var/user && \"/var/lang/node16/bin/node\" /var/user/app.js", Ok("cd /srv/fn && \"/usr/bin/node\" /srv/fn/app.js")),
            ("/var/lang/php7/bin/php -S 0.0.0.0:9000", Err("scf_bootstrap calls `/var/lang/php7/bin/php` (SCF's image); no `php` found")),
            ("/var/lang/python2/bin/python app.py", Err("scf_bootstrap calls `/var/lang/python2/bin/python`")),
        ];
        for (text, expected) in cases {
            match (map(text, code, &find), expected) {
                (Ok(mapped), Ok(expected)) => assert_eq!(mapped, *expected, "{text}"),
                (Err(error), Err(start)) => assert!(error.starts_with(start), "{text}: {error}"),
                (got, _) => panic!("{text}: {got:?}"),
            }
        }
    }
}
